"""ASGI middleware for WebSockets: tenant from the Host header, then the user, before any query.

django-tenants' middleware only runs for HTTP, so sockets resolve the tenant here and every
database access of the connection happens inside that tenant's schema.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django_tenants.utils import remove_www


def _host_of(scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            return remove_www(value.decode("latin-1").split(":")[0].lower())
    return ""


def _cookie(scope, name: str) -> str | None:
    for header, value in scope.get("headers", []):
        if header == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, val = part.strip().partition("=")
                if key == name:
                    return val
    return None


@database_sync_to_async
def _resolve(host: str, token: str | None, session_key: str | None):
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils.crypto import constant_time_compare

    from tenants.auth import user_for_access_token
    from tenants.models import Domain

    connection.set_schema_to_public()
    domain = Domain.objects.select_related("tenant").filter(domain=host).first()
    if domain is None or domain.tenant.schema_name == "public":
        return None, AnonymousUser()
    tenant = domain.tenant
    connection.set_tenant(tenant)
    try:
        if token:
            user = user_for_access_token(token, tenant)
            return tenant, user or AnonymousUser()
        if session_key:
            session = SessionStore(session_key=session_key)
            data = session.load()
            if SESSION_KEY in data and data.get("_tenant_id") in (None, str(tenant.tenant_id)):
                backend = load_backend(data[BACKEND_SESSION_KEY])
                user = backend.get_user(data[SESSION_KEY])
                if user is not None and hasattr(user, "get_session_auth_hash"):
                    if constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash()):
                        return tenant, user
        return tenant, AnonymousUser()
    finally:
        connection.set_schema_to_public()


class TenantAuthMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.inner(scope, receive, send)
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode("latin-1")).items()}
        tenant, user = await _resolve(_host_of(scope), query.get("token"), _cookie(scope, settings.SESSION_COOKIE_NAME))
        scope = dict(scope, tenant=tenant, user=user, query=query)
        return await self.inner(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Browsers always send Origin: it must name the very host the socket is opened on, which is the
    tenant's own host (TenantAuthMiddleware resolves the tenant from that Host header). Checking it
    against ALLOWED_HOSTS alone let a page on any tenant's host (".localhost" allows them all) open a
    socket to another tenant's host, with that tenant's session cookie. Non-browser clients (scripts
    with a token) send no Origin and cannot carry a victim's cookies."""

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("BrowserOriginValidator is for WebSocket connections only")
        origins = [value for name, value in scope.get("headers", []) if name == b"origin"]
        if all(self.same_host(origin, scope) for origin in origins):  # none: not a browser
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)

    def same_host(self, origin: bytes, scope) -> bool:
        """`origin` is an http(s) origin allowed by ALLOWED_HOSTS naming the Host header's host and port."""
        try:
            parsed = urlparse(origin.decode("latin-1"))
            origin_port = parsed.port
        except ValueError:  # a port that is not a number, a malformed IPv6 address
            return False
        if parsed.scheme not in _DEFAULT_PORTS or not self.validate_origin(parsed):
            return False
        host, port = _host_and_port(scope)
        default = _DEFAULT_PORTS[parsed.scheme]
        # The Host header names a port only when it is not the default one, and so does the Origin of a
        # page on that host (behind a TLS proxy the socket may arrive as ws:// while the page is https://).
        same_port = (origin_port or default) == (port or default)
        return bool(host) and remove_www(parsed.hostname or "") == host and same_port


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_and_port(scope) -> tuple[str, int | None]:
    """The Host header's host (lower case, without `www.`) and port (None when it names none)."""
    for name, value in scope.get("headers", []):
        if name == b"host":
            parsed = urlparse("//" + value.decode("latin-1").strip())
            try:
                return remove_www(parsed.hostname or ""), parsed.port
            except ValueError:
                return "", None
    return "", None


def origin_validated(application):
    return BrowserOriginValidator(application, settings.ALLOWED_HOSTS)
