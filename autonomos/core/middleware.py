"""Tenant resolution for HTTP, with a clean JSON 404 for unknown hosts."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import Http404
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import remove_www

from .api import json_error_response


class TenantHostMiddleware(TenantMainMiddleware):
    """django-tenants' host → schema middleware; an unknown or bad host gets a JSON 404, never a 500."""

    def process_request(self, request):
        try:
            request.get_host()
        except DisallowedHost:
            return json_error_response(400, "Invalid host header.")
        try:
            return super().process_request(request)
        except Http404:
            return json_error_response(404, "No tenant for this host.")

    @staticmethod
    def hostname_from_request(request):
        """The host without port and `www.`, in lower case: host names are case-insensitive (RFC 9110)
        and tenant domains are stored in lower case."""
        return remove_www(request.get_host().split(":")[0].lower())

    def get_tenant(self, domain_model, hostname):
        # One query per request before; now cached in the process for TENANT_CACHE_SECONDS
        # (tenants/caching.py). An unknown host is never cached: it raises DoesNotExist each time.
        from tenants.caching import cached_tenant_for_host

        load = super().get_tenant
        return cached_tenant_for_host(hostname, lambda host: load(domain_model, host))

    def no_tenant_found(self, request, hostname):
        raise Http404(f"No tenant for hostname {hostname!r}")


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


