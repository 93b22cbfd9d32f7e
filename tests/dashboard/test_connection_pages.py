"""Connection pages over the real connectors service: add with an upload, field errors, edit keeps
secrets, test, schema with samples, delete."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

pytestmark = pytest.mark.django_db

CSV = (b"Id,Name,Website,AnnualRevenue\n"
       b"001A,Acme Corporation,https://acme.example,12500000\n"
       b"001B,Globex Ltd,https://globex.example,8800000\n")


def _in(tenant, fn):
    connection.set_tenant(tenant)
    try:
        return fn()
    finally:
        connection.set_schema_to_public()


def _create(web, **extra):
    data = {"name": "CRM export", "drift_policy": "auto", "domain": "",
            "upload": SimpleUploadedFile("Account.csv", CSV, content_type="text/csv")} | extra
    return web.post("/connections/new/filesource/", data)


def _created(web, tenant):
    """The connection `_create` adds, as stored."""
    from connectors.models import Connection

    assert _create(web).status_code == 302
    return _in(tenant, lambda: Connection.objects.get(name="CRM export"))


def test_adding_a_csv_connection_with_an_upload_stores_the_file_and_opens_it(web_a, tenant_a):
    from connectors.models import Connection

    response = _create(web_a)
    assert response.status_code == 302, response.content.decode()[:3000]
    created = _in(tenant_a, lambda: Connection.objects.get(name="CRM export"))
    assert response["Location"] == f"/connections/{created.pk}/"
    assert created.kind == "filesource"
    page = web_a.get(response["Location"]).content.decode()
    assert "Account.csv" in page
    assert "added with 1 file" in page


def test_schema_of_an_uploaded_file_shows_fields_types_and_samples(web_a, tenant_a):
    pk = _created(web_a, tenant_a).pk
    html = web_a.get(f"/connections/{pk}/schema/").content.decode()
    assert "Website" in html and "AnnualRevenue" in html
    assert "https://acme.example" in html
    assert "<html" not in html


def test_a_bad_upload_is_reported_and_the_connection_kept(web_a, tenant_a):
    from connectors.models import Connection

    response = _create(web_a, upload=SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain"))
    assert response.status_code == 302
    page = web_a.get(response["Location"]).content.decode()
    assert "notes.txt" in page and "must end in .csv" in page
    assert _in(tenant_a, lambda: Connection.objects.filter(name="CRM export").exists())


def test_an_invalid_setting_is_shown_next_to_its_field(web_a):
    response = web_a.post("/connections/new/salesforce/", {
        "name": "SF", "drift_policy": "auto", "client_id": "abc", "client_secret": "s3cret-value",
        "instance_url": "ftp://salesforce.example", "objects": "Account", "auth_flow": "client_credentials",
    })
    assert response.status_code == 400
    html = response.content.decode()
    assert "must be an absolute http(s) URL" in html
    assert "s3cret-value" not in html  # a typed secret is never echoed back


def test_a_folder_outside_the_allowed_roots_is_refused(web_a):
    response = web_a.post("/connections/new/filesource/", {"name": "Etc", "drift_policy": "auto", "folder": "/etc"})
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()


def test_editing_keeps_a_stored_secret_left_blank_and_replaces_a_typed_one(web_a, tenant_a):
    from connectors.services import connection_create

    conn = _in(tenant_a, lambda: connection_create(name="HubSpot", kind="hubspot", config={},
                                                   secrets={"access_token": "pat-old"}))
    form = {"name": "HubSpot EU", "drift_policy": "review", "domain": "revops", "objects": "companies, deals",
            "base_url": "https://api.hubapi.com"}
    assert web_a.post(f"/connections/{conn.pk}/edit/", form).status_code == 302
    saved = _in(tenant_a, lambda: type(conn).objects.get(pk=conn.pk))
    assert saved.name == "HubSpot EU" and saved.drift_policy == "review"
    assert saved.secrets["access_token"] == "pat-old"
    assert saved.config["objects"] == ["companies", "deals"]
    web_a.post(f"/connections/{conn.pk}/edit/", form | {"access_token": "pat-new"})
    assert _in(tenant_a, lambda: type(conn).objects.get(pk=conn.pk)).secrets["access_token"] == "pat-new"


def test_test_button_reports_the_sources_answer_as_json(web_a, tenant_a):
    from connectors.models import Connection

    pk = _created(web_a, tenant_a).pk
    response = web_a.post(f"/connections/{pk}/test/", HTTP_X_REQUESTED_WITH="fetch")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert _in(tenant_a, lambda: Connection.objects.get(pk=pk).status) == "ok"


def test_delete_asks_the_service_and_returns_to_the_list(web_a, tenant_a):
    from connectors.models import Connection

    pk = _created(web_a, tenant_a).pk
    response = web_a.post(f"/connections/{pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/connections/"
    assert not _in(tenant_a, lambda: Connection.objects.filter(pk=pk).exists())


def test_upload_more_files_to_an_existing_connection(web_a, tenant_a):
    pk = _created(web_a, tenant_a).pk
    more = SimpleUploadedFile("Contact.csv", b"Id,Email\n003A,ann@acme.example\n", content_type="text/csv")
    response = web_a.post(f"/connections/{pk}/upload/", {"upload": more})
    assert response.status_code == 302
    assert "Contact.csv" in web_a.get(f"/connections/{pk}/").content.decode()


@pytest.mark.parametrize("typed", ["pk=Id", "Account: Id\ngarbage line"])
def test_a_mapping_line_that_is_not_name_colon_value_is_a_field_error(web_a, tenant_a, typed):
    from connectors.models import Connection

    response = _create(web_a, primary_keys=typed)
    assert response.status_code == 400
    html = response.content.decode()
    assert "is not “name: value”" in html and "errorlist" in html
    assert not _in(tenant_a, lambda: Connection.objects.filter(name="CRM export").exists())


def test_mapping_lines_are_stored_as_typed(web_a, tenant_a):
    from connectors.models import Connection

    assert _create(web_a, primary_keys="Account: Id\n\n Contact : Email ").status_code == 302
    saved = _in(tenant_a, lambda: Connection.objects.get(name="CRM export"))
    assert saved.config["primary_keys"] == {"Account": ["Id"], "Contact": ["Email"]}  # a key is a list of columns


def test_an_empty_upload_is_named_and_said_to_be_empty(web_a, tenant_a):
    pk = _created(web_a, tenant_a).pk
    empty = SimpleUploadedFile("empty.csv", b"", content_type="text/csv")
    response = web_a.post(f"/connections/{pk}/upload/", {"upload": empty})
    assert response.status_code == 302
    page = web_a.get(f"/connections/{pk}/").content.decode()
    assert "empty.csv: The submitted file is empty." in page
    assert "Choose one or more CSV files" not in page


def test_the_sync_cursor_is_shown_as_labelled_parts_not_a_raw_dict(web_a, tenant_a):
    from connectors.models import Connection

    conn = _created(web_a, tenant_a)
    cursor = {"Account": {"hash": "af490dab" * 8, "offset": 11750, "line": 42, "row": 41, "encoding": "utf-8"}}
    _in(tenant_a, lambda: Connection.objects.filter(pk=conn.pk).update(cursor=cursor))
    html = web_a.get(f"/connections/{conn.pk}/").content.decode()
    assert "{&#x27;" not in html and "{'" not in html  # no Python repr
    assert '<span class="muted">offset</span> <code>11750</code>' in html
    assert "<code>af490dabaf49…</code>" in html  # the content hash, shortened
    assert 'id="sync-cursor"' in html and "data-last-sync" in html  # what the page refreshes after a live sync
