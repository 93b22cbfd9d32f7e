"""Every way a token can be wrong ends in 401, and a token never crosses tenants."""

import base64
import json
from datetime import timedelta

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, get_hasher, identify_hasher
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.conftest import PASSWORD, host_of

pytestmark = pytest.mark.django_db
PROTECTED = "/api/auth/me/"


def _client(tenant, token=None):
    client = APIClient(HTTP_HOST=host_of(tenant))
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _obtain(tenant):
    response = _client(tenant).post("/api/auth/token/", {"username": "admin", "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _assert_401(response):
    assert response.status_code == 401, response.content
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}


def test_valid_token_from_own_tenant_is_accepted(tenant_a):
    tokens = _obtain(tenant_a)
    assert _client(tenant_a, tokens["access"]).get(PROTECTED).status_code == 200


def test_token_carries_the_tenant_id(tenant_a):
    access = AccessToken(_obtain(tenant_a)["access"])
    assert access["tenant_id"] == str(tenant_a.tenant_id)


def test_token_from_other_tenant_is_rejected_even_with_same_user_id(tenant_a, tenant_b):
    from django_tenants.utils import schema_context

    with schema_context("alpha"):
        id_a = get_user_model().objects.get(username="admin").pk
    with schema_context("beta"):
        id_b = get_user_model().objects.get(username="admin").pk
    assert id_a == id_b  # the situation the claim check exists for
    tokens = _obtain(tenant_a)
    _assert_401(_client(tenant_b, tokens["access"]).get(PROTECTED))


def test_refresh_token_from_other_tenant_is_rejected(tenant_a, tenant_b):
    tokens = _obtain(tenant_a)
    _assert_401(_client(tenant_b).post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"))


def test_token_with_wrong_signature_is_rejected(tenant_a):
    token = jwt.encode({"token_type": "access", "user_id": "1", "tenant_id": str(tenant_a.tenant_id),
                        "exp": 9999999999, "jti": "x"}, "not-the-key", algorithm="HS256")
    _assert_401(_client(tenant_a, token).get(PROTECTED))


def test_token_with_alg_none_is_rejected(tenant_a):
    def b64(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    tenant_id = str(tenant_a.tenant_id)
    claims = {"token_type": "access", "user_id": "1", "tenant_id": tenant_id, "exp": 9999999999, "jti": "x"}
    token = b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims) + "."
    _assert_401(_client(tenant_a, token).get(PROTECTED))


def test_expired_token_is_rejected(tenant_a):
    connection.set_tenant(tenant_a)
    token = AccessToken.for_user(get_user_model().objects.get(username="admin"))
    token["tenant_id"] = str(tenant_a.tenant_id)
    token.set_exp(lifetime=-timedelta(seconds=5))
    connection.set_schema_to_public()
    _assert_401(_client(tenant_a, str(token)).get(PROTECTED))


def test_token_without_tenant_claim_is_rejected(tenant_a):
    connection.set_tenant(tenant_a)
    token = AccessToken.for_user(get_user_model().objects.get(username="admin"))
    connection.set_schema_to_public()
    _assert_401(_client(tenant_a, str(token)).get(PROTECTED))


def test_access_token_used_as_refresh_is_rejected(tenant_a):
    tokens = _obtain(tenant_a)
    _assert_401(_client(tenant_a).post("/api/auth/token/refresh/", {"refresh": tokens["access"]}, format="json"))


def test_refresh_token_used_as_access_is_rejected(tenant_a):
    tokens = _obtain(tenant_a)
    _assert_401(_client(tenant_a, tokens["refresh"]).get(PROTECTED))


def test_refresh_rotates_and_reusing_the_old_refresh_is_rejected(tenant_a):
    tokens = _obtain(tenant_a)
    first = _client(tenant_a).post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert first.status_code == 200
    assert first.json()["refresh"] != tokens["refresh"]
    assert _client(tenant_a, first.json()["access"]).get(PROTECTED).status_code == 200
    _assert_401(_client(tenant_a).post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"))


def test_refresh_tokens_live_seven_days_and_access_tokens_are_short(tenant_a):
    tokens = _obtain(tenant_a)
    refresh, access = RefreshToken(tokens["refresh"]), AccessToken(tokens["access"])
    assert refresh["exp"] - refresh["iat"] == 7 * 24 * 3600
    assert access["exp"] - access["iat"] <= 3600


def test_wrong_password_is_401_with_json_error(tenant_a):
    response = _client(tenant_a).post("/api/auth/token/", {"username": "admin", "password": "nope"}, format="json")
    _assert_401(response)


def test_token_endpoint_is_throttled(tenant_a, settings):
    from rest_framework.throttling import ScopedRateThrottle

    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = {**original, "auth": "3/min"}
    try:
        wrong = {"username": "admin", "password": "x"}
        codes = [_client(tenant_a).post("/api/auth/token/", wrong, format="json").status_code for _ in range(5)]
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]


def test_tokens_are_not_issued_on_unknown_hosts():
    credentials = {"username": "admin", "password": PASSWORD}
    response = APIClient(HTTP_HOST="ghost.localhost").post("/api/auth/token/", credentials, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_stored_passwords_are_hashed_by_the_first_configured_hasher(in_tenant_a):
    # Argon2 in the product's settings: tests/security/test_password_hashers.py.
    stored = get_user_model().objects.get(username="admin").password
    assert identify_hasher(stored).algorithm == get_hasher("default").algorithm
    assert PASSWORD not in stored and check_password(PASSWORD, stored)
