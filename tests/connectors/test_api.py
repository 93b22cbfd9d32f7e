"""/api/connections/: CRUD, write-only secrets, validation, test/, schema/, files/, tenancy."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection as db

from connectors.models import Connection
from tests.conftest import host_of

pytestmark = pytest.mark.django_db

URL = "/api/connections/"


def make(api, **body):
    body.setdefault("name", "Exports")
    body.setdefault("kind", "filesource")
    return api.post(URL, body, format="json")


def in_schema(tenant):
    db.set_tenant(tenant)


def test_create_list_retrieve_update_delete_round_trip(api_a, csv_dir):
    created = make(api_a, config={"folder": str(csv_dir), "source_system": "salesforce"})
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["kind"] == "filesource" and body["status"] == "new"
    assert body["config"]["folder"] == str(csv_dir.resolve())
    cid = body["id"]
    assert [c["id"] for c in api_a.get(URL).json()["results"]] == [cid]
    assert api_a.get(f"{URL}{cid}/").json()["name"] == "Exports"
    patched = api_a.patch(f"{URL}{cid}/", {"name": "CRM exports", "domain": "revops"}, format="json")
    assert patched.status_code == 200 and patched.json()["name"] == "CRM exports"
    assert patched.json()["config"]["source_system"] == "salesforce"  # a partial update keeps the rest
    put = api_a.put(f"{URL}{cid}/", {"name": "Put", "kind": "filesource", "config": {}}, format="json")
    assert put.status_code == 200 and "folder" not in put.json()["config"]  # a full update replaces config
    assert api_a.delete(f"{URL}{cid}/").status_code == 204
    assert api_a.get(f"{URL}{cid}/").status_code == 404


def test_secrets_are_accepted_but_never_returned(api_a):
    secret = "s3cr3t-client-secret-value"
    resp = make(
        api_a,
        name="SF",
        kind="salesforce",
        config={"client_id": "cid", "login_url": "https://login.salesforce.com"},
        secrets={"client_secret": secret, "refresh_token": "rt-abcdef"},
    )
    assert resp.status_code == 201, resp.json()
    assert secret not in resp.content.decode()
    assert resp.json()["secrets_set"] == ["client_secret", "refresh_token"]
    assert "secrets" not in resp.json()
    cid = resp.json()["id"]
    for r in (
        api_a.get(URL),
        api_a.get(f"{URL}{cid}/"),
        api_a.patch(f"{URL}{cid}/", {"secrets": {"refresh_token": None}}, format="json"),
    ):
        assert r.status_code == 200
        assert secret not in r.content.decode() and "rt-abcdef" not in r.content.decode()
    assert api_a.get(f"{URL}{cid}/").json()["secrets_set"] == ["client_secret"]
    in_schema(api_a.tenant)
    stored = Connection.objects.get(pk=cid)
    assert stored.get_secrets() == {"client_secret": secret}
    assert secret not in repr(stored) and secret not in str(stored)


def test_bad_config_is_a_400_with_field_details(api_a):
    resp = make(
        api_a,
        name="HS",
        kind="hubspot",
        config={"base_url": "ftp://x", "objects": ["ok", "bad name!"], "surprise": 1},
        secrets={},
    )
    assert resp.status_code == 400
    details = resp.json()["error"]["details"]
    assert resp.json()["error"]["code"] == "invalid"
    assert {"config.base_url", "config.objects", "config.surprise", "secrets.access_token"} <= set(details)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "kind": "nope"},
        {"name": "x", "kind": "filesource", "config": "not an object"},
        {"name": "x", "kind": "filesource", "config": {"folder": 5}},
        {"name": "", "kind": "filesource"},
        {"kind": "filesource"},
        {"name": "x", "kind": "postgres", "config": {"port": "many"}},
        {"name": "x", "kind": "mongodb", "config": {"database": "d"}, "secrets": {"uri": "http://not-mongo"}},
    ],
)
def test_malformed_bodies_are_400_json_errors(api_a, body):
    resp = api_a.post(URL, body, format="json")
    assert resp.status_code == 400
    assert set(resp.json()["error"]) == {"code", "message", "details"}


def test_secret_values_do_not_appear_in_validation_errors(api_a):
    resp = make(
        api_a,
        name="M",
        kind="mongodb",
        config={"database": "d"},
        secrets={"uri": "http://user:hunter2-password@example.com"},
    )
    assert resp.status_code == 400
    assert "hunter2" not in resp.content.decode()


def test_duplicate_name_is_a_400(api_a):
    assert make(api_a).status_code == 201
    resp = make(api_a)
    assert resp.status_code == 400


def test_kind_cannot_change(api_a):
    cid = make(api_a).json()["id"]
    resp = api_a.patch(f"{URL}{cid}/", {"kind": "hubspot"}, format="json")
    assert resp.status_code == 400 and "kind" in resp.json()["error"]["details"]


@pytest.mark.parametrize("folder", ["/etc", "/work/../etc", "/", "relative", "/tmp/../../etc/passwd"])
def test_path_traversal_and_folders_outside_the_roots_are_refused(api_a, folder):
    resp = make(api_a, config={"folder": folder})
    assert resp.status_code == 400
    assert "config.folder" in resp.json()["error"]["details"]


def test_folder_in_another_tenants_data_is_refused(api_a, tenant_b, settings):
    other = settings.DATA_DIR / "tenants" / str(tenant_b.tenant_id) / "uploads" / "1"
    other.mkdir(parents=True)
    resp = make(api_a, config={"folder": str(other)})
    assert resp.status_code == 400
    assert "another tenant" in json.dumps(resp.json())


def test_connection_of_another_tenant_is_404(api_a, api_b):
    cid = make(api_b, name="B's").json()["id"]
    for method in ("get", "patch", "delete"):
        assert getattr(api_a, method)(f"{URL}{cid}/", {}, format="json").status_code == 404
    assert api_a.post(f"{URL}{cid}/test/").status_code == 404
    assert api_a.get(f"{URL}{cid}/schema/").status_code == 404
    assert api_a.get(f"{URL}{cid}/files/").status_code == 404
    assert api_b.get(f"{URL}{cid}/").status_code == 200


def test_token_of_one_tenant_on_another_tenants_host_is_401(api_a, tenant_b):
    resp = api_a.get(URL, HTTP_HOST=host_of(tenant_b))
    assert resp.status_code == 401


def test_anonymous_requests_are_401(tenant_a):
    from rest_framework.test import APIClient

    assert APIClient(HTTP_HOST=host_of(tenant_a)).get(URL).status_code == 401


def test_test_endpoint_records_ok_status(api_a, csv_dir):
    (csv_dir / "a.csv").write_text("x\n1\n")
    cid = make(api_a, config={"folder": str(csv_dir)}).json()["id"]
    resp = api_a.post(f"{URL}{cid}/test/")
    assert resp.status_code == 200
    assert resp.json() == {"ok": True, "message": "1 CSV file(s): a", "status": "ok"}
    assert api_a.get(f"{URL}{cid}/").json()["status"] == "ok"


def test_test_endpoint_reports_a_permanent_error_as_ok_false(api_a, csv_dir):
    cid = make(api_a, config={"folder": str(csv_dir)}).json()["id"]
    csv_dir.rmdir()
    resp = api_a.post(f"{URL}{cid}/test/")
    assert resp.status_code == 200
    assert resp.json()["ok"] is False and "does not exist" in resp.json()["message"]
    detail = api_a.get(f"{URL}{cid}/").json()
    assert detail["status"] == "error" and "does not exist" in detail["last_error"]


def test_schema_endpoint_lists_objects_fields_types_and_capped_samples(api_a, csv_dir, settings):
    settings.AAM_MAX_SAMPLES_PER_TABLE = 2
    (csv_dir / "Account.csv").write_text(
        "Id,Name,AnnualRevenue\n" + "".join(f"{i},Co {i},{i + 1}00.5\n" for i in range(9))
    )
    cid = make(api_a, config={"folder": str(csv_dir)}).json()["id"]
    resp = api_a.get(f"{URL}{cid}/schema/")
    assert resp.status_code == 200
    (obj,) = resp.json()["objects"]
    assert obj["name"] == "Account" and obj["primary_key"] == "Id" and obj["row_count"] == 9
    assert [(f["name"], f["type"]) for f in obj["fields"]] == [
        ("Id", "integer"),
        ("Name", "string"),
        ("AnnualRevenue", "number"),
    ]
    assert all(len(f["samples"]) == 2 for f in obj["fields"])


def test_schema_endpoint_turns_a_permanent_source_error_into_a_400(api_a, csv_dir):
    cid = make(api_a, config={"folder": str(csv_dir)}).json()["id"]
    csv_dir.rmdir()
    resp = api_a.get(f"{URL}{cid}/schema/")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "connection_failed"


def upload(api, cid, name, data: bytes):
    f = io.BytesIO(data)
    f.name = name
    return api.post(f"{URL}{cid}/files/", {"file": f}, format="multipart")


def test_upload_stores_the_csv_in_the_tenants_data_dir_and_discovers_it(api_a, settings):
    cid = make(api_a).json()["id"]
    resp = upload(api_a, cid, "HubSpot Deals.csv", b"hs_object_id,dealname,amount\n1,Big deal,1000\n")
    assert resp.status_code == 201, resp.json()
    assert resp.json()["object"]["name"] == "HubSpot Deals"
    assert resp.json()["object"]["primary_key"] == "hs_object_id"
    stored = settings.DATA_DIR / "tenants" / str(api_a.tenant.tenant_id) / "uploads" / str(cid) / "HubSpot Deals.csv"
    assert stored.read_bytes().startswith(b"hs_object_id")
    listing = api_a.get(f"{URL}{cid}/files/").json()
    assert [f["name"] for f in listing] == ["HubSpot Deals.csv"]
    schema = api_a.get(f"{URL}{cid}/schema/").json()
    assert [o["name"] for o in schema["objects"]] == ["HubSpot Deals"]


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("notes.txt", b"a,b\n1,2\n", "must end in .csv"),
        ("../../evil.csv", b"a,b\n", None),
        ("x.csv", b"", "empty"),
        ("x.csv", bytes(range(256)) * 40, "binary"),
    ],
)
def test_bad_uploads_are_refused(api_a, name, data, reason, settings):
    cid = make(api_a).json()["id"]
    resp = upload(api_a, cid, name, data)
    if name.startswith("../"):
        # the name is reduced to its last part: the file lands inside the connection's folder
        assert resp.status_code == 201
        tenant_dir = settings.DATA_DIR / "tenants" / str(api_a.tenant.tenant_id) / "uploads" / str(cid)
        assert (tenant_dir / "evil.csv").exists()
        assert not (settings.DATA_DIR / "tenants" / "evil.csv").exists()
        return
    assert resp.status_code == 400
    assert reason in json.dumps(resp.json())


def test_upload_over_the_size_limit_is_413_and_keeps_the_previous_file(api_a, settings):
    cid = make(api_a).json()["id"]
    assert upload(api_a, cid, "a.csv", b"x\n1\n").status_code == 201
    settings.FILESOURCE_MAX_UPLOAD_BYTES = 100
    resp = upload(api_a, cid, "a.csv", b"x\n" + b"2\n" * 500)
    assert resp.status_code == 413
    folder = settings.DATA_DIR / "tenants" / str(api_a.tenant.tenant_id) / "uploads" / str(cid)
    assert (folder / "a.csv").read_bytes() == b"x\n1\n"
    assert [p.name for p in folder.iterdir()] == ["a.csv"]


def test_upload_to_a_non_filesource_connection_is_400(api_a):
    cid = make(api_a, name="HS", kind="hubspot", secrets={"access_token": "pat-xyz"}).json()["id"]
    assert upload(api_a, cid, "a.csv", b"x\n1\n").status_code == 400


def test_delete_removes_uploaded_files(api_a, settings, django_capture_on_commit_callbacks):
    cid = make(api_a).json()["id"]
    upload(api_a, cid, "a.csv", b"x\n1\n")
    folder = settings.DATA_DIR / "tenants" / str(api_a.tenant.tenant_id) / "uploads" / str(cid)
    with django_capture_on_commit_callbacks(execute=True):
        assert api_a.delete(f"{URL}{cid}/").status_code == 204
    assert not folder.exists()


def test_schema_endpoint_turns_a_transient_source_error_into_a_503(api_a):
    from connectors.kinds.hubspot.testserver import FakeHubSpot

    with FakeHubSpot() as hs:
        cid = make(api_a, name="HS", kind="hubspot", config=hs.config(), secrets=hs.secrets()).json()["id"]
        ok = api_a.get(f"{URL}{cid}/schema/")
        assert ok.status_code == 200 and ok.json()["objects"][0]["name"] == "companies"
        hs.fail(503, times=50)
        resp = api_a.get(f"{URL}{cid}/schema/")
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "source_unavailable"


def test_admin_shows_which_secrets_are_set_but_never_their_values(web_a, tenant_a):
    from django_tenants.utils import schema_context

    from tests.factories import ConnectionFactory

    with schema_context(tenant_a.schema_name):
        conn = ConnectionFactory(name="HS", kind="hubspot", secrets={"access_token": "pat-admin-secret-42"})
    page = web_a.get(f"/admin/connectors/connection/{conn.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "access_token" in body and "pat-admin-secret-42" not in body
    listing = web_a.get("/admin/connectors/connection/")
    assert listing.status_code == 200 and "pat-admin-secret-42" not in listing.content.decode()


def test_openapi_schema_documents_the_connection_endpoints(api_a):
    resp = api_a.get("/api/schema/?format=json")
    assert resp.status_code == 200
    paths = json.loads(resp.content)["paths"]
    assert {
        "/api/connections/",
        "/api/connections/{id}/test/",
        "/api/connections/{id}/schema/",
        "/api/connections/{id}/files/",
    } <= set(paths)


def test_a_connections_currency_is_an_iso_4217_code_or_blank(api_a, csv_dir):
    config = {"folder": str(csv_dir), "source_system": "dynamics"}
    for bad in ("usd", "XYZ", "EURO", "€"):
        refused = make(api_a, name=f"bad {bad}", config=config, currency=bad)
        assert refused.status_code == 400 and "currency" in json.dumps(refused.json()), (bad, refused.json())
    created = make(api_a, config=config, currency="GBP")
    assert created.status_code == 201 and created.json()["currency"] == "GBP"
    cid = created.json()["id"]
    assert api_a.patch(f"{URL}{cid}/", {"currency": "nope"}, format="json").status_code == 400
    cleared = api_a.patch(f"{URL}{cid}/", {"currency": ""}, format="json")
    assert cleared.status_code == 200 and cleared.json()["currency"] == ""


def test_delete_asks_what_becomes_of_the_records_and_refuses_an_unknown_choice(api_a):
    cid = make(api_a).json()["id"]
    bad = api_a.delete(f"{URL}{cid}/?data=wipe-everything")
    assert bad.status_code == 400 and "data" in bad.json()["error"]["details"]
    assert api_a.get(f"{URL}{cid}/").status_code == 200  # not deleted
    assert api_a.delete(f"{URL}{cid}/?data=keep").status_code == 204
