"""The per-process caches of the request path (tenants/caching.py): tenant by host, user and
validated token. Changes made in the process take effect at once; entries expire; tenants never
share an entry."""

import time
from datetime import timedelta

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from autonomos.core.cache import LocalTTLCache
from tenants.auth import issue_tokens
from tenants.models import Domain
from tests.conftest import host_of
from tests.waiting import wait_past

pytestmark = pytest.mark.django_db
ME = "/api/auth/me/"


def _token(tenant, lifetime=None) -> str:
    connection.set_tenant(tenant)
    refresh = issue_tokens(get_user_model().objects.get(username="admin"), tenant)
    access = refresh.access_token
    if lifetime is not None:
        access.set_exp(lifetime=lifetime)
    connection.set_schema_to_public()
    return str(access)


def _me(tenant, token, host=None):
    return APIClient(HTTP_HOST=host or host_of(tenant), HTTP_AUTHORIZATION=f"Bearer {token}").get(ME)


def test_the_same_user_id_in_two_tenants_is_two_cached_users(tenant_a, tenant_b):
    token_a, token_b = _token(tenant_a), _token(tenant_b)
    for _ in range(2):  # the second round comes from the caches
        assert _me(tenant_a, token_a).json()["email"] == "admin@alpha.example"
        assert _me(tenant_b, token_b).json()["email"] == "admin@beta.example"
    assert _me(tenant_a, token_b, host=host_of(tenant_a)).status_code == 401


def test_a_deactivated_user_is_refused_on_the_next_request(tenant_a):
    token = _token(tenant_a)
    assert _me(tenant_a, token).status_code == 200
    connection.set_tenant(tenant_a)
    user = get_user_model().objects.get(username="admin")
    user.is_active = False
    user.save()
    connection.set_schema_to_public()
    response = _me(tenant_a, token)
    assert response.status_code == 401 and "inactive" in response.json()["error"]["message"].lower()


def test_a_renamed_user_is_seen_on_the_next_request(tenant_a):
    token = _token(tenant_a)
    assert _me(tenant_a, token).json()["username"] == "admin"
    connection.set_tenant(tenant_a)
    user = get_user_model().objects.get(username="admin")
    user.email = "renamed@alpha.example"
    user.save()
    connection.set_schema_to_public()
    assert _me(tenant_a, token).json()["email"] == "renamed@alpha.example"


def test_a_cached_token_is_refused_once_it_expires(tenant_a):
    token = _token(tenant_a, lifetime=timedelta(seconds=2))
    assert _me(tenant_a, token).status_code == 200
    wait_past(jwt.decode(token, options={"verify_signature": False})["exp"])  # the expiry is what is tested
    assert _me(tenant_a, token).status_code == 401


def test_host_changes_take_effect_at_once(tenant_a):
    token = _token(tenant_a)
    assert _me(tenant_a, token, host="alias.localhost").status_code == 404
    domain = Domain.objects.create(domain="alias.localhost", tenant=tenant_a, is_primary=False)
    assert _me(tenant_a, token, host="alias.localhost").json()["tenant_slug"] == tenant_a.slug
    domain.delete()
    response = _me(tenant_a, token, host="alias.localhost")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_a_request_cannot_change_the_cached_tenant(tenant_a):
    from tenants.caching import cached_tenant_for_host

    calls = []

    def load(host):
        calls.append(host)
        return tenant_a

    first = cached_tenant_for_host("x.localhost", load)
    first.name = "changed by a request"
    second = cached_tenant_for_host("x.localhost", load)
    assert calls == ["x.localhost"] and second.name == tenant_a.name and second is not first


def test_local_ttl_cache_expires_entries_and_can_be_disabled():
    cache = LocalTTLCache(0.2)
    cache.set("k", 1)
    assert cache.get("k") == 1
    time.sleep(0.25)
    assert cache.get("k") is None
    cache.set("k", 2, at_most=0)
    assert cache.get("k") is None
    off = LocalTTLCache(0)
    off.set("k", 3)
    assert off.get("k") is None


def test_entries_are_renewed_ahead_of_expiry_while_peeks_still_see_them(monkeypatch):
    cache = LocalTTLCache(10, refresh_ahead=2)
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache.set("k", "v")
    assert cache.get("k") == "v" and cache.peek("k") == ("v", False)
    now[0] += 8.5  # in the last 2 s: the loader runs again, one peeker is told to have it renewed
    assert cache.get("k") is None
    assert cache.peek("k") == ("v", True)
    assert cache.peek("k") == ("v", False)
    cache.set("k", "v2")  # renewed
    assert cache.get("k") == "v2" and cache.peek("k") == ("v2", False)
    now[0] += 10.5  # expired: nobody sees it
    assert cache.peek("k") == (None, False) and cache.get("k") is None


def test_peeks_only_see_what_djangos_request_path_cached(tenant_a):
    from tenants.caching import clear_all, peek_tenant_for_host, peek_user, peek_validated_token

    clear_all()
    token = _token(tenant_a)
    assert peek_tenant_for_host(host_of(tenant_a)) == (None, False)
    assert peek_validated_token(token.encode()) == (None, False)
    assert _me(tenant_a, token).status_code == 200
    tenant, _ = peek_tenant_for_host(host_of(tenant_a))
    validated, _ = peek_validated_token(token.encode())
    assert tenant.tenant_id == tenant_a.tenant_id and validated["tenant_id"] == str(tenant_a.tenant_id)
    user, _ = peek_user(str(tenant_a.tenant_id), validated["user_id"])
    assert user.username == "admin"
    assert peek_user(str(tenant_a.tenant_id), 999999) == (None, False)
    connection.set_tenant(tenant_a)
    user = get_user_model().objects.get(username="admin")
    user.is_active = False
    user.save()
    connection.set_schema_to_public()
    assert peek_user(str(tenant_a.tenant_id), validated["user_id"]) == (None, False)
    assert _me(tenant_a, token).status_code == 401  # Django refuses, and caches nothing
    assert peek_user(str(tenant_a.tenant_id), validated["user_id"]) == (None, False)
    assert peek_validated_token(b"not.a.token") == (None, False)
