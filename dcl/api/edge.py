"""The API edge: cached pages of `/api/dcl/views/<entity>/` answered in the event loop, before Django.

A cached page costs ~4 ms of server CPU through Django's middleware, DRF and the WSGI hand-off;
here it costs one Redis round trip and a few dictionary lookups (docs/adr/0008-api-serving.md).
The edge answers only when everything Django would check is already known to this process, from
the caches Django's own request path fills, and sends the request on to Django unchanged on any
miss or doubt:

- a GET of the rows endpoint, no body, no cookie, no header given twice, an `Accept` DRF's JSON
  renderer satisfies, no `?format=`, no redirect from SecurityMiddleware;
- the Host passes ALLOWED_HOSTS and its tenant is in the tenant-by-host cache
  (tenants/caching.py, filled by TenantHostMiddleware), not the public schema;
- `Authorization: Bearer <token>` parsed by simplejwt's own parser, the token in the cache of
  tokens TenantJWTAuthentication validated (signature, expiry, type) and not expired since, its
  tenant claim the host's tenant (`check_tenant_claim`), its user active in the user cache;
- the caller is within the per-user rate (CounterUserRateThrottle: same key, same limit; over the
  limit Django answers the 429);
- the page is in the page cache with the stamp of the view's current materialization (one MGET of
  the entry and the current stamp, in the same round trip as the throttle's INCR).

The response is Django's: the cached body as is, and the headers Django's view, DRF and middleware
give this response (built by those same components; tests/dcl/test_edge.py compares both paths).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from types import SimpleNamespace

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.exceptions import DisallowedHost
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse, QueryDict
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.cache import patch_vary_headers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from autonomos.core.api import CounterUserRateThrottle
from autonomos.core.cache import SharedRedisCache
from tenants.auth import TenantJWTAuthentication, check_tenant_claim, token_version_matches
from tenants.caching import peek_tenant_for_host, peek_user, peek_validated_token
from tenants.middleware import TenantHostMiddleware

from ..page_cache import VIEW_STAMP_SECONDS, cached_page_body, page_cache_key, view_stamp_key
from .views import _ENTITY_RE, PAGE_CONTENT_TYPE, ViewRowsAPI

logger = logging.getLogger(__name__)

PREFIX = "/api/dcl/views/"
# Headers that make a request something other than a plain authenticated read: a body, a session
# (Django's session middleware would then vary, refresh or delete the cookie), proxies' host.
REFUSED_HEADERS = frozenset({b"cookie", b"content-length", b"transfer-encoding", b"x-forwarded-host"})
ACCEPTED_ACCEPT = frozenset({None, b"*/*", b"application/json"})

# What the edge did, per process: "served", or the reason it sent the request on to Django. For
# tests and diagnostics; never part of a response.
stats: Counter = Counter()


class _Request(HttpRequest):
    """Just enough of a request for Django's own host validation, scheme and SSL redirect rules."""

    def __init__(self, scope, meta: dict) -> None:
        super().__init__()
        self.META = meta
        self.path = self.path_info = scope["path"]
        self._scheme = scope.get("scheme") or "http"

    def _get_scheme(self) -> str:
        return self._scheme


def _meta(scope, headers: dict) -> dict:
    meta = {f"HTTP_{name.decode('latin-1').upper().replace('-', '_')}": value.decode("latin-1")
            for name, value in headers.items()}
    server = scope.get("server") or ("localhost", 80)
    meta["SERVER_NAME"], meta["SERVER_PORT"] = str(server[0]), str(server[1])
    meta["QUERY_STRING"] = scope.get("query_string", b"").decode("latin-1")
    return meta


def _noop(_request):  # pragma: no cover - the middlewares are only asked for their hooks
    return None


_security = None
_headers_by_scheme: dict[bool, tuple[list, int]] = {}


def _security_middleware() -> SecurityMiddleware:
    global _security
    if _security is None:
        _security = SecurityMiddleware(_noop)
    return _security


def _response_headers(request: _Request, length: int) -> list[tuple[bytes, bytes]]:
    """The headers Django gives the rows endpoint's 200: built once per scheme by the same code,
    in the order the middleware adds them (the view, DRF, then MIDDLEWARE from last to first)."""
    secure = request.is_secure()
    template = _headers_by_scheme.get(secure)
    if template is None:
        response = HttpResponse(content_type=PAGE_CONTENT_TYPE)  # what ViewRowsAPI returns
        view = ViewRowsAPI()
        view.setup(request)  # as as_view() does (it adds `head` for `get`)
        drf_headers = dict(view.default_response_headers)  # APIView.finalize_response: Vary, then the rest
        vary = drf_headers.pop("Vary", None)
        if vary:
            patch_vary_headers(response, [v.strip() for v in vary.split(",")])
        for name, value in drf_headers.items():
            response[name] = value
        XFrameOptionsMiddleware(_noop).process_response(request, response)
        response["Content-Length"] = "0"  # CommonMiddleware: set per response below
        # SessionMiddleware: SessionTenantMiddleware reads request.user, which reads the session.
        patch_vary_headers(response, ("Cookie",))
        CSPMiddleware(_noop).process_response(request, response)  # the Content-Security-Policy header
        _security_middleware().process_response(request, response)
        items = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
        index = [k for k, _ in items].index(b"content-length")
        template = _headers_by_scheme[secure] = (items, index)
    items, index = template
    headers = list(items)
    headers[index] = (b"content-length", str(length).encode())
    return headers


_shared_cache: list = []


def _cache() -> SharedRedisCache | None:
    """The default cache (the page cache's and the throttle's) when it is the shared Redis cache.
    Kept per process: in the event loop Django's `caches` would build a cache object per request."""
    if not _shared_cache:
        default = caches[DEFAULT_CACHE_ALIAS]
        _shared_cache.append(default if isinstance(default, SharedRedisCache) else None)
    return _shared_cache[0]


def _auth_header_name() -> bytes:
    meta = jwt_settings.AUTH_HEADER_NAME  # "HTTP_AUTHORIZATION": the header as Django's META names it
    return meta.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")


def _forget_settings(**_kwargs) -> None:
    global _security
    _security = None
    _headers_by_scheme.clear()
    _shared_cache.clear()


setting_changed.connect(_forget_settings, dispatch_uid="dcl-edge-settings")

_jwt = None


def _authenticator() -> TenantJWTAuthentication:
    global _jwt
    if _jwt is None:
        _jwt = TenantJWTAuthentication()
    return _jwt


# The current-stamp key lives VIEW_STAMP_SECONDS; in its last third one request per process and
# second goes to Django, which renews it while it is the catalog's (else every request in flight
# would go to Django when it expires).
STAMP_RENEW_MS = VIEW_STAMP_SECONDS * 1000 // 3
_stamp_claims: dict[str, float] = {}


def _claim_stamp_renewal(key: str) -> bool:
    now = time.monotonic()
    if now - _stamp_claims.get(key, 0.0) < 1.0:
        return False
    if len(_stamp_claims) >= 4096:
        _stamp_claims.clear()
    _stamp_claims[key] = now
    return True


class _Miss(Exception):
    """Not for the edge: the request goes to Django."""


def answer(scope) -> tuple[list, bytes] | None:
    """(headers, body) of Django's 200 for this request when the edge may answer it, else None."""
    try:
        result = _answer(scope)
    except _Miss as miss:
        stats[str(miss)] += 1
        return None
    except Exception:  # noqa: BLE001 - any doubt goes to Django, which reports errors its own way
        logger.warning("API edge error; the request goes to Django", exc_info=True)
        stats["error"] += 1
        return None
    stats["served"] += 1
    return result


def _answer(scope) -> tuple[list, bytes]:
    if not getattr(settings, "DCL_EDGE", True) or settings.DCL_PAGE_CACHE_SECONDS <= 0:
        raise _Miss("off")
    if scope.get("root_path"):
        raise _Miss("path")
    entity = scope["path"][len(PREFIX):-1]
    if not scope["path"].endswith("/") or not _ENTITY_RE.match(entity):
        raise _Miss("path")
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name in headers or name in REFUSED_HEADERS:
            raise _Miss("headers")
        headers[name] = value
    if headers.get(b"accept") not in ACCEPTED_ACCEPT:
        raise _Miss("headers")

    request = _Request(scope, _meta(scope, headers))
    try:
        hostname = TenantHostMiddleware.hostname_from_request(request)  # ALLOWED_HOSTS, as Django
    except DisallowedHost:
        raise _Miss("host") from None
    if _security_middleware().process_request(request) is not None:
        raise _Miss("redirect")  # SECURE_SSL_REDIRECT
    tenant, renew_tenant = peek_tenant_for_host(hostname)
    if tenant is None or tenant.schema_name == settings.PUBLIC_SCHEMA_NAME or not tenant.tenant_id:
        raise _Miss("tenant")

    header = headers.get(_auth_header_name())
    if header is None:
        raise _Miss("anonymous")
    try:
        raw = _authenticator().get_raw_token(header)
    except AuthenticationFailed:
        raise _Miss("token") from None
    if raw is None:
        raise _Miss("anonymous")
    token, renew_token = peek_validated_token(raw)
    if token is None:
        raise _Miss("token")
    try:
        check_tenant_claim(token, tenant)
    except InvalidToken:
        raise _Miss("token") from None
    user, renew_user = peek_user(str(tenant.tenant_id), token.get(jwt_settings.USER_ID_CLAIM))
    if user is None:
        raise _Miss("user")
    if not token_version_matches(token, user):
        raise _Miss("token")  # revoked: Django answers it (401)
    if renew_tenant or renew_token or renew_user:
        raise _Miss("renew")  # this one request goes to Django, which renews the entries

    query = request.GET = QueryDict(scope.get("query_string", b""), encoding=settings.DEFAULT_CHARSET)
    if "format" in query:
        raise _Miss("query")  # DRF's content negotiation by URL
    shared = _cache()
    if shared is None:
        raise _Miss("off")
    throttle = CounterUserRateThrottle()
    throttle.cache = shared  # the same cache as DRF's `default_cache`, without a lookup per request
    client = throttle.counter_client()
    counter = None
    if throttle.rate is not None:
        counter = throttle.counter_key(throttle.get_cache_key(SimpleNamespace(user=user), None), time.time(), tenant)

    stamp_key = shared.make_tenant_key(view_stamp_key(entity), tenant)
    page_key = shared.make_tenant_key(
        page_cache_key(entity, origin=request.build_absolute_uri("/"), query=query.lists()), tenant
    )
    pipe = client.pipeline(transaction=False)
    if counter is not None:
        throttle.queue_hit(pipe, counter)
    pipe.mget([stamp_key, page_key])
    pipe.pttl(stamp_key)
    replies = pipe.execute()
    stamp_raw, entry_raw = replies[-2]
    body = None
    if stamp_raw is not None and entry_raw is not None:
        body = cached_page_body(shared.decode(entry_raw), shared.decode(stamp_raw))
    reason = None
    if body is None:
        reason = "page"
    elif counter is not None and not throttle.allows(replies[0]):
        reason = "throttled"
    elif 0 <= replies[-1] < STAMP_RENEW_MS and _claim_stamp_renewal(stamp_key):
        reason = "renew"  # Django keeps the stamp (it checks it against the catalog) before it expires
    if reason is not None:
        if counter is not None:
            client.decr(counter)  # Django counts this request itself
        raise _Miss(reason)
    return _response_headers(request, len(body)), body


def edge(app):
    """ASGI HTTP app: the edge in front of `app` (Django)."""

    async def application(scope, receive, send):
        if scope["method"] == "GET" and scope["path"].startswith(PREFIX):
            result = answer(scope)
            if result is not None:
                headers, body = result
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return application
