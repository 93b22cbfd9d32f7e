"""Bad input never gets a 500: deep JSON, over-long paths, over-wide CSV files; pages carry a CSP;
a WebSocket's Origin must be its tenant's own host (security issue #14)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.conftest import host_of

# Database tests get it through their fixtures (tenant_a, api_a, web_a; committed_db for the server).
DEEP = "[" * 100_000 + "]" * 100_000


def _error(resp) -> dict:
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


# --- JSON nesting ---------------------------------------------------------------------------------


def test_deeply_nested_json_to_the_token_endpoint_is_a_400(tenant_a):
    client = Client(HTTP_HOST=host_of(tenant_a))
    resp = client.post("/api/auth/token/", DEEP, content_type="application/json")
    assert resp.status_code == 400, resp.content[:300]
    assert "nested deeper" in _error(resp)["message"]


@pytest.mark.parametrize("client_name", ["web_a", "api_a"])  # session and JWT
def test_deeply_nested_json_to_an_authenticated_endpoint_is_a_400(client_name, request):
    client = request.getfixturevalue(client_name)
    body = '{"name": "x", "kind": "filesource", "config": ' + "{\"a\":" * 100_000 + "1" + "}" * 100_000 + "}"
    resp = client.generic("POST", "/api/connections/", body, content_type="application/json")
    assert resp.status_code == 400, resp.content[:300]
    assert "nested deeper" in _error(resp)["message"]


def test_a_small_body_nested_past_the_limit_is_a_400(web_a, settings):
    settings.API_JSON_MAX_DEPTH = 8
    body = '{"name": "x", "kind": "filesource", "config": {"primary_keys": ' + "[" * 9 + "]" * 9 + "}}"
    resp = web_a.generic("POST", "/api/connections/", body, content_type="application/json")
    assert resp.status_code == 400
    assert "limit of 8 levels" in _error(resp)["message"]


def test_brackets_inside_strings_are_not_nesting(web_a, settings):
    settings.API_JSON_MAX_DEPTH = 4
    name = '[[[[[[[[{{{{{\\"]]'
    body = '{"name": "' + name + '", "kind": "filesource", "config": {}}'
    resp = web_a.generic("POST", "/api/connections/", body, content_type="application/json")
    assert resp.status_code == 201, resp.content[:300]
    assert resp.json()["name"] == '[[[[[[[[{{{{{"]]'


def test_json_depth_counts_without_recursion():
    from autonomos.core.parsers import JSONTooDeep, json_depth, loads

    assert json_depth('[1, {"a": "[[[\\"[["}, [[]]]') == 3
    assert json_depth("3") == 0
    assert json_depth(DEEP) == 100_000
    with pytest.raises(JSONTooDeep):
        loads(DEEP)
    assert loads("[[1]]", max_depth=2) == [[1]]


# --- filesource paths -----------------------------------------------------------------------------


@pytest.fixture
def roots(settings, tmp_path):
    settings.FILESOURCE_ALLOWED_ROOTS = [str(tmp_path), str(settings.DATA_DIR)]
    return tmp_path


def test_a_folder_name_longer_than_the_file_system_allows_is_refused_by_the_api(api_a, roots):
    resp = api_a.post("/api/connections/", {"name": "Long", "kind": "filesource",
                                            "config": {"folder": str(roots / ("a" * 300))}}, format="json")
    assert resp.status_code == 400, resp.content[:300]
    message = " ".join(_error(resp)["details"]["config.folder"])
    assert "300 bytes long" in message and "255" in message


def test_a_path_longer_than_the_file_system_allows_is_refused_by_the_api(api_a, roots):
    folder = roots.joinpath(*["b" * 200] * 25)  # every name fits, the whole path (> 5,000 bytes) does not
    resp = api_a.post("/api/connections/", {"name": "Long", "kind": "filesource", "config": {"folder": str(folder)}},
                      format="json")
    assert resp.status_code == 400, resp.content[:300]
    assert "the longest the file system allows is 4095" in " ".join(_error(resp)["details"]["config.folder"])


def test_a_long_folder_is_refused_by_the_dashboard_form(web_a, roots):
    resp = web_a.post("/connections/new/filesource/",
                      {"name": "Long", "drift_policy": "auto", "folder": str(roots / ("a" * 300))})
    assert resp.status_code == 400
    assert "300 bytes long" in resp.content.decode()


def test_an_existing_connection_with_a_too_long_folder_gives_clear_errors_not_500s(api_a, web_a, in_tenant_a, roots):
    from aam.ingest.services import connection_sync
    from connectors.errors import PermanentError
    from connectors.models import Connection

    folder = str(roots / ("a" * 300))
    bad = Connection.objects.create(name="Saved before the check", kind="filesource", config={"folder": folder})
    api = api_a.get(f"/api/connections/{bad.pk}/schema/")
    assert api.status_code == 400 and "300 bytes long" in _error(api)["message"]
    page = web_a.get(f"/connections/{bad.pk}/schema/")
    assert page.status_code == 200 and "300 bytes long" in page.content.decode()
    assert api_a.post(f"/api/connections/{bad.pk}/test/").json()["ok"] is False
    with pytest.raises(PermanentError, match="300 bytes long"):
        connection_sync(connection=bad)
    bad.refresh_from_db()
    assert bad.status == "error" and "300 bytes long" in bad.last_error


# --- JSON from sources ----------------------------------------------------------------------------


def test_a_csv_cell_of_deeply_nested_json_is_a_string_not_a_crash(api_a, in_tenant_a, roots):
    from aam.ingest.services import connection_sync
    from connectors.services import connection_create

    (roots / "accounts.csv").write_text(f"Id,Name,Tags\n1,Acme,{DEEP}\n2,Beta,[1]\n")
    conn = connection_create(name="Deep", kind="filesource", config={"folder": str(roots)}, secrets={})
    resp = api_a.get(f"/api/connections/{conn.pk}/schema/")
    assert resp.status_code == 200, resp.content[:300]  # a RecursionError in type inference before
    (accounts,) = resp.json()["objects"]
    assert {f["name"]: f["type"] for f in accounts["fields"]}["Tags"] == "string"
    assert connection_sync(connection=conn).records_read == 2


def test_a_saas_answer_of_deeply_nested_json_is_a_connector_error(settings):
    import httpx

    from connectors.errors import ConnectorError
    from connectors.http import HttpClient

    client = HttpClient(base_url="https://crm.example.com", bearer="t")
    client._checked_hosts.add("crm.example.com")
    client._client = httpx.Client(transport=httpx.MockTransport(
        lambda request: httpx.Response(200, content=b'{"records": ' + DEEP.encode() + b"}")))
    with pytest.raises(ConnectorError, match="nested deeper than 200 levels"):
        client.get("/records")


# --- CSV column cap -------------------------------------------------------------------------------


def _wide(columns: int) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    return f"{header}\n{','.join('1' for _ in range(columns))}\n".encode()


def test_an_upload_wider_than_the_column_cap_is_refused_and_the_stored_file_kept(api_a, roots, settings):
    import io

    settings.FILESOURCE_MAX_COLUMNS = 50
    created = api_a.post("/api/connections/", {"name": "Up", "kind": "filesource", "config": {}}, format="json")
    cid = created.json()["id"]

    def upload(content: bytes):
        f = io.BytesIO(content)
        f.name = "wide.csv"
        return api_a.post(f"/api/connections/{cid}/files/", {"file": f}, format="multipart")

    assert upload(_wide(50)).status_code == 201
    resp = upload(_wide(51))
    assert resp.status_code == 400, resp.content[:300]
    message = " ".join(_error(resp)["details"]["file"])
    assert "51 columns" in message and "at most 50" in message
    schema = api_a.get(f"/api/connections/{cid}/schema/").json()
    assert len(schema["objects"][0]["fields"]) == 50  # the file accepted before is still there


def test_a_folder_file_wider_than_the_column_cap_is_a_clear_error_on_schema_and_sync(
    api_a, web_a, in_tenant_a, roots, settings
):
    from aam.ingest.services import connection_sync
    from connectors.errors import PermanentError
    from connectors.services import connection_create

    settings.FILESOURCE_MAX_COLUMNS = 2000
    (roots / "wide.csv").write_bytes(_wide(100_000))
    conn = connection_create(name="Wide", kind="filesource", config={"folder": str(roots)}, secrets={})
    api = api_a.get(f"/api/connections/{conn.pk}/schema/")
    assert api.status_code == 400
    assert "wide.csv: the header has 100000 columns; at most 2000" in _error(api)["message"]
    page = web_a.get(f"/connections/{conn.pk}/schema/")
    assert page.status_code == 200 and "100000 columns" in page.content.decode()
    with pytest.raises(PermanentError, match="100000 columns"):
        connection_sync(connection=conn)


def test_the_dashboard_upload_names_the_column_count_and_the_cap(web_a, in_tenant_a, roots, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from connectors.services import connection_create

    settings.FILESOURCE_MAX_COLUMNS = 10
    conn = connection_create(name="Up", kind="filesource", config={}, secrets={})
    resp = web_a.post(f"/connections/{conn.pk}/upload/", {"upload": SimpleUploadedFile("w.csv", _wide(11))})
    assert resp.status_code == 302
    page = web_a.get(f"/connections/{conn.pk}/").content.decode()
    assert "w.csv: the header has 11 columns; at most 10 are accepted" in page


# --- Content-Security-Policy ----------------------------------------------------------------------

PAGES = [
    "/", "/flow/", "/architecture/", "/connections/", "/connections/new/", "/connections/new/filesource/",
    "/aam/", "/aam/ontology/", "/aam/review/", "/dcl/views/", "/dcl/lineage/", "/dcl/operations/", "/agents/",
    "/discover/", "/api/docs/", "/api/docs/?script=", "/admin/", "/admin/auth/user/", "/no-such-page/",
]


def _policy(resp) -> dict[str, str]:
    header = resp.get("Content-Security-Policy", "")
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


def _assert_strict(resp, path: str) -> None:
    policy = _policy(resp)
    assert policy, f"{path}: no Content-Security-Policy header"
    assert policy["script-src"] == "script-src 'self'", path
    assert policy["object-src"] == "object-src 'none'" and policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert policy["base-uri"] == "base-uri 'self'" and policy["form-action"] == "form-action 'self'"
    assert policy["connect-src"] == "connect-src 'self'" and policy["style-src-elem"] == "style-src-elem 'self'"
    assert "unsafe-eval" not in resp["Content-Security-Policy"]


def test_every_page_carries_a_strict_content_security_policy(web_a, in_tenant_a):
    from connectors.services import connection_create

    conn = connection_create(name="CSP", kind="filesource", config={}, secrets={})
    html_pages = 0
    for path in [*PAGES, *(f"/connections/{conn.pk}/{tail}" for tail in ("", "edit/", "schema/"))]:
        resp = web_a.get(path)
        assert resp.status_code in (200, 404), f"{path}: {resp.status_code}"
        _assert_strict(resp, path)
        if resp["Content-Type"].startswith("text/html"):
            html = resp.content.decode()
            assert "<script>" not in html and " onclick=" not in html and "javascript:" not in html, path
            assert "cdn." not in html, path
            html_pages += 1
    assert html_pages >= len(PAGES)  # the inline-script checks above ran on every page


def test_signed_out_and_public_host_pages_carry_the_policy_too(tenant_a):
    for client, path in ((Client(HTTP_HOST=host_of(tenant_a)), "/accounts/login/"),
                         (Client(HTTP_HOST="localhost"), "/"), (Client(HTTP_HOST="localhost"), "/admin/login/")):
        resp = client.get(path)
        assert resp.status_code == 200, f"{path}: {resp.status_code}"
        _assert_strict(resp, path)


def test_the_swagger_ui_is_served_from_this_host(web_a):
    html = web_a.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert '<script src="/api/docs/?script="></script>' in html and "<style>" not in html


# --- WebSocket origin -----------------------------------------------------------------------------


@pytest.mark.live
def test_a_websocket_to_one_tenant_from_a_page_of_another_tenant_is_refused(asgi_server, committed_tenants):
    import asyncio

    import websockets
    from django.contrib.auth import get_user_model
    from django_tenants.utils import schema_context

    from tenants.auth import issue_tokens

    alpha, _beta = committed_tenants
    with schema_context(alpha.schema_name):
        token = str(issue_tokens(get_user_model().objects.get(username="admin"), alpha).access_token)
    server, port = asgi_server.split(":")

    async def attempt(origin: str | None) -> str:
        url = f"ws://alpha.localhost:{port}/ws/events/?token={token}"
        try:
            ws = await websockets.connect(url, host=server, port=int(port), origin=origin, open_timeout=10)
        except websockets.InvalidStatus as exc:
            return f"refused {exc.response.status_code}"
        try:
            await ws.send('{"type": "ping"}')
            return json.loads(await asyncio.wait_for(ws.recv(), timeout=5))["type"]
        finally:
            await ws.close()

    async def scenario():
        return [await attempt(origin) for origin in (
            f"http://beta.localhost:{port}",  # another tenant's page
            "http://beta.localhost",
            f"http://alpha.localhost.evil.example:{port}",
            f"http://alpha.localhost:{port}",  # its own page
            None,  # a script with a token (no browser, no cookies)
        )]

    assert asyncio.run(scenario()) == ["refused 403", "refused 403", "refused 403", "pong", "pong"]
