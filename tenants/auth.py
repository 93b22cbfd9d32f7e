"""Authentication bound to the tenant of the request, and tokens that can be revoked.

User ids repeat across tenant schemas, so a JWT carries the tenant id and is refused on any other
tenant's host: that check is the only thing between tenants for token auth.

Every token also carries the user's token version (`ver`): an HMAC of their password hash and their
member counter (tenants.members). A password change, a deactivation or "log out everywhere" moves
it, and every token issued before stops working, access and refresh alike. A refresh token also
carries when its login happened (`auth_time`): rotation never carries a session past
JWT_REFRESH_ABSOLUTE_DAYS from that login.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from .caching import cached_user, cached_validated_token

TENANT_CLAIM = "tenant_id"
VERSION_CLAIM = "ver"
AUTH_TIME_CLAIM = "auth_time"


def token_version(user) -> str:
    """The user's current token version: changes with their password hash and their member counter."""
    try:
        counter = user.member.token_version
    except ObjectDoesNotExist:  # no member row yet: counter 0 (any other error must not pass as 0)
        counter = 0
    value = f"{user.pk}:{user.password}:{counter}"
    return salted_hmac("autonomos.token-version", value, secret=jwt_settings.SIGNING_KEY,
                       algorithm="sha256").hexdigest()[:24]


def check_token_version(token, user) -> None:
    """Raise InvalidToken unless the token was issued for the user's current token version."""
    claimed = token.get(VERSION_CLAIM)
    if not isinstance(claimed, str) or not constant_time_compare(claimed, token_version(user)):
        raise InvalidToken({"detail": "Token has been revoked.", "code": "token_not_valid"})


def token_version_matches(token, user) -> bool:
    try:
        check_token_version(token, user)
    except InvalidToken:
        return False
    return True


def refresh_absolute_lifetime() -> timedelta:
    return timedelta(days=settings.JWT_REFRESH_ABSOLUTE_DAYS)


def issue_tokens(user, tenant) -> RefreshToken:
    """A refresh token (and through it, an access token) for `user` on `tenant`, with every claim the
    checks above expect. The only way tokens are made."""
    tenant_id = _tenant_id(tenant)
    if tenant_id is None:
        raise exceptions.NotFound("Tokens are issued on a tenant host only.")
    token = RefreshToken.for_user(user)
    token[TENANT_CLAIM] = tenant_id
    token[VERSION_CLAIM] = token_version(user)
    token[AUTH_TIME_CLAIM] = int(time.time())
    return token


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
        user = cached_user(str(tenant.tenant_id), validated.get("user_id"), lambda: self.get_user(validated))
        check_token_version(validated, user)
        return user, validated

    def get_user(self, validated_token):
        try:
            user = get_user_model().objects.select_related("member").get(pk=validated_token[jwt_settings.USER_ID_CLAIM])
        except (KeyError, get_user_model().DoesNotExist, ValueError, TypeError):
            raise exceptions.AuthenticationFailed("User not found.", code="user_not_found") from None
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User is inactive.", code="user_inactive")
        return user


class TenantSessionAuthentication(SessionAuthentication):
    """Session auth; sessions live in the tenant schema and SessionTenantMiddleware binds them."""


class TenantTokenObtainPairSerializer(TokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user):
        return issue_tokens(user, getattr(connection, "tenant", None))


def valid_refresh_token(raw: str):
    """The refresh token `raw` and its user, when it is genuine, not blacklisted, issued on this
    tenant for the user's current token version and within its absolute lifetime; else 401."""
    try:
        refresh = RefreshToken(raw)
    except TokenError as exc:
        raise InvalidToken({"detail": str(exc), "code": "token_not_valid"}) from exc
    check_tenant_claim(refresh, getattr(connection, "tenant", None))
    try:
        user = get_user_model().objects.select_related("member").filter(
            pk=refresh.get(jwt_settings.USER_ID_CLAIM)).first()
    except (ValueError, TypeError):
        user = None
    if user is None or not user.is_active:
        raise exceptions.AuthenticationFailed("No active account found for the given token.",
                                              code="no_active_account")
    check_token_version(refresh, user)
    started = refresh.get(AUTH_TIME_CLAIM)
    if not isinstance(started, int) or time.time() - started >= refresh_absolute_lifetime().total_seconds():
        raise InvalidToken({"detail": "The session has expired: log in again.", "code": "token_not_valid"})
    return refresh, user


class TenantTokenRefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs):
        refresh, _user = valid_refresh_token(attrs["refresh"])
        data = {"access": str(refresh.access_token)}
        # Rotation: the old refresh token is blacklisted, the new one keeps the login's auth_time and
        # never outlives the absolute lifetime counted from it.
        refresh.blacklist()
        left = refresh[AUTH_TIME_CLAIM] + refresh_absolute_lifetime().total_seconds() - time.time()
        refresh.set_jti()
        refresh.set_exp(lifetime=min(jwt_settings.REFRESH_TOKEN_LIFETIME, timedelta(seconds=max(left, 0))))
        refresh.set_iat()
        refresh.outstand()
        data["refresh"] = str(refresh)
        return data


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
    user = get_user_model().objects.select_related("member").filter(pk=user_id, is_active=True).first()
    if user is None or not token_version_matches(token, user):
        return None
    return user
