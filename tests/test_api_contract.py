"""Contract tests over every /api/ endpoint, enumerated from the URLconf so new endpoints are
covered automatically: base class, authentication, tenant check, JSON errors, and isolation."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from autonomos.core.api import TenantAPIMixin
from autonomos.core.views import api_not_found
from tests.conftest import host_of
from tests.isolation_seed import MARKER, seed_tenant_data

pytestmark = pytest.mark.django_db

# Endpoints that are public by design: logging in and out (the refresh token is the credential), and
# the API's own description.
PUBLIC_ENDPOINTS = {"/api/auth/token/", "/api/auth/token/refresh/", "/api/auth/logout/", "/api/schema/",
                    "/api/docs/"}
SAMPLE = {"int": "1", "uuid": str(uuid.uuid4()), "slug": "x", "str": "x", "path": "x"}


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def _concrete(route: str) -> str:
    route = route.replace("^", "").replace("$", "")  # DRF routers nest regex routes mid-path
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route)  # regex routes from DRF routers
    route = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: SAMPLE.get(m.group(1) or "str", "x"), route)
    route = route.replace("\\.", ".").replace("\\", "")
    route = re.sub(r"\.\(\?P<format>.*", "", route)
    return "/" + route


def api_endpoints():
    seen = {}
    for route, pattern in _walk(get_resolver("autonomos.urls").url_patterns):
        if not route.startswith("api/") or "format" in route or pattern.callback is api_not_found:
            continue  # (api_not_found: the catch-all JSON 404 after every endpoint)
        url = _concrete(route)
        seen.setdefault(url, pattern)
    return sorted(seen.items())


ENDPOINTS = api_endpoints()
PROTECTED = [(url, p) for url, p in ENDPOINTS if url not in PUBLIC_ENDPOINTS]


def _view_class(pattern):
    return getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)


def test_the_urlconf_exposes_the_foundation_endpoints():
    urls = {url for url, _ in ENDPOINTS}
    assert {"/api/auth/token/", "/api/auth/token/refresh/", "/api/auth/me/", "/api/events/stream/",
            "/api/schema/", "/api/docs/"} <= urls


@pytest.mark.parametrize("url,pattern", PROTECTED, ids=[u for u, _ in PROTECTED])
def test_every_protected_endpoint_uses_the_tenant_api_base(url, pattern):
    cls = _view_class(pattern)
    assert cls is not None and issubclass(cls, TenantAPIMixin), f"{url} does not use autonomos.core.api bases"


@pytest.mark.parametrize("url,pattern", PROTECTED, ids=[u for u, _ in PROTECTED])
def test_every_protected_endpoint_refuses_anonymous_requests(url, pattern, tenant_a):
    client = APIClient(HTTP_HOST=host_of(tenant_a))
    for method in _methods(pattern):
        response = getattr(client, method)(url)
        assert response.status_code == 401, (method, url, response.status_code)
        assert "error" in response.json()


@pytest.mark.parametrize("url,pattern", PROTECTED, ids=[u for u, _ in PROTECTED])
def test_every_protected_endpoint_refuses_a_token_of_another_tenant(url, pattern, api_a, tenant_b):
    client = APIClient(HTTP_HOST=host_of(tenant_b))
    client.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    for method in _methods(pattern):
        response = getattr(client, method)(url)
        assert response.status_code == 401, (method, url, response.status_code)


@pytest.mark.parametrize("url,pattern", PROTECTED, ids=[u for u, _ in PROTECTED])
def test_every_endpoint_is_absent_on_the_public_host(url, pattern, api_a):
    client = APIClient(HTTP_HOST="localhost")
    client.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    assert client.get(url).status_code == 404


def test_data_of_one_tenant_is_invisible_through_every_readable_endpoint_of_another(tenant_a, api_b):
    seed_tenant_data(tenant_a)
    checked = 0
    for url, pattern in PROTECTED:
        if "get" not in _methods(pattern) or "/stream/" in url:
            continue
        response = api_b.get(url)
        assert response.status_code < 500, url
        assert MARKER not in response.content.decode(errors="replace"), f"{url} leaks tenant A's data to B"
        checked += 1
    assert checked >= 1


def test_seeded_data_is_visible_to_its_own_tenant(tenant_a, api_a):
    """The isolation test above would pass vacuously if the seed never showed up anywhere."""
    seed_tenant_data(tenant_a)
    bodies = [api_a.get(url).content.decode(errors="replace") for url, p in PROTECTED
              if "get" in _methods(p) and "/stream/" not in url and "<" not in url]
    from tests.isolation_seed import SEEDERS

    assert len(SEEDERS) > 1  # apps register seeders with list endpoints: the marker must appear
    assert any(MARKER in body for body in bodies)


def _methods(pattern) -> list[str]:
    cls = _view_class(pattern)
    actions = getattr(pattern.callback, "actions", None)
    if actions:
        return sorted({m for m in actions if m in ("get", "post", "put", "patch", "delete")})
    if cls is None:
        return ["get"]
    return [m for m in ("get", "post", "put", "patch", "delete") if hasattr(cls, m)] or ["get"]
