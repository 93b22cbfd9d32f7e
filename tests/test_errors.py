"""Bad input gets a clean 4xx with the JSON error shape, never a 500 or a traceback."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import host_of

pytestmark = pytest.mark.django_db


def _assert_error(response, status):
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert "Traceback" not in response.content.decode()
    return body["error"]


def test_malformed_json_is_400(tenant_a):
    client = Client(HTTP_HOST=host_of(tenant_a))
    response = client.post("/api/auth/token/", data=b'{"username": "admin", ', content_type="application/json")
    assert _assert_error(response, 400)["code"] == "parse_error"


def test_wrong_content_type_is_415(tenant_a):
    client = Client(HTTP_HOST=host_of(tenant_a))
    response = client.post("/api/auth/token/", data=b"<xml/>", content_type="application/xml")
    assert _assert_error(response, 415)["code"] == "unsupported_media_type"


def test_oversized_body_is_413(tenant_a, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client = Client(HTTP_HOST=host_of(tenant_a))
    response = client.post("/api/auth/token/", data=b'{"username": "' + b"a" * 5000 + b'"}',
                           content_type="application/json")
    _assert_error(response, 413)


def test_unknown_host_is_json_404():
    response = Client(HTTP_HOST="nobody.localhost").get("/api/auth/me/")
    assert _assert_error(response, 404)["message"] == "No tenant for this host."


def test_invalid_host_header_is_400_not_500():
    response = Client(HTTP_HOST="bad host!").get("/healthz")
    assert response.status_code == 400


def test_unknown_api_path_is_json_404(api_a):
    response = api_a.get("/api/does-not-exist/")
    _assert_error(response, 404)


@pytest.mark.parametrize(
    "path", ["/api/does-not-exist/", "/api/connections/abc/", "/api/aam/review/9999999999999999999/", "/api/dcl/x/y/z"]
)
def test_unknown_api_paths_are_json_404_even_with_debug_on(api_a, settings, path):
    settings.DEBUG = True  # `make run` serves with DEBUG on: the API must not show Django's debug 404 page
    response = api_a.get(path)
    error = _assert_error(response, 404)
    assert "urlpatterns" not in response.content.decode() and error["message"] == "No such API endpoint."


def test_api_paths_on_the_public_host_are_json_404(settings):
    settings.DEBUG = True
    response = Client(HTTP_HOST="localhost").post("/api/auth/token/", data={}, content_type="application/json")
    _assert_error(response, 404)


def test_an_api_path_without_its_trailing_slash_redirects_gets_and_names_the_path_to_others(api_a):
    response = api_a.get("/api/connections?kind=filesource")
    assert response.status_code == 301 and response["Location"] == "/api/connections/?kind=filesource"
    error = _assert_error(api_a.post("/api/connections", {"name": "x"}, format="json"), 404)
    assert "/api/connections/" in error["message"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/connections", "/api/nothing-here/", "/api"])
def test_unsafe_methods_on_unknown_api_paths_are_json_404_not_a_csrf_page(tenant_a, settings, method, path):
    settings.DEBUG = True  # (`/api` without its slash raised APPEND_SLASH's error under DEBUG: a 500)
    client = Client(HTTP_HOST=host_of(tenant_a), enforce_csrf_checks=True)
    _assert_error(getattr(client, method)(path, data="{}", content_type="application/json"), 404)


def test_host_names_match_their_tenant_in_any_case(api_a, tenant_a):
    response = api_a.get("/api/auth/me/", HTTP_HOST=host_of(tenant_a).upper())
    assert response.status_code == 200, response.content[:300]


def test_wrong_method_is_json_405(api_a):
    _assert_error(api_a.delete("/api/auth/me/"), 405)


def test_missing_fields_are_400_with_details(tenant_a):
    response = APIClient(HTTP_HOST=host_of(tenant_a)).post("/api/auth/token/", {}, format="json")
    error = _assert_error(response, 400)
    assert "username" in error["details"] and "password" in error["details"]


def test_unknown_page_for_people_is_html_404(web_a):
    response = web_a.get("/no-such-page/")
    assert response.status_code == 404
    assert b"<html" in response.content


def test_healthz_reports_postgres_and_redis(tenant_a):
    response = Client(HTTP_HOST=host_of(tenant_a)).get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"postgres": "ok", "redis": "ok"}


def test_healthz_is_503_when_redis_is_unreachable(tenant_a, monkeypatch):
    import redis

    from autonomos.core import health

    monkeypatch.setattr(health, "get_redis", lambda: redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    response = Client(HTTP_HOST="localhost").get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")


def test_me_returns_the_user_and_the_tenant(api_a, tenant_a):
    body = api_a.get("/api/auth/me/").json()
    assert body["username"] == "admin"
    assert body["tenant_slug"] == "alpha" and body["tenant_id"] == str(tenant_a.tenant_id)
