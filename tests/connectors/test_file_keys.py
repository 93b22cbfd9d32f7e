"""Keys of CSV files (docs/adr/0024-files-as-snapshots.md): which columns make a row the same record in
the next version of its file, chosen once and kept, shown and set on the connection page and the API."""

from __future__ import annotations

import io

import pytest
from django.db import connection as db_connection
from django_tenants.utils import schema_context

from autonomos.core.roles import Role
from connectors.kinds.filesource.csvio import CsvFile
from connectors.kinds.filesource.keys import RecordKey, choose_key, key_problem, preference
from connectors.models import Connection
from connectors.services import connection_file_upload, connection_keys_ensure
from tests.factories import UserFactory

URL = "/api/connections/"


def _file(tmp_path, text: str, name: str = "deals.csv") -> CsvFile:
    path = tmp_path / name
    path.write_text(text)
    return CsvFile(path)


# --- choosing ----------------------------------------------------------------------------------------


def test_an_id_column_is_the_key_when_it_is_unique(tmp_path):
    f = _file(tmp_path, "Name,Id,Email\nA,1,a@x.io\nB,2,b@x.io\n")
    assert choose_key("deals", f) == RecordKey(("Id",), "id_column")


def test_emails_come_before_names_and_names_before_dates(tmp_path):
    f = _file(tmp_path, "Close Date,Deal Name,Contact Email\n2026-01-01,A,a@x.io\n2026-01-02,B,b@x.io\n")
    assert choose_key("deals", f).columns == ("Contact Email",)
    assert [preference(n) for n in ("Contact Email", "Deal Name", "Close Date", "Region", "Amount (USD)")] == [
        0, 1, 2, 3, 4]


def test_the_smallest_set_of_filled_columns_unique_over_the_whole_file_is_chosen(tmp_path):
    rows = ["Company,Deal Name,Notes,Close Date"]
    rows += [f"C{i % 4},D{i // 4},,2026-01-0{1 + i % 3}" for i in range(12)]
    rows[5] = rows[5].replace(",,", ",some note,")  # Notes is not filled in every row: never a key column
    f = _file(tmp_path, "\n".join(rows) + "\n")
    assert choose_key("deals", f) == RecordKey(("Company", "Deal Name"), "columns")


def test_values_edited_over_time_are_key_columns_only_when_nothing_steadier_tells_rows_apart(tmp_path):
    f = _file(tmp_path, "Deal Name,Amount\nA,10\nA,20\nB,10\n")
    assert choose_key("deals", f).columns == ("Deal Name", "Amount")
    g = _file(tmp_path, "Deal Name,Amount,Contact Email\nA,10,x@y.io\nA,20,z@y.io\nB,10,x@y.io\n", "g.csv")
    assert choose_key("g", g).columns == ("Contact Email", "Deal Name")


def test_rows_nothing_tells_apart_are_keyed_by_their_number_and_an_empty_file_gets_no_key_yet(tmp_path):
    f = _file(tmp_path, "Name,Amount\nA,1\nA,1\n")
    key = choose_key("deals", f)
    assert key.by_line and key.spec == ["#line"] and key.primary_key == "__line"
    assert choose_key("deals", _file(tmp_path, "Name,Amount\n", "empty.csv")) is None


def test_a_column_whose_name_holds_a_comma_is_never_a_key_column(tmp_path):
    f = _file(tmp_path, '"Name, full",Region\nA,EU\nB,EU\n')
    assert choose_key("deals", f).by_line


def test_a_key_problem_names_the_rows_that_break_it(tmp_path):
    f = _file(tmp_path, "Email,Name\na@x.io,A\nb@x.io,B\na@x.io,C\n,D\n")
    assert key_problem(f, RecordKey(("Email",), "set")) == "deals.csv: the key column 'Email' is empty in row 4"
    g = _file(tmp_path, "Email,Name\na@x.io,A\nb@x.io,B\na@x.io,C\n", "g.csv")
    assert key_problem(g, RecordKey(("Email",), "set")) == (
        "g.csv: the key Email is not unique: rows 1, 3 both have 'a@x.io' (1 value repeated)")
    assert key_problem(g, RecordKey(("Email", "Name"), "set")) is None
    assert "'Mail' is not in the file (its columns: Email, Name)" in key_problem(g, RecordKey(("Mail",), "set"))


# --- kept once chosen ------------------------------------------------------------------------------


@pytest.fixture
def files_conn(in_tenant_a):
    return Connection.objects.create(name="Exports", kind="filesource", config={"exports": "full"})


def _upload(conn, text: str, name: str = "deals.csv"):
    data = text.encode()
    return connection_file_upload(connection=conn, filename=name, content=io.BytesIO(data), size=len(data))


def test_the_key_chosen_at_the_first_upload_is_kept_when_a_later_version_would_choose_another(files_conn):
    _upload(files_conn, "Deal Name,Close Date\nA,2026-01-01\nA,2026-01-02\nB,2026-01-01\n")
    files_conn.refresh_from_db()
    assert files_conn.config["chosen_keys"] == {"deals": ["Deal Name", "Close Date"]}
    described = _upload(files_conn, "Deal Name,Close Date\nA,2026-01-01\nB,2026-01-02\n")  # names alone unique now
    files_conn.refresh_from_db()
    assert files_conn.config["chosen_keys"] == {"deals": ["Deal Name", "Close Date"]}
    assert described.primary_key == "Deal Name,Close Date"
    # keyed samples: drift can tell a renamed column from a dropped one by the same records' values
    assert described.fields[1].keyed_samples == {"A|2026-01-01": "2026-01-01", "B|2026-01-02": "2026-01-02"}


def test_a_folder_file_gets_its_key_before_its_first_read_and_one_read_before_keeps_its_content_hash(
    in_tenant_a, tmp_path
):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "deals.csv").write_text("Email,Name\na@x.io,A\nb@x.io,B\n")
    (folder / "old.csv").write_text("Name,Region\nA,EU\nB,US\n")
    conn = Connection.objects.create(name="Folder", kind="filesource", config={"folder": str(folder)},
                                     cursor={"old": {"hash": "x", "offset": 0, "line": 1, "row": 2}})
    assert connection_keys_ensure(connection=conn) == {"deals": ["Email"], "old": ["#content"]}
    conn.refresh_from_db()
    assert conn.config["chosen_keys"] == {"deals": ["Email"], "old": ["#content"]}
    assert connection_keys_ensure(connection=conn) == {}  # chosen once


def test_the_upload_names_the_rows_and_keeps_the_file_when_the_key_does_not_hold(files_conn, settings):
    _upload(files_conn, "Email,Name\na@x.io,A\nb@x.io,B\n")
    with pytest.raises(Exception, match="rows 1, 2 both have 'a@x.io'.*previous version of the file stays"):
        _upload(files_conn, "Email,Name\na@x.io,A\na@x.io,B\n")
    folder = settings.DATA_DIR / "tenants" / str(db_connection.tenant.tenant_id) / "uploads" / str(files_conn.pk)
    assert (folder / "deals.csv").read_text() == "Email,Name\na@x.io,A\nb@x.io,B\n"


# --- the API ------------------------------------------------------------------------------------


def _upload_api(api, cid, name, data: bytes):
    f = io.BytesIO(data)
    f.name = name
    return api.post(f"{URL}{cid}/files/", {"file": f}, format="multipart")


@pytest.fixture
def keyed(api_a):
    cid = api_a.post(URL, {"name": "Exports", "kind": "filesource", "config": {}}, format="json").json()["id"]
    data = b"Email,Name,Company\na@x.io,A,Acme\nb@x.io,B,Acme\n"
    assert _upload_api(api_a, cid, "deals.csv", data).status_code == 201
    return cid


def test_the_api_lists_each_files_key_and_why(api_a, keyed):
    body = api_a.get(f"{URL}{keyed}/keys/").json()
    assert body == [{"object": "deals", "file": "deals.csv", "columns": ["Email"], "label": "Email",
                     "basis": "columns", "why": body[0]["why"], "header": ["Email", "Name", "Company"], "error": ""}]
    assert "emails, names and dates first" in body[0]["why"]


def test_the_api_sets_a_key_refuses_one_the_file_breaks_and_never_answers_500(api_a, keyed):
    ok = api_a.post(f"{URL}{keyed}/keys/", {"object": "deals", "key": ["Name", "Company"]}, format="json")
    assert ok.status_code == 200 and ok.json()[0]["label"] == "Name + Company" and ok.json()[0]["basis"] == "set"
    bad = api_a.post(f"{URL}{keyed}/keys/", {"object": "deals", "key": ["Company"]}, format="json")
    assert bad.status_code == 400 and "not unique: rows 1, 2 both have 'Acme'" in bad.content.decode()
    for payload, says in (
        ({"object": "deals", "key": ["Nope"]}, "'Nope' is not in the file"),
        ({"object": "nothing", "key": ["Email"]}, "no file for the object"),
        ({"object": "deals", "key": []}, "a list of 1 to 3 column names"),
        ({"object": "deals", "key": ["Email", "Name", "Company", "Email"]}, "1 to 3 different columns"),
        ({"object": "deals", "key": 7}, "a list of 1 to 3 column names"),
        ({"object": "deals"}, "required"),
    ):
        resp = api_a.post(f"{URL}{keyed}/keys/", payload, format="json")
        assert resp.status_code == 400 and says in resp.content.decode(), (payload, resp.content)
    line = api_a.post(f"{URL}{keyed}/keys/", {"object": "deals", "key": "line"}, format="json").json()[0]
    assert (line["label"], line["basis"], line["columns"]) == ("row number in the file", "line", [])
    auto = api_a.post(f"{URL}{keyed}/keys/", {"object": "deals", "key": "auto"}, format="json").json()[0]
    assert (auto["label"], auto["basis"]) == ("Email", "columns")


def test_keys_of_another_kind_or_tenant_are_refused(api_a, api_b, keyed):
    assert api_b.get(f"{URL}{keyed}/keys/").status_code == 404
    assert api_b.post(f"{URL}{keyed}/keys/", {"object": "deals", "key": "line"}, format="json").status_code == 404
    other = api_a.post(URL, {"name": "PG", "kind": "postgres", "config": {"host": "db.example", "database": "x",
                                                                          "user": "u"}}, format="json")
    if other.status_code != 201:
        pytest.fail(other.content.decode())
    assert api_a.get(f"{URL}{other.json()['id']}/keys/").status_code == 400


# --- the connection page ----------------------------------------------------------------------------


def test_the_page_shows_the_key_to_everyone_and_the_form_to_operators_only(web_a, tenant_a, keyed):
    from django.test import Client

    from tests.conftest import host_of

    page = web_a.get(f"/connections/{keyed}/").content.decode()
    assert 'id="keys"' in page and "<strong data-key-label>Email</strong>" in page and "Save key" in page
    with schema_context(tenant_a.schema_name):
        viewer = UserFactory(username="viewer-user", role=Role.VIEWER, unusable_password=True)
    client = Client(HTTP_HOST=host_of(tenant_a))
    with schema_context(tenant_a.schema_name):
        client.force_login(viewer)
    seen = client.get(f"/connections/{keyed}/").content.decode()
    assert "<strong data-key-label>Email</strong>" in seen and "Save key" not in seen
    refused = client.post(f"/connections/{keyed}/key/", {"object": "deals", "mode": "line"})
    assert refused.status_code == 403


def test_the_page_form_sets_a_key_and_says_why_one_is_refused(web_a, tenant_a, keyed):
    done = web_a.post(f"/connections/{keyed}/key/", {"object": "deals", "mode": "columns",
                                                      "column": ["Name", "Company", ""]}, follow=True)
    assert done.status_code == 200 and "Name + Company" in done.content.decode()
    refused = web_a.post(f"/connections/{keyed}/key/", {"object": "deals", "mode": "columns", "column": ["Company"]},
                         follow=True)
    assert refused.status_code == 200 and "not unique" in refused.content.decode()
    with schema_context(tenant_a.schema_name):
        assert Connection.objects.get(pk=keyed).config["primary_keys"] == {"deals": ["Name", "Company"]}


def test_saving_the_edit_form_keeps_the_keys(web_a, tenant_a, keyed):
    with schema_context(tenant_a.schema_name):
        before = dict(Connection.objects.get(pk=keyed).config)
    form = web_a.get(f"/connections/{keyed}/edit/")
    assert form.status_code == 200 and "chosen_keys" not in form.content.decode()
    saved = web_a.post(f"/connections/{keyed}/edit/", {"name": "Exports", "drift_policy": "auto", "exports": "full"})
    assert saved.status_code == 302, saved.content.decode()[:2000]
    with schema_context(tenant_a.schema_name):
        assert Connection.objects.get(pk=keyed).config["chosen_keys"] == before["chosen_keys"]
