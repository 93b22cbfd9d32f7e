"""The one API base: every endpoint gets JWT + session auth, IsAuthenticated, the tenant check and
JSON errors `{"error": {"code", "message", "details"}}` from here.

Subclass `TenantAPIView`, `TenantGenericAPIView` or `TenantViewSet` / `TenantModelViewSet`; the
URLconf test (tests/test_api_contract.py) fails for an /api/ view that does not.
"""

from __future__ import annotations

import logging
import time

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation, ValidationError
from django.db import connection
from django.http import Http404, JsonResponse
from rest_framework import exceptions, generics, permissions, throttling, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import AppError
from .roles import RolePermission
from .tenancy import TenantRequired

logger = logging.getLogger(__name__)


class CounterRateThrottleMixin:
    """A DRF rate throttle as a fixed-window counter: put it before a `SimpleRateThrottle` subclass,
    which gives the rate and `get_cache_key`.

    DRF's own throttle keeps the time of every request of the window in one cache entry and reads
    and rewrites that list on each request (at 2,000/min, a list of up to 2,000 floats, twice per
    request). Here it is one INCR and EXPIRE in one Redis round trip; the key is the cache's (so it
    carries the tenant, and ids that repeat across tenants never share a counter).
    """

    def counter_client(self):
        """The Redis client the counter lives in, or None when the cache is not Redis (then DRF's
        own list throttle applies)."""
        if not hasattr(self.cache, "_cache") or not hasattr(self.cache._cache, "get_client"):
            return None
        return self.cache._cache.get_client(None, write=True)

    def counter_key(self, ident_key: str, now: float, tenant=None) -> str:
        """The cache key of `ident_key`'s counter for the window holding `now`: the tenant is the
        database connection's unless given (the API edge, dcl/api/edge.py, has no connection)."""
        window = int(now // self.duration)
        self.window_end = (window + 1) * self.duration
        self.now = now
        if tenant is None:
            return self.cache.make_and_validate_key(f"{ident_key}:{window}")
        return self.cache.make_tenant_key(f"{ident_key}:{window}", tenant)

    def queue_hit(self, pipe, key: str) -> None:
        """Count one request on `key` in a pipeline (its first result is the new count)."""
        pipe.incr(key)
        pipe.expire(key, int(self.duration) + 1)

    def allows(self, count: int) -> bool:
        return count <= self.num_requests

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        client = self.counter_client()
        if client is None:
            # not a Redis cache: DRF's list throttle
            return throttling.SimpleRateThrottle.allow_request(self, request, view)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        pipe = client.pipeline(transaction=False)
        self.queue_hit(pipe, self.counter_key(self.key, time.time()))
        count, _ = pipe.execute()
        return self.allows(count)

    def wait(self):
        if not hasattr(self, "window_end"):
            return super().wait()
        return max(0.0, self.window_end - self.now)


class CounterUserRateThrottle(CounterRateThrottleMixin, throttling.UserRateThrottle):
    """DRF's per-user rate (`DEFAULT_THROTTLE_RATES["user"]`) as a fixed-window counter (user ids
    repeat across tenants; the tenant in the cache key keeps their counters apart)."""


class IsTenantRequest(permissions.BasePermission):
    """The request is on a tenant host (never the public schema)."""

    message = "This endpoint is only available on a tenant host."

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None)
        return tenant is not None and tenant.schema_name != "public" and connection.schema_name == tenant.schema_name


class TenantAPIMixin:
    """Authentication, the tenant check and the role check for every endpoint. A view states what its
    unsafe methods or actions need in `required_roles` ({"POST": Role.OPERATOR} or {"decide": ...});
    reads need a viewer and anything unstated an admin (autonomos/core/roles.py)."""

    permission_classes = [permissions.IsAuthenticated, IsTenantRequest, RolePermission]
    required_roles: dict = {}
    throttle_classes: list = []

    def get_throttles(self):
        return [CounterUserRateThrottle()]


class TenantAPIView(TenantAPIMixin, APIView):
    pass


class TenantGenericAPIView(TenantAPIMixin, generics.GenericAPIView):
    pass


class TenantViewSet(TenantAPIMixin, viewsets.GenericViewSet):
    pass


class TenantModelViewSet(TenantAPIMixin, viewsets.ModelViewSet):
    pass


class TenantReadOnlyModelViewSet(TenantAPIMixin, viewsets.ReadOnlyModelViewSet):
    pass


_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    503: "unavailable",
}


def error_body(status_code: int, message: str, details=None, code: str | None = None) -> dict:
    return {"error": {"code": code or _CODES.get(status_code, "error"), "message": message, "details": details or {}}}


def _message_of(detail) -> str:
    if isinstance(detail, list) and detail:
        return _message_of(detail[0])
    if isinstance(detail, dict):
        if "detail" in detail:
            return _message_of(detail["detail"])
        if "non_field_errors" in detail:
            return _message_of(detail["non_field_errors"])
        return "Invalid input."
    return str(detail)


def exception_handler(exc, context):
    """DRF exception handler giving every error the same JSON shape, and never a traceback.

    The one place where the application's own exceptions (autonomos/core/errors.py), raised by
    services, become HTTP responses."""
    if isinstance(exc, AppError):
        set_rollback()
        return Response(error_body(exc.status, exc.message, details=exc.details, code=exc.code), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        exc = exceptions.APIException("Request body too large.")
        exc.status_code = 413
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or "Bad request.")
    elif isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, TenantRequired):
        exc = exceptions.NotFound("No tenant on this host.")
    elif isinstance(exc, (Http404, PermissionDenied)):
        pass  # DRF converts these
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled API error", exc_info=exc)
        return Response(error_body(500, "Internal server error."), status=500)
    detail = response.data
    code = getattr(exc, "default_code", None)
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        if isinstance(codes, str):
            code = codes
    if isinstance(exc, exceptions.ValidationError):
        message = _message_of(detail) if not isinstance(detail, dict) else "Invalid input."
        body = error_body(
            response.status_code,
            message,
            details=detail if isinstance(detail, dict) else {"non_field_errors": detail},
            code="invalid",
        )
    else:
        body = error_body(response.status_code, _message_of(detail), code=code if response.status_code != 500 else None)
        if isinstance(detail, dict):
            extra = {k: v for k, v in detail.items() if k != "detail"}
            if extra:
                body["error"]["details"] = extra
    response.data = body
    return response


def json_error_response(status_code: int, message: str) -> JsonResponse:
    return JsonResponse(error_body(status_code, message), status=status_code)
