"""Files as snapshots of one source (issue 18, item 2; docs/adr/0024-files-as-snapshots.md), end to end
through the upload, the real filesource driver, the mapping engine, the pipeline and the views.

The issue's case: 50 deals without an id column, changed (values edited, rows added, rows removed)
and uploaded again gave 95 rows, 45 of them twice. Now the file gets a key from the columns that
tell its rows apart, chosen once and kept, and a new version replaces the last: the view holds
exactly the new file's rows, none twice.
"""

from __future__ import annotations

import io

import pytest
from django.db import connection

from connectors.models import Connection
from connectors.services import connection_create, connection_file_upload, connection_key_set
from dcl.pipeline import pipeline_run
from dcl.selectors import view_all
from tests.pipeline.support import duck_rows

pytestmark = pytest.mark.django_db

HEADER = "Deal Name,Company,Contact Email,Stage,Amount (USD),Close Date"
KINDS = ("Renewal", "Expansion", "New business", "Upsell", "Pilot")
COMPANIES = ("Acme", "Globex", "Initech", "Hooli", "Umbrella", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent")


def _deals() -> dict[tuple[str, str], dict[str, str]]:
    """50 deals: ten companies, one contact each, five kinds of deal each: no column alone is unique but
    the amount, which is edited over time (a key of it would make an edited deal a new one)."""
    deals = {}
    for c, company in enumerate(COMPANIES):
        for k, kind in enumerate(KINDS):
            email = f"buyer@{company.lower()}.example"
            deals[(email, kind)] = {"Deal Name": kind, "Company": company, "Contact Email": email,
                                   "Stage": "Prospecting", "Amount (USD)": f"{1000 * (c + 1) + 10 * k}.00",
                                   "Close Date": f"2026-0{1 + k}-15"}
    return deals


def _csv(deals) -> bytes:
    lines = [HEADER] + [",".join(d[c] for c in HEADER.split(",")) for d in deals.values()]
    return ("\n".join(lines) + "\n").encode()


def _upload(conn, deals, name="deals.csv"):
    data = _csv(deals)
    return connection_file_upload(connection=conn, filename=name, content=io.BytesIO(data), size=len(data))


def _view() -> list[tuple[str, str, float]]:
    return sorted((r["id"], r["name"], float(r["amount"])) for r in view_all(entity="opportunity"))


def _expected(deals) -> list[tuple[str, str, float]]:
    return sorted((f"{d['Contact Email']}|{d['Deal Name']}", d["Deal Name"], float(d["Amount (USD)"]))
                  for d in deals.values())


@pytest.fixture
def deals_conn(in_tenant_a):
    return connection_create(name="Deals export", kind="filesource", config={"source_system": "pipedrive"})


def test_a_changed_export_without_an_id_column_replaces_the_last_none_twice(deals_conn):
    deals = _deals()
    described = _upload(deals_conn, deals)
    # the key: the fewest filled columns unique over the file, emails and names first; kept
    assert described.primary_key == "Contact Email,Deal Name" and described.key_basis == "columns"
    deals_conn.refresh_from_db()
    assert deals_conn.config["chosen_keys"] == {"deals": ["Contact Email", "Deal Name"]}
    assert deals_conn.config["exports"] == "full"  # files are full exports by default
    pipeline_run(tenant=connection.tenant, connection=deals_conn)
    assert _view() == _expected(deals) and len(_view()) == 50

    newer = dict(deals)
    for key in list(newer)[:3]:  # a few values edited
        newer[key] = {**newer[key], "Amount (USD)": "99999.00", "Stage": "Negotiation"}
    for key in list(newer)[10:15]:  # some removed
        del newer[key]
    for k, kind in enumerate(("Renewal", "Expansion", "Pilot", "Upsell")):  # a few added
        email = "cto@massive.example"
        newer[(email, kind)] = {"Deal Name": kind, "Company": "Massive Dynamic", "Contact Email": email,
                                "Stage": "Qualification", "Amount (USD)": f"{500 + k}.00", "Close Date": "2026-09-01"}
    _upload(deals_conn, newer)
    info = pipeline_run(tenant=connection.tenant, connection=deals_conn)
    assert info.step("deletes").rows == 5
    view = _view()
    assert view == _expected(newer) and len(view) == 49 == len({row[0] for row in view})
    # the edited deals were updated in place, not inserted again: one stored record per key
    twice = "SELECT _source_id, count(*) FROM src_opportunity GROUP BY 1 HAVING count(*) > 1"
    assert duck_rows(connection.tenant, twice) == []
    deals_conn.refresh_from_db()
    assert deals_conn.status == Connection.Status.OK  # nothing paused: 5 of 50 is no wipe


def test_a_second_upload_that_breaks_the_key_is_refused_and_the_previous_file_stays(deals_conn, settings):
    deals = _deals()
    _upload(deals_conn, deals)
    pipeline_run(tenant=connection.tenant, connection=deals_conn)
    twice = list(_deals().values())
    twice[7] = dict(twice[3])  # two rows with the same contact and kind
    with pytest.raises(Exception) as refused:
        _upload(deals_conn, {i: d for i, d in enumerate(twice)})
    message = str(refused.value)
    assert "Contact Email + Deal Name is not unique: rows 4, 8 both have" in message and "previous version" in message
    folder = settings.DATA_DIR / "tenants" / str(connection.tenant.tenant_id) / "uploads" / str(deals_conn.pk)
    assert (folder / "deals.csv").read_bytes() == _csv(deals)
    # without the key column
    with pytest.raises(Exception, match="'Contact Email' is not in the file"):
        data = _csv(deals).replace(b"Contact Email", b"Email")
        connection_file_upload(connection=deals_conn, filename="deals.csv", content=io.BytesIO(data), size=len(data))
    # a header and no rows
    with pytest.raises(Exception, match="header but no rows"):
        data = (HEADER + "\n").encode()
        connection_file_upload(connection=deals_conn, filename="deals.csv", content=io.BytesIO(data), size=len(data))
    assert (folder / "deals.csv").read_bytes() == _csv(deals)
    pipeline_run(tenant=connection.tenant, connection=deals_conn)
    assert _view() == _expected(deals)


def test_a_key_set_by_a_person_re_keys_the_object_at_the_next_sync_without_duplicates_or_a_pause(deals_conn):
    deals = _deals()
    _upload(deals_conn, deals)
    pipeline_run(tenant=connection.tenant, connection=deals_conn)
    # the person prefers contact + close date
    connection_key_set(connection=deals_conn, object_name="deals", key=["Contact Email", "Close Date"])
    deals_conn.refresh_from_db()
    assert deals_conn.config["primary_keys"] == {"deals": ["Contact Email", "Close Date"]}
    info = pipeline_run(tenant=connection.tenant, connection=deals_conn)
    assert info.step("deletes").rows == 50  # every record held under the old key, replaced
    view = _view()
    assert len(view) == 50 and all(row[0].count("|") == 1 and row[0].split("|")[1].startswith("2026-") for row in view)
    deals_conn.refresh_from_db()
    assert deals_conn.status == Connection.Status.OK
    # a key the file breaks is refused with the rows that break it
    with pytest.raises(Exception, match="the key Company is not unique: rows 1, 2, 3, … all have 'Acme'"):
        connection_key_set(connection=deals_conn, object_name="deals", key=["Company"])
    with pytest.raises(Exception, match="not in the file"):
        connection_key_set(connection=deals_conn, object_name="deals", key=["Nope"])


def test_a_file_whose_rows_nothing_tells_apart_is_keyed_by_row_number(deals_conn):
    rows = [HEADER, *(["Renewal,Acme,buyer@acme.example,Prospecting,100.00,2026-01-01"] * 3),
            "Pilot,Acme,buyer@acme.example,Prospecting,200.00,2026-01-01"]
    data = ("\n".join(rows) + "\n").encode()
    described = connection_file_upload(connection=deals_conn, filename="deals.csv", content=io.BytesIO(data),
                                       size=len(data))
    assert described.key_basis == "line" and described.primary_key == "__line"
    pipeline_run(tenant=connection.tenant, connection=deals_conn)
    assert sorted((r["id"], float(r["amount"])) for r in view_all(entity="opportunity")) == [
        ("1", 100.0), ("2", 100.0), ("3", 100.0), ("4", 200.0)]
    assert all("__line" not in (r.get("_extras") or "") for r in view_all(entity="opportunity"))


def test_the_issue_re_export_with_a_renamed_amount_column_replaces_the_last_and_keeps_the_amounts(deals_conn):
    deals = _deals()
    _upload(deals_conn, deals)
    pipeline_run(tenant=connection.tenant, connection=deals_conn)
    newer = {k: {("Deal Value" if c == "Amount (USD)" else c): v for c, v in d.items()} for k, d in deals.items()}
    for key in list(newer)[40:43]:
        newer[key]["Deal Value"] = "77777.00"
    for key in list(newer)[45:]:
        del newer[key]
    header = HEADER.replace("Amount (USD)", "Deal Value")
    data = ("\n".join([header] + [",".join(d[c] for c in header.split(",")) for d in newer.values()]) + "\n").encode()
    connection_file_upload(connection=deals_conn, filename="deals.csv", content=io.BytesIO(data), size=len(data))
    pipeline_run(tenant=connection.tenant, connection=deals_conn)
    # the rename is proven by the same records under their key (not by the engine's reading of the name)
    from aam.models import DriftEvent

    event = DriftEvent.objects.get(kind="renamed")
    assert (event.field, event.new_field, event.status) == ("Amount (USD)", "Deal Value", "applied")
    assert event.evidence["value_method"] == "keyed"
    expected = sorted((f"{d['Contact Email']}|{d['Deal Name']}", d["Deal Name"], float(d["Deal Value"]))
                      for d in newer.values())
    assert _view() == expected and len(expected) == 45


def test_a_folder_file_changed_on_disk_that_breaks_its_key_fails_the_sync_and_keeps_the_last_snapshot(
    in_tenant_a, settings
):
    from aam.ingest.services import connection_sync
    from connectors.errors import PermanentError

    folder = settings.DATA_DIR / "exports"
    folder.mkdir(parents=True)
    deals = _deals()
    (folder / "deals.csv").write_bytes(_csv(deals))
    conn = connection_create(name="Folder export", kind="filesource",
                             config={"folder": str(folder), "source_system": "pipedrive"})
    pipeline_run(tenant=connection.tenant, connection=conn)
    conn.refresh_from_db()
    assert conn.config["chosen_keys"] == {"deals": ["Contact Email", "Deal Name"]}  # chosen before the first read
    assert _view() == _expected(deals)
    broken = list(deals.values())
    broken[9] = {**broken[2], "Amount (USD)": "1.00"}
    (folder / "deals.csv").write_bytes(_csv(dict(enumerate(broken))))
    with pytest.raises(PermanentError, match="Contact Email \\+ Deal Name is not unique: rows 3, 10 both have"):
        connection_sync(connection=conn)
    conn.refresh_from_db()
    assert conn.status == Connection.Status.ERROR and "set the key on the connection page" in conn.last_error
    assert _view() == _expected(deals)
