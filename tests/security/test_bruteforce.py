"""Logins are limited per client address and per account, and an account locks out after repeated
failures, on every way to log in: the token endpoint, the dashboard login and the admin login (tenant
hosts and the public host). X-Forwarded-For is believed only from TRUSTED_PROXY_COUNT proxies
(security issue #14)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client, RequestFactory
from rest_framework.test import APIClient
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle

from autonomos.core.client_address import client_address
from tests.conftest import PASSWORD, host_of

pytestmark = pytest.mark.django_db

TOKEN = "/api/auth/token/"
REFRESH = "/api/auth/token/refresh/"
DASHBOARD_LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
LOCKED = "Too many failed logins for this account"


@pytest.fixture
def rates(monkeypatch):
    """Set the login rates for one test (the test settings keep them out of the way): so many a day,
    a window that a test never straddles (a minute's could end halfway through the guesses)."""

    def set_rates(auth: int = 1000, auth_account: int = 1000) -> None:
        monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {
            **ScopedRateThrottle.THROTTLE_RATES, "auth": f"{auth}/day", "auth_account": f"{auth_account}/day"})

    return set_rates


@pytest.fixture
def lockout(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    return settings


@pytest.fixture
def bob(in_tenant_a):
    """A second user of alpha (the admin of alpha unlocks him)."""
    get_user_model().objects.create_user("bob", password=PASSWORD)
    connection.set_schema_to_public()
    return "bob"


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


def _token(tenant, username: str, password: str, **meta):
    return APIClient(HTTP_HOST=host_of(tenant)).post(TOKEN, {"username": username, "password": password},
                                                     format="json", **meta)


def _form_login(host: str, path: str, username: str, password: str, **meta):
    return Client(HTTP_HOST=host).post(path, {"username": username, "password": password}, **meta)


def _public_host() -> str:
    return settings.TENANT_BASE_DOMAIN


# --- rate limits ----------------------------------------------------------------------------------


def test_forty_guesses_with_forty_forged_forwarded_for_values_hit_429_on_the_token_endpoint(tenant_a, rates):
    rates(auth=5)
    codes = []
    for i in range(40):
        # A different account and a different forged X-Forwarded-For each time: only the real
        # client address (REMOTE_ADDR, the same for all) can tell them apart.
        response = _token(tenant_a, f"user{i}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
        codes.append(response.status_code)
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429] * 35
    assert _error(response)["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 86400


@pytest.mark.parametrize("path", [DASHBOARD_LOGIN, ADMIN_LOGIN])
def test_forty_guesses_with_forged_forwarded_for_hit_429_on_a_tenant_hosts_login_pages(tenant_a, rates, path):
    rates(auth=5)
    codes = [_form_login(host_of(tenant_a), path, f"user{i}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
             .status_code for i in range(40)]
    assert codes[:5] == [200] * 5  # the form again, with its error
    assert codes[5:] == [429] * 35
    page = _form_login(host_of(tenant_a), path, "admin", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert page.status_code == 429  # the right password waits too: the budget is the address's
    assert "Too many login attempts" in page.content.decode()
    assert 0 < int(page["Retry-After"]) <= 86400


def test_forty_guesses_with_forged_forwarded_for_hit_429_on_the_public_admin_login(db, rates):
    rates(auth=5)
    codes = [_form_login(_public_host(), ADMIN_LOGIN, f"staff{i}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
             .status_code for i in range(40)]
    assert codes[:5] == [200] * 5
    assert codes[5:] == [429] * 35


def test_the_three_logins_share_one_budget_per_address(tenant_a, rates):
    rates(auth=6)
    for path in (DASHBOARD_LOGIN, ADMIN_LOGIN):
        for i in range(3):
            assert _form_login(host_of(tenant_a), path, f"user{path}{i}", "wrong").status_code == 200
    assert _token(tenant_a, "someone", "wrong").status_code == 429


def test_the_per_account_limit_trips_when_the_attacker_rotates_real_addresses(tenant_a, rates):
    rates(auth_account=5)
    codes = [_token(tenant_a, "admin", "wrong", REMOTE_ADDR=f"198.51.100.{i}").status_code for i in range(40)]
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429] * 35
    # The dashboard and admin logins count on the same account budget.
    page = _form_login(host_of(tenant_a), DASHBOARD_LOGIN, "admin", "wrong", REMOTE_ADDR="192.0.2.1")
    assert page.status_code == 429
    # Case variants of the name are the same account for the limit.
    assert _token(tenant_a, "ADMIN", "wrong", REMOTE_ADDR="192.0.2.2").status_code == 429
    # Another account from a fresh address is not held up.
    assert _token(tenant_a, "someone-else", "wrong", REMOTE_ADDR="192.0.2.3").status_code == 401


def test_token_refreshes_are_limited_per_real_address(tenant_a, rates):
    rates(auth=3)
    client = APIClient(HTTP_HOST=host_of(tenant_a))
    codes = [client.post(REFRESH, {"refresh": "not-a-token"}, format="json",
                         HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    # Refreshes have a budget of their own: the address can still log in.
    assert _token(tenant_a, "admin", PASSWORD).status_code == 200


def test_limits_are_per_tenant(tenant_a, tenant_b, rates):
    rates(auth_account=2)
    assert [_token(tenant_a, "admin", "wrong").status_code for _ in range(3)] == [401, 401, 429]
    assert _token(tenant_b, "admin", PASSWORD).status_code == 200  # beta's admin is another account


# --- lockout ----------------------------------------------------------------------------------------


def test_a_locked_out_account_gets_the_lockout_even_with_the_right_password_until_reset(tenant_a, lockout):
    codes = [_token(tenant_a, "admin", "wrong", REMOTE_ADDR=f"198.51.100.{i}").status_code for i in range(3)]
    assert codes == [401, 401, 429]  # the third failure locks the account
    response = _token(tenant_a, "admin", PASSWORD, REMOTE_ADDR="192.0.2.10")
    assert response.status_code == 429
    error = _error(response)
    assert error["code"] == "locked_out" and error["message"].startswith(LOCKED)
    assert 840 < int(response["Retry-After"]) <= 900

    out = io.StringIO()
    call_command("tenant_command", "axes_reset_username", "admin", schema_name="alpha", stdout=out)
    assert "attempts removed" in out.getvalue()
    assert _token(tenant_a, "admin", PASSWORD, REMOTE_ADDR="192.0.2.10").status_code == 200


def test_the_lockout_is_recorded_in_the_tenants_schema_with_the_real_address(tenant_a, tenant_b, lockout):
    for _ in range(3):
        _token(tenant_a, "admin", "wrong", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.99")
    connection.set_tenant(tenant_a)
    assert set(AccessAttempt.objects.values_list("username", "ip_address")) == {("admin", "198.51.100.7")}
    connection.set_tenant(tenant_b)
    assert not AccessAttempt.objects.exists()
    connection.set_schema_to_public()
    assert not AccessAttempt.objects.exists()
    assert _token(tenant_b, "admin", PASSWORD).status_code == 200  # beta's admin is not locked out


def test_a_lockout_looks_the_same_for_an_account_that_does_not_exist(tenant_a, lockout):
    for username in ("admin", "nobody"):
        for _ in range(3):
            _token(tenant_a, username, "wrong")
    real, ghost = _token(tenant_a, "admin", PASSWORD), _token(tenant_a, "nobody", PASSWORD)
    assert real.status_code == ghost.status_code == 429
    assert real.json() == ghost.json()
    assert 840 < int(real["Retry-After"]) <= 900 and 840 < int(ghost["Retry-After"]) <= 900


def test_a_successful_token_login_clears_the_failures(tenant_a, lockout):
    for _ in range(2):
        assert _token(tenant_a, "admin", "wrong").status_code == 401
    assert _token(tenant_a, "admin", PASSWORD).status_code == 200
    for _ in range(2):
        assert _token(tenant_a, "admin", "wrong").status_code == 401
    assert _token(tenant_a, "admin", PASSWORD).status_code == 200


@pytest.mark.parametrize("path", [DASHBOARD_LOGIN, ADMIN_LOGIN])
def test_a_locked_out_account_gets_the_lockout_page_until_an_admin_lifts_it(tenant_a, lockout, bob, web_a, path):
    host = host_of(tenant_a)
    codes = [_form_login(host, path, bob, "wrong", REMOTE_ADDR=f"198.51.100.{i}").status_code for i in range(3)]
    assert codes == [200, 200, 429]
    page = _form_login(host, path, bob, PASSWORD)
    assert page.status_code == 429
    assert LOCKED in page.content.decode() and "Account locked" in page.content.decode()
    assert int(page["Retry-After"]) > 0
    # The token endpoint honours the same lockout.
    assert _error(_token(tenant_a, bob, PASSWORD))["code"] == "locked_out"

    # alpha's admin lifts it in the admin: Axes > Access attempts, delete.
    changelist = web_a.get("/admin/axes/accessattempt/")
    assert changelist.status_code == 200 and bob in changelist.content.decode()
    connection.set_tenant(tenant_a)
    ids = [str(pk) for pk in AccessAttempt.objects.filter(username=bob).values_list("pk", flat=True)]
    connection.set_schema_to_public()
    response = web_a.post("/admin/axes/accessattempt/",
                          {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    assert response.status_code == 302
    login = _form_login(host, path, bob, PASSWORD)
    assert login.status_code == 302, login.content[:500]  # logged in (the admin sends a viewer on)


def test_the_public_admin_login_locks_out_too(db, lockout):
    codes = [_form_login(_public_host(), ADMIN_LOGIN, "staff", "wrong").status_code for _ in range(4)]
    assert codes == [200, 200, 429, 429]
    assert AccessAttempt.objects.filter(username="staff").exists()  # in the public schema
    out = io.StringIO()
    call_command("axes_reset_username", "staff", stdout=out)  # the public schema is the default
    assert "attempts removed" in out.getvalue()
    assert _form_login(_public_host(), ADMIN_LOGIN, "staff", "wrong").status_code == 200


def test_client_login_in_tests_still_works(web_a):
    assert web_a.get("/").status_code == 200


# --- the client address ---------------------------------------------------------------------------


def test_with_one_trusted_proxy_the_address_it_appended_is_the_client(tenant_a, rates, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    rates(auth=3)
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    # Different clients behind the proxy each have their own budget...
    codes = [_token(tenant_a, f"user{i}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}", **proxy).status_code
             for i in range(6)]
    assert codes == [401] * 6
    # ...and what a client forges to the left of its real address is ignored.
    codes = [_token(tenant_a, f"other{i}", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 198.51.100.9", **proxy)
             .status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    connection.set_tenant(tenant_a)
    assert set(AccessAttempt.objects.filter(username="other0").values_list("ip_address", flat=True)) == {
        "198.51.100.9"}


@pytest.mark.parametrize("proxies", [0, 1, 2])
@pytest.mark.parametrize("forwarded", [None, "203.0.113.5", "192.0.2.1, 203.0.113.5", "1.1.1.1, 2.2.2.2, 3.3.3.3"])
def test_the_client_address_is_what_drf_takes_with_the_same_proxy_count(settings, proxies, forwarded):
    settings.TRUSTED_PROXY_COUNT = proxies
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}
    meta = {"REMOTE_ADDR": "10.0.0.2"}
    if forwarded:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    request = RequestFactory().get("/", **meta)
    assert client_address(request) == BaseThrottle().get_ident(request)


def test_without_a_trusted_proxy_forwarded_for_is_ignored(settings):
    from autonomos.settings import base

    assert base.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"  # before any password check
    assert base.REST_FRAMEWORK["NUM_PROXIES"] == base.TRUSTED_PROXY_COUNT
    settings.TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert client_address(request) == "198.51.100.1"


def test_a_forwarded_value_that_is_not_an_address_falls_back_to_the_peer(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5, <script>")
    assert client_address(request) == "10.0.0.2"
