"""Tokens end: logout blacklists the refresh token; a password change, a deactivation or "log out
everywhere" revokes every earlier token; access tokens are short; rotation has an absolute end."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, get_hasher, identify_hasher
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tenants.auth import AUTH_TIME_CLAIM, VERSION_CLAIM, issue_tokens, user_for_access_token
from tests.conftest import PASSWORD, host_of

pytestmark = pytest.mark.django_db
ME = "/api/auth/me/"


def _client(tenant, token=None):
    client = APIClient(HTTP_HOST=host_of(tenant))
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _login(tenant, username="admin", password=PASSWORD):
    response = _client(tenant).post("/api/auth/token/", {"username": username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _refresh(tenant, refresh):
    return _client(tenant).post("/api/auth/token/refresh/", {"refresh": refresh}, format="json")


def _admin(tenant):
    with schema_context(tenant.schema_name):
        return get_user_model().objects.select_related("member").get(username="admin")


def test_a_password_change_revokes_earlier_access_and_refresh_tokens(tenant_a):
    tokens = _login(tenant_a)
    assert _client(tenant_a, tokens["access"]).get(ME).status_code == 200
    with schema_context(tenant_a.schema_name):
        user = get_user_model().objects.get(username="admin")
        user.set_password("Another-password-2026!")
        user.save()
    assert _client(tenant_a, tokens["access"]).get(ME).status_code == 401
    assert _refresh(tenant_a, tokens["refresh"]).status_code == 401
    fresh = _login(tenant_a, password="Another-password-2026!")
    assert _client(tenant_a, fresh["access"]).get(ME).status_code == 200


def test_deactivation_revokes_tokens_and_reactivation_does_not_revive_them(tenant_a):
    tokens = _login(tenant_a)
    with schema_context(tenant_a.schema_name):
        user = get_user_model().objects.get(username="admin")
        user.is_active = False
        user.save()
    assert _client(tenant_a, tokens["access"]).get(ME).status_code == 401
    assert _refresh(tenant_a, tokens["refresh"]).status_code == 401
    with schema_context(tenant_a.schema_name):
        user.is_active = True
        user.save()
    assert _client(tenant_a, tokens["access"]).get(ME).status_code == 401
    assert _refresh(tenant_a, tokens["refresh"]).status_code == 401
    assert _client(tenant_a, _login(tenant_a)["access"]).get(ME).status_code == 200


def test_logout_blacklists_the_refresh_token(tenant_a):
    tokens = _login(tenant_a)
    other = _login(tenant_a)  # another session of the same user
    response = _client(tenant_a).post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 200, response.content
    assert _refresh(tenant_a, tokens["refresh"]).status_code == 401
    assert _refresh(tenant_a, other["refresh"]).status_code == 200  # only that session ended


def test_logout_everywhere_revokes_every_token_of_the_user(tenant_a):
    tokens, other = _login(tenant_a), _login(tenant_a)
    response = _client(tenant_a).post("/api/auth/logout/", {"refresh": tokens["refresh"], "everywhere": True},
                                      format="json")
    assert response.status_code == 200
    for pair in (tokens, other):
        assert _client(tenant_a, pair["access"]).get(ME).status_code == 401
        assert _refresh(tenant_a, pair["refresh"]).status_code == 401
    assert _client(tenant_a, _login(tenant_a)["access"]).get(ME).status_code == 200


def test_logout_refuses_garbage_and_tokens_of_another_tenant(tenant_a, tenant_b):
    assert _client(tenant_a).post("/api/auth/logout/", {"refresh": "x.y.z"}, format="json").status_code == 401
    assert _client(tenant_a).post("/api/auth/logout/", {}, format="json").status_code == 400
    beta = _login(tenant_b)
    assert _client(tenant_a).post("/api/auth/logout/", {"refresh": beta["refresh"]}, format="json").status_code == 401
    assert _refresh(tenant_b, beta["refresh"]).status_code == 200  # untouched


def test_access_tokens_are_short_lived(tenant_a):
    access = AccessToken(_login(tenant_a)["access"])
    assert access["exp"] - access["iat"] <= 5 * 60


def test_rotation_never_carries_a_session_past_its_absolute_lifetime(tenant_a, settings):
    settings.JWT_REFRESH_ABSOLUTE_DAYS = 2
    user = _admin(tenant_a)
    with schema_context(tenant_a.schema_name):
        refresh = issue_tokens(user, tenant_a)
    rotated = _refresh(tenant_a, str(refresh))
    assert rotated.status_code == 200
    new = RefreshToken(rotated.json()["refresh"])
    assert new[AUTH_TIME_CLAIM] == refresh[AUTH_TIME_CLAIM]  # the login's time travels on
    assert new["exp"] <= refresh[AUTH_TIME_CLAIM] + 2 * 86400  # capped below the 7-day idle lifetime
    with schema_context(tenant_a.schema_name):
        old = issue_tokens(user, tenant_a)
    old[AUTH_TIME_CLAIM] = int(time.time()) - 3 * 86400  # logged in three days ago
    assert _refresh(tenant_a, str(old)).status_code == 401


def test_a_token_without_the_version_claim_is_rejected(tenant_a):
    user = _admin(tenant_a)
    with schema_context(tenant_a.schema_name):
        refresh = issue_tokens(user, tenant_a)
    del refresh[VERSION_CLAIM]
    assert _client(tenant_a, str(refresh.access_token)).get(ME).status_code == 401
    assert _refresh(tenant_a, str(refresh)).status_code == 401


def test_a_refresh_token_of_a_deleted_user_is_401_not_500(tenant_a):
    from tenants.members.services import user_create

    with schema_context(tenant_a.schema_name):
        ghost = user_create(username="ghost", email="g@alpha.example", password=PASSWORD)
        refresh = issue_tokens(ghost, tenant_a)
        ghost.delete()
    assert _refresh(tenant_a, str(refresh)).status_code == 401


def test_the_websocket_refuses_a_revoked_token(tenant_a):
    user = _admin(tenant_a)
    with schema_context(tenant_a.schema_name):
        access = issue_tokens(user, tenant_a).access_token
        connection.set_tenant(tenant_a)
        assert user_for_access_token(str(access), tenant_a) is not None
        user.set_password("Changed-password-2026!")
        user.save()
        assert user_for_access_token(str(access), tenant_a) is None
    connection.set_schema_to_public()


def test_the_configured_hasher_hashes_the_passwords_of_tenant_users(tenant_a):
    # Argon2 in the product's settings: tests/security/test_password_hashers.py.
    stored = _admin(tenant_a).password
    assert identify_hasher(stored).algorithm == get_hasher("default").algorithm
    assert PASSWORD not in stored and check_password(PASSWORD, stored)


def test_the_refresh_lifetime_is_bounded_by_the_settings(tenant_a, settings):
    from django.conf import settings as conf

    assert conf.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] <= timedelta(days=conf.JWT_REFRESH_ABSOLUTE_DAYS)
