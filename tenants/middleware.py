"""Tenant resolution for HTTP, with a clean JSON 404 for unknown hosts.

It lives in the tenants app, not in autonomos/core: it reads tenants and their caches, and
autonomos.core sits below every app (docs/adr/0011-layers-and-redis-names.md).
"""

from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.http import Http404
from django_tenants.middleware.main import TenantMainMiddleware
from django_tenants.utils import remove_www

from autonomos.core.api import json_error_response

from .caching import cached_tenant_for_host


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
        load = super().get_tenant
        return cached_tenant_for_host(hostname, lambda host: load(domain_model, host))

    def no_tenant_found(self, request, hostname):
        raise Http404(f"No tenant for hostname {hostname!r}")
