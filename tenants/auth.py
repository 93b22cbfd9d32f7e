"""Authentication bound to the tenant of the request.

User ids repeat across tenant schemas, so a JWT carries the tenant id and is refused on any other
tenant's host: that check is the only thing between tenants for token auth.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from .caching import cached_user, cached_validated_token

TENANT_CLAIM = "tenant_id"


def _tenant_id(tenant) -> str | None:
    if tenant is None or getattr(tenant, "schema_name", "public") == "public":
        return None
    return str(tenant.tenant_id)


def check_tenant_claim(token, tenant) -> None:
    """Raise InvalidToken unless the token was issued on `tenant`."""
    expected = _tenant_id(tenant)
    if expected is None or token.get(TENANT_CLAIM) != expected:
        raise InvalidToken({"detail": "Token is not valid for this tenant.", "code": "token_not_valid"})


class TenantJWTAuthentication(JWTAuthentication):
    def authenticate(self, request):
        header = self.get_header(request)
        if header is None:
            return None
        raw = self.get_raw_token(header)
        if raw is None:
            return None
        validated = cached_validated_token(raw, self.get_validated_token)
        tenant = getattr(request, "tenant", None)
        check_tenant_claim(validated, tenant)
        # The user is cached per tenant for a few seconds (tenants/caching.py); a miss, an unknown
        # or inactive user goes through simplejwt's own checks.
        return cached_user(str(tenant.tenant_id), validated.get("user_id"), lambda: self.get_user(validated)), validated


class TenantSessionAuthentication(SessionAuthentication):
    """Session auth; sessions live in the tenant schema and SessionTenantMiddleware binds them."""


class TenantTokenObtainPairSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):
        token = super().get_token(user)
        tenant_id = _tenant_id(getattr(connection, "tenant", None))
        if tenant_id is None:
            raise exceptions.NotFound("Tokens are issued on a tenant host only.")
        token[TENANT_CLAIM] = tenant_id
        return token


class TenantTokenRefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs):
        try:
            refresh = RefreshToken(attrs["refresh"])
        except TokenError as exc:
            raise InvalidToken({"detail": str(exc), "code": "token_not_valid"}) from exc
        check_tenant_claim(refresh, getattr(connection, "tenant", None))
        return super().validate(attrs)


def user_for_access_token(raw: str, tenant):
    """The active user an access token names on `tenant`, or None (used by the WebSocket stack)."""
    try:
        token = AccessToken(raw)
        check_tenant_claim(token, tenant)
    except (TokenError, InvalidToken):
        return None
    user_id = token.get("user_id")
    if user_id is None:
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return user
