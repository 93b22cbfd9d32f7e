"""Request-level guards shared by every app: body size limits, sessions bound to their tenant.

Resolving the tenant from the Host header is the tenants app's job (tenants/middleware.py)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import logout
from django.db import connection

from .api import json_error_response


def body_limit(content_type: str) -> int | None:
    """The largest request body accepted: multipart uploads have their own, larger limit."""
    return settings.MAX_UPLOAD_SIZE if content_type.startswith("multipart/") else settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class RequestSizeLimitMiddleware:
    """Refuse oversized bodies up front with 413 (DRF's parsers read the stream directly and would
    not apply DATA_UPLOAD_MAX_MEMORY_SIZE). Multipart uploads have their own, larger limit."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error_response(400, "Invalid Content-Length header.")
        limit = body_limit(request.META.get("CONTENT_TYPE", ""))
        if limit is not None and length > limit:
            return json_error_response(413, f"Request body too large (limit {limit} bytes).")
        return self.get_response(request)


class SessionTenantMiddleware:
    """A session belongs to the tenant it was created on; anywhere else it is logged out.

    Sessions live in the tenant's own schema, so a foreign session key is normally just unknown;
    this check also covers a copied cookie that happens to collide.
    """

    SESSION_KEY = "_tenant_id"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tenant = getattr(request, "tenant", None)
        user = getattr(request, "user", None)
        if tenant is not None and user is not None and user.is_authenticated:
            bound = request.session.get(self.SESSION_KEY)
            current = str(tenant.tenant_id) if getattr(tenant, "tenant_id", None) else connection.schema_name
            if bound is None:
                request.session[self.SESSION_KEY] = current
            elif bound != current:
                logout(request)
        return self.get_response(request)


