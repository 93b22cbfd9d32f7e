"""CSV export of a unified view (dcl/export.py, `?format=csv`): every row the filters match, in the
page's order, in keyset pages (never OFFSET, never the whole view in memory), formula-like text
defused, bad parameters a 400; and the default order, which must be served by an index."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connectors.models import Connection
from dcl import export as dcl_export
from dcl.export import ViewChanged, csv_cell, export_csv, export_pages, view_export
from dcl.pgsync import INDEXED
from dcl.selectors import DEFAULT_ORDERING, ViewQueryError, view_rows
from dcl.services import views_materialize
from tests.pipeline.support import batches_for, publish

pytestmark = pytest.mark.django_db

SPECIAL_NAMES = {
    0: '=HYPERLINK("http://evil.example","click")',
    1: "+1 555 0100",
    2: "-minus first",
    3: "@SUM(A1:A9)",
    4: "\tTabbed",
    5: 'Comma, "quoted"\nand a new line',
}


def _records(n: int, *, prefix: str = "006", start: int = 0) -> list[dict]:
    """Opportunities whose sort keys repeat and are often empty (nulls sort last ascending, first
    descending), one negative amount, and names a spreadsheet would take for formulas."""
    rows = []
    for i in range(start, start + n):
        amount = "" if i % 5 == 0 else ("-250.25" if i == 7 else f"{(i % 4) * 100}.50")
        rows.append({
            "Id": f"{prefix}{i:015d}",
            "AccountId": f"001{i % 7:015d}",
            "Name": SPECIAL_NAMES.get(i, f"Deal {i:02d}"),
            "StageName": "Closed Won" if i % 2 else "Prospecting",
            "Amount": amount,
            "CloseDate": "" if i % 6 == 0 else f"2026-0{1 + i % 3}-15",
            "IsWon": "true" if i % 2 else "false",
            "LastModifiedDate": "2026-01-02T03:04:05.000+0000",
        })
    return rows


def _other(records: list[dict]) -> list[dict]:
    return [dict(r, Name=f"Renewal {r['Id']}", Amount=f"{int(r['Id'][:3]) * 1000 + int(r['Id'][-2:])}.00",
                 CloseDate=f"2027-0{r['Id'][2]}-01") for r in records]


def _land(tenant, records, name: str = "CRM") -> Connection:
    connection.set_tenant(tenant)
    conn, _ = Connection.objects.get_or_create(name=name, kind="salesforce")
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, records))
    views_materialize(tenant=tenant)
    return conn


@pytest.fixture
def opportunities(tenant_a):
    conn = _land(tenant_a, _records(23))
    yield conn
    connection.set_schema_to_public()


def _ids(rows) -> list[str]:
    return [r["unified_id"] for r in rows]


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.content
    assert response.streaming
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


# --- Keyset pages: the same rows, in the same order, as the page query -------------------------------


@pytest.mark.parametrize("ordering", [None, "amount", "-amount", "close_date,-name", "-close_date,amount", "name",
                                      "-unified_id", "stage,-amount"])
@pytest.mark.parametrize("page_rows", [1, 2, 7])
def test_keyset_pages_hold_every_row_once_in_the_pages_order(opportunities, ordering, page_rows):
    expected = _ids(view_rows(entity="opportunity", ordering=ordering))
    export = view_export(entity="opportunity", ordering=ordering)
    pages = list(export_pages(export, page_rows=page_rows))
    assert all(0 < len(p) <= page_rows for p in pages)
    assert _ids(r for p in pages for r in p) == expected
    assert len(expected) == 23


@pytest.mark.parametrize(("filters", "search"), [
    ({"amount__gte": "100"}, None),
    ({"stage": "Closed Won", "close_date__isnull": "false"}, None),
    ({"amount__isnull": "true"}, None),
    ({}, "Deal 1"),
    ({"name__ne": "Deal 10"}, "deal"),
])
def test_the_export_applies_the_pages_filters_and_search(opportunities, filters, search):
    expected = _ids(view_rows(entity="opportunity", filters=filters, search=search, ordering="-amount"))
    export = view_export(entity="opportunity", filters=filters, search=search, ordering="-amount")
    got = _ids(r for p in export_pages(export, page_rows=3) for r in p)
    assert got == expected and 0 < len(got) < 23


def test_each_page_is_one_bounded_query_run_only_when_the_client_reads_on(opportunities, monkeypatch):
    monkeypatch.setattr(dcl_export, "EXPORT_PAGE_ROWS", 5)
    chunks = export_csv(view_export(entity="opportunity", ordering="-amount"))
    with CaptureQueriesContext(connection) as queries:
        header = next(chunks)
        assert header.startswith(b"unified_id,")
        before = len([q for q in queries.captured_queries if "dcl_view_opportunity" in q["sql"]])
        first = next(chunks)
        reads = [q["sql"] for q in queries.captured_queries if "dcl_view_opportunity" in q["sql"]]
    assert before == 0, "nothing is read before the client asks for it"
    assert len(reads) == 1 and first.count(b"\r\n") == 5
    rest = list(chunks)
    assert len(rest) == 4  # 23 rows: 5 + 5 + 5 + 5 + 3 (null amounts come first: two phases)
    for sql in reads:
        assert "LIMIT 5" in sql and "OFFSET" not in sql


def test_a_view_rematerialized_during_an_export_stops_it(opportunities, tenant_a):
    pages = export_pages(view_export(entity="opportunity"), page_rows=4)
    next(pages)
    _land(tenant_a, _records(3, start=100))
    with pytest.raises(ViewChanged):
        next(pages)


# --- Cells -----------------------------------------------------------------------------------------


def test_formula_like_text_is_defused_and_numbers_are_not(opportunities, api_a):
    rows = _csv(api_a.get("/api/dcl/views/opportunity/?format=csv&ordering=name"))
    names = {r["id"]: r["name"] for r in rows}
    assert names["006000000000000000"] == "'" + SPECIAL_NAMES[0]
    assert names["006000000000000001"] == "'+1 555 0100"
    assert names["006000000000000002"] == "'-minus first"
    assert names["006000000000000003"] == "'@SUM(A1:A9)"
    assert names["006000000000000004"] == "'\tTabbed"
    assert names["006000000000000005"] == SPECIAL_NAMES[5]  # commas, quotes, new lines: quoted, intact
    assert names["006000000000000006"] == "Deal 06"
    amounts = {r["id"]: r["amount"] for r in rows}
    assert amounts["006000000000000007"] == "-250.25" and amounts["006000000000000005"] == ""
    assert {r["is_won"] for r in rows} == {"true", "false"}


@pytest.mark.parametrize(("value", "text"), [
    ("=1+1", "'=1+1"), ("+x", "'+x"), ("-x", "'-x"), ("@x", "'@x"), ("\rx", "'\rx"), ("a=b", "a=b"),
    (None, ""), (True, "true"), (-5, "-5"), ({"a": [1, "é"]}, '{"a": [1, "é"]}'), (["=x"], '["=x"]'),
])
def test_a_cell_is_written_for_spreadsheets_and_programs_alike(value, text):
    assert csv_cell(value) == text


def test_decimals_are_exact_and_dates_iso():
    from datetime import UTC, date, datetime
    from decimal import Decimal

    assert csv_cell(Decimal("123456789012345678901234567.1234567890")) == "123456789012345678901234567.123456789"
    assert csv_cell(Decimal("1E+2")) == "100"
    assert csv_cell(date(2026, 3, 1)) == "2026-03-01"
    assert csv_cell(datetime(2026, 3, 1, 4, 5, 6, tzinfo=UTC)) == "2026-03-01T04:05:06+00:00"


# --- The API ---------------------------------------------------------------------------------------


def test_the_api_streams_the_filtered_view_as_a_csv_download(opportunities, api_a, tenant_a):
    response = api_a.get("/api/dcl/views/opportunity/?format=csv&stage=Closed%20Won&ordering=-amount&page_size=2")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="{tenant_a.slug}-opportunity-')
    assert response["Cache-Control"] == "no-store"
    rows = _csv(response)
    connection.set_tenant(tenant_a)
    expected = view_rows(entity="opportunity", filters={"stage": "Closed Won"}, ordering="-amount")
    assert [r["unified_id"] for r in rows] == _ids(expected) and len(rows) == 11  # paging does not apply
    assert rows[0]["sources"] == "CRM" and rows[0]["source_records"].startswith('[{"')
    assert list(rows[0])[0] == "unified_id" and list(rows[0])[-2:] == ["sources", "source_records"]


def test_accept_text_csv_is_the_same_export_and_columns_pick_what_is_written(opportunities, api_a):
    rows = _csv(api_a.get("/api/dcl/views/opportunity/?columns=name,amount,sources&ordering=name",
                          HTTP_ACCEPT="text/csv"))
    assert list(rows[0]) == ["name", "amount", "sources"] and len(rows) == 23


def test_a_removed_connection_is_named_as_removed(opportunities, api_a, tenant_a):
    from dcl.models import RemovedConnection

    connection.set_tenant(tenant_a)
    Connection.objects.filter(pk=opportunities.pk).update(name="CRM renamed")
    # other deals than the first system's (the same name, amount and date in two systems is one deal)
    gone = _land(tenant_a, _other(_records(2, prefix="007")), name="Gone")
    forgotten = _land(tenant_a, _other(_records(2, prefix="008")), name="Forgotten")
    Connection.objects.filter(pk__in=[gone.pk, forgotten.pk]).delete()  # their rows stay in the view
    RemovedConnection.objects.filter(connection_id=forgotten.pk).delete()  # nothing left that names it
    connection.set_schema_to_public()
    rows = _csv(api_a.get("/api/dcl/views/opportunity/?format=csv&columns=id,sources"))
    sources = {r["id"]: r["sources"] for r in rows}
    assert sources["006000000000000001"] == "CRM renamed"
    assert sources["007000000000000001"] == "Gone (removed)"
    assert sources["008000000000000001"] == f"connection {forgotten.pk} (removed)"


@pytest.mark.parametrize(("query", "problem"), [
    ("colour=red", "colour"),
    ("amount__gte=lots", "amount__gte"),
    ("amount__between=1", "amount__between"),
    ("ordering=-colour", "ordering"),
    ("ordering=sources", "ordering"),
    ("columns=name,colour", "columns"),
    ("close_date=2026-13-45", "close_date"),
])
def test_bad_export_parameters_are_a_json_400_before_anything_is_sent(opportunities, api_a, query, problem):
    response = api_a.get(f"/api/dcl/views/opportunity/?format=csv&{query}")
    assert response.status_code == 400 and not response.streaming
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "invalid_query" and problem in error["details"] and error["message"]


def test_an_unknown_format_is_a_400_not_a_404(opportunities, api_a):
    response = api_a.get("/api/dcl/views/opportunity/?format=xlsx")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["format"] == "json, csv"


def test_an_export_of_a_view_not_materialized_is_404(api_a):
    response = api_a.get("/api/dcl/views/opportunity/?format=csv")
    assert response.status_code == 404 and "error" in response.json()


def test_another_tenants_view_cannot_be_exported(api_a, tenant_b):
    _land(tenant_b, _records(4))
    connection.set_schema_to_public()
    assert api_a.get("/api/dcl/views/opportunity/?format=csv").status_code == 404


def test_view_export_checks_its_parameters_itself(opportunities):
    with pytest.raises(ViewQueryError):
        view_export(entity="opportunity", columns=["nope"])
    with pytest.raises(ViewQueryError):
        view_export(entity="opportunity", filters={"amount__gte": "x"})
    with pytest.raises(ViewQueryError):
        view_export(entity="account")  # not materialized


# --- The default order -----------------------------------------------------------------------------


def test_each_default_order_is_a_column_with_an_index_of_its_own():
    for entity, column in DEFAULT_ORDERING.items():
        leading = {(spec if isinstance(spec, str) else spec[0]) for spec in INDEXED[entity]}
        assert column in leading, f"{entity}: {column} leads no index in INDEXED"


def test_the_default_order_is_read_from_its_index_not_sorted(opportunities):
    rows = view_rows(entity="opportunity", limit=50)
    keys = [(r["close_date"] is None, r["close_date"], r["unified_id"]) for r in rows]
    assert keys == sorted(keys), "close date ascending (empty last), then unified id"
    with connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("EXPLAIN SELECT * FROM dcl_view_opportunity ORDER BY close_date ASC, unified_id ASC LIMIT 50")
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert "close_date_idx" in plan and "Seq Scan on dcl_vdata_opportunity" not in plan, plan


def test_anything_but_the_rows_answers_json_when_csv_was_asked_for(opportunities, api_a):
    described = api_a.options("/api/dcl/views/opportunity/?format=csv")
    assert described.status_code == 200 and described["Content-Type"] == "application/json"
    assert described.json()["name"]
