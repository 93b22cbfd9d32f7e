"""The tenant's reporting currency: read by everyone, set by an admin, in the API and in the admin."""

import pytest
from celery import current_app
from django.db import connection
from django_tenants.utils import schema_context

from autonomos.core.roles import Role
from tenants.money.models import ReportingSettings
from tenants.money.selectors import reporting_currency
from tests.security.test_roles import _api, _web, members_a  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db
URL = "/api/money/reporting-currency/"


@pytest.fixture
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **kw: calls.append((name, kw)))
    return calls


def _currency(tenant) -> str:
    with schema_context(tenant.schema_name):
        return reporting_currency()


def test_the_default_is_usd_and_every_role_reads_it(tenant_a, members_a):  # noqa: F811
    for role in Role:
        body = _api(tenant_a, members_a[role]).get(URL).json()
        assert (body["currency"], body["rates_available"], body["rates"]) == ("USD", False, [])


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_only_an_admin_sets_it(tenant_a, members_a, role, sent):  # noqa: F811
    response = _api(tenant_a, members_a[role]).put(URL, {"currency": "EUR"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert _currency(tenant_a) == "USD" and sent == []


def test_an_admin_sets_it_and_the_views_are_rebuilt(tenant_a, tenant_b, members_a, sent,  # noqa: F811
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _api(tenant_a, members_a[Role.ADMIN]).put(URL, {"currency": "eur"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["currency"], body["updated_by"], body["rematerialize_queued"], body["rates_available"]) == (
        "EUR", "admin", True, True)  # EUR needs no rates
    assert _currency(tenant_a) == "EUR"
    assert _currency(tenant_b) == "USD"  # another tenant's setting is its own
    assert sent == [("dcl.views_materialize", {"args": [["opportunity", "cost"]],
                                                "headers": {"_schema_name": tenant_a.schema_name}})]


@pytest.mark.parametrize("value", ["XYZ", "US", "usd1", "", "<script>", None])
def test_a_code_that_is_not_iso_4217_is_a_clear_400(tenant_a, members_a, value, sent):  # noqa: F811
    response = _api(tenant_a, members_a[Role.ADMIN]).put(URL, {"currency": value}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert _currency(tenant_a) == "USD" and sent == []


def test_setting_the_same_currency_again_queues_nothing(tenant_a, members_a, sent,  # noqa: F811
                                                        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        body = _api(tenant_a, members_a[Role.ADMIN]).put(URL, {"currency": "USD"}, format="json").json()
    assert body["rematerialize_queued"] is False and sent == []


def _admin_url(tenant) -> str:
    with schema_context(tenant.schema_name):
        row = ReportingSettings.objects.first() or ReportingSettings.objects.create()
    connection.set_schema_to_public()
    return f"/admin/money/reportingsettings/{row.pk}/change/"


def test_a_tenant_admin_changes_it_in_the_admin(tenant_a, members_a):  # noqa: F811
    url = _admin_url(tenant_a)
    web = _web(tenant_a, members_a[Role.ADMIN])
    response = web.post(url, {"currency": "gbp"})
    assert response.status_code == 302, response.content[:500]
    assert _currency(tenant_a) == "GBP"
    response = web.post(url, {"currency": "ZZZ"})
    assert response.status_code == 200 and b"Not an ISO 4217 currency code" in response.content
    assert _currency(tenant_a) == "GBP"


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
def test_viewers_and_operators_see_it_in_the_admin_but_cannot_change_it(tenant_a, members_a, role):  # noqa: F811
    url = _admin_url(tenant_a)
    web = _web(tenant_a, members_a[role])
    assert web.get(url).status_code == 200  # the view-only page
    assert web.post(url, {"currency": "GBP"}).status_code == 403
    assert _currency(tenant_a) == "USD"
