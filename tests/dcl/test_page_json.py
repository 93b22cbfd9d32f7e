"""Pages rendered as JSON by PostgreSQL (dcl/selectors.py: rows_json_sql) are byte-identical to the
Python renderer (row dicts from psycopg, `_render`, json.dumps with DjangoJSONEncoder) on varied
data: decimals with trailing zeros, NaN and infinities, extreme integers, nulls, timestamps with and
without milliseconds and from other time zones, dates, unicode, quotes, control characters, JSON."""

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test import override_settings

from dcl.api.views import _render
from dcl.selectors import _fetch, ascii_json, rows_json_sql
from tests.conftest import host_of
from tests.pipeline.support import opportunity_records

pytestmark = pytest.mark.django_db

COLUMNS = [
    ("unified_id", "text"), ("name", "text"), ("amount", "numeric"), ("qty", "numeric"), ("n", "bigint"),
    ("flag", "boolean"), ("d", "date"), ("ts", "timestamp with time zone"), ("sources", "jsonb"),
    ("extra", "jsonb"), ("raw", "jsonb"),
]
DECODED = {"sources", "extra"}  # `raw` is a jsonb column the Python renderer hands over as text
TRICKY = 'Ünïcødé € 😀 "quoted" back\\slash /slash\nnewline\ttab \x01 ctrl \x1f \x7f del \u2028 sep'
ROWS = [
    ("a", "plain", "1.5000000000", "100.00", 42, True, "2024-01-02", "2024-01-02 03:04:05+00",
     '[{"source_id": "x", "n": 1}]', '{"b": [1, 2], "a": {"c": null, "d": true}}', '{"x": 1}'),
    ("b", TRICKY, "0.0000000001", "0", -9223372036854775808, False, "0999-12-31", "2024-06-30 23:59:59.999999+00",
     "[]", json.dumps("string é 😀 \n"), '[1, "two", -3, 12345678901234567890123]'),
    ("c", None, None, None, None, None, None, None, None, None, None),
    ("d", "", "-12345678901234567890.1234567890", "NaN", 9223372036854775807, True, "9999-12-31",
     "2024-01-02 03:04:05.0005+00", '{"k": "v"}', "{}", '"text"'),
    ("e", "x", "123.4500", "Infinity", 0, False, "2000-02-29", "2024-01-02 03:04:05.123+05:30",
     '[{"é": "ü"}]', "[]", "null"),
    ("f", "y", "1E+5", "-Infinity", 7, True, "1970-01-01", "1969-12-31 23:59:59.5+00", "[]", "{}", "{}"),
]


@pytest.fixture
def table(in_tenant_a):
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE page_json_probe (unified_id text COLLATE \"C\", name text, amount numeric(38, 10), "
            "qty numeric, n bigint, flag boolean, d date, ts timestamptz, sources jsonb, extra jsonb, raw jsonb)"
        )
        for row in ROWS:
            cur.execute("INSERT INTO page_json_probe VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", list(row))
    yield "page_json_probe"
    with connection.cursor() as cur:
        cur.execute("DROP TABLE page_json_probe")


def _python(table: str, order: str, limit: int, offset: int) -> str:
    rows = _fetch(f"SELECT * FROM {table}{order} LIMIT %s OFFSET %s", [limit, offset], DECODED)
    return json.dumps([_render(r) for r in rows], cls=DjangoJSONEncoder)


def _sql(table: str, order: str, limit: int, offset: int) -> tuple[str, bool]:
    sql = rows_json_sql(table, COLUMNS, DECODED, "", order)
    with connection.cursor() as cur:
        cur.execute(sql, [limit, offset])
        text, needs_python = cur.fetchone()
    return ascii_json(text), needs_python


@pytest.mark.parametrize(
    ("order", "limit", "offset"),
    [
        (' ORDER BY "unified_id" ASC', 100, 0),
        (' ORDER BY "unified_id" DESC', 100, 0),
        (' ORDER BY "amount" DESC, "unified_id" DESC', 3, 1),
        (' ORDER BY "ts" ASC, "unified_id" ASC', 2, 4),
        (' ORDER BY "unified_id" ASC', 10, 50),  # an empty page
    ],
)
def test_postgresql_renders_rows_byte_for_byte_like_python(table, order, limit, offset):
    expected = _python(table, order, limit, offset)
    text, needs_python = _sql(table, order, limit, offset)
    assert not needs_python
    if text != expected:
        at = next(i for i, (a, b) in enumerate(zip(text, expected, strict=False)) if a != b)
        raise AssertionError(f"differ at {at}: sql {text[at - 80:at + 80]!r} python {expected[at - 80:at + 80]!r}")


def test_each_value_kind_is_rendered_like_python(table):
    rendered = json.loads(_sql(table, ' ORDER BY "unified_id" ASC', 100, 0)[0])
    by_id = {r["unified_id"]: r for r in rendered}
    assert by_id["a"]["amount"] == "1.5" and by_id["a"]["qty"] == "100" and by_id["e"]["amount"] == "123.45"
    assert by_id["d"]["qty"] == "NaN" and by_id["e"]["qty"] == "Infinity" and by_id["f"]["amount"] == "100000"
    assert by_id["b"]["ts"] == "2024-06-30T23:59:59.999Z" and by_id["d"]["ts"] == "2024-01-02T03:04:05.000Z"
    assert by_id["e"]["ts"] == "2024-01-01T21:34:05.123Z" and by_id["a"]["ts"] == "2024-01-02T03:04:05Z"
    assert by_id["b"]["name"] == TRICKY and by_id["c"]["name"] is None
    assert by_id["a"]["raw"] == '{"x": 1}'  # a jsonb column Python does not decode stays text
    assert "\\ud83d\\ude00" in _sql(table, ' ORDER BY "unified_id" ASC', 100, 0)[0]  # escaped like json.dumps


def test_json_with_decimal_point_numbers_is_left_to_python(table):
    with connection.cursor() as cur:
        cur.execute("UPDATE page_json_probe SET extra = '{\"v\": [1, {\"w\": 1.50}]}' WHERE unified_id = 'b'")
    _, needs_python = _sql(table, ' ORDER BY "unified_id" ASC', 100, 0)
    assert needs_python  # json.loads would read 1.50 as 1.5
    _, other_page = _sql(table, ' ORDER BY "unified_id" ASC', 1, 0)
    assert not other_page  # only the page holding such a value


def test_ascii_json_escapes_like_json_dumps():
    text = '["Ü€😀\x7f", "ok"]'
    assert ascii_json(text) == json.dumps(["Ü€😀\x7f", "ok"])
    assert ascii_json('["plain"]') == '["plain"]'


def _publish_tricky(tenant):
    from connectors.models import Connection
    from dcl.services import views_materialize
    from tests.pipeline.support import batches_for, publish

    records = opportunity_records(30, amount_of=lambda i: ["1.5000", "100.00", "0.0000000001", "7"][i % 4])
    for i, record in enumerate(records):
        if i % 3 == 0:
            record["Name"] = f"{TRICKY} {i}"
        if i % 5 == 0:
            record["Amount"] = ""
    connection.set_tenant(tenant)
    conn, _ = Connection.objects.get_or_create(name="SF", kind="salesforce")
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, records))
    views_materialize(tenant=tenant)
    connection.set_schema_to_public()


@pytest.mark.parametrize(
    "query",
    [
        "page_size=100",
        "page_size=7&page=2&ordering=-amount",
        "page_size=5&ordering=name&search=%C3%9C",
        "page_size=10&amount__isnull=true",
        "page_size=10&stage=Nothing",
    ],
)
def test_the_api_sends_the_same_bytes_whichever_renders_the_page(api_a, tenant_a, query, monkeypatch):
    from dcl import selectors

    rendered = []
    real = selectors.view_rows_json

    def spy(**kwargs):
        rendered.append(real(**kwargs))
        return rendered[-1]

    monkeypatch.setattr(selectors, "view_rows_json", spy)
    _publish_tricky(tenant_a)
    url = f"/api/dcl/views/opportunity/?{query}"
    with override_settings(DCL_PAGE_CACHE_SECONDS=0, DCL_PAGE_JSON_SQL=False):
        python = api_a.get(url)
    assert rendered == []
    with override_settings(DCL_PAGE_CACHE_SECONDS=0, DCL_PAGE_JSON_SQL=True):
        sql = api_a.get(url)
    assert len(rendered) == 1 and isinstance(rendered[0], selectors.RowsJSON)  # PostgreSQL rendered it
    assert python.status_code == sql.status_code == 200
    assert sql.content == python.content
    assert json.loads(sql.content)["next"] is None or host_of(tenant_a) in json.loads(sql.content)["next"]
