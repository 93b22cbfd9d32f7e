"""The per-user rate limit of the API: a fixed-window counter per tenant and user."""

import pytest

from autonomos.core.api import CounterUserRateThrottle

pytestmark = pytest.mark.django_db
ME = "/api/auth/me/"


@pytest.fixture
def three_per_minute():
    original = CounterUserRateThrottle.THROTTLE_RATES
    CounterUserRateThrottle.THROTTLE_RATES = {**original, "user": "3/min"}
    yield
    CounterUserRateThrottle.THROTTLE_RATES = original


def test_the_fourth_request_in_a_minute_is_a_json_429_with_retry_after(api_a, three_per_minute):
    codes = [api_a.get(ME).status_code for _ in range(3)]
    response = api_a.get(ME)
    assert codes == [200, 200, 200]
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 61


def test_the_same_user_id_in_another_tenant_has_its_own_budget(api_a, api_b, three_per_minute):
    for _ in range(4):
        api_a.get(ME)
    assert api_a.get(ME).status_code == 429
    assert api_b.get(ME).status_code == 200  # user id 1 of beta is not user id 1 of alpha
