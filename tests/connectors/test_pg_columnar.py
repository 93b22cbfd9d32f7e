"""The PostgreSQL driver's columnar pages (COPY → Arrow) against the former row path (ADR 0018)."""

from __future__ import annotations

import json
import uuid

import psycopg
import pyarrow as pa
import pytest

from aam.ingest.normalize import page_table, records_to_table
from connectors.errors import ConnectorError, ObjectNotFound

from .test_db_drivers import _server, pg_driver, source_db  # noqa: F401 - the fixture

TYPES_DDL = """
    CREATE TABLE typed (
        id bigint PRIMARY KEY, small smallint, big bigint, n numeric(20, 6), f double precision, r real,
        b boolean, d date, ts timestamp, tstz timestamptz, u uuid, j jsonb, js json, arr int[], tarr text[],
        t text, c char(5), v varchar(10), bin bytea, updated_at timestamptz
    )
"""
ROWS = """
    INSERT INTO typed VALUES
    (1, 1, 9007199254740993, 12345678901234.123456, 1.5, 1.1, true, '2024-01-31', '2024-01-31 10:00:00',
     '2024-01-31 10:00:00.5+02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": 1, "a": [1, "x"]}',
     '{"nul": "a\\u0000b"}', '{1,2,NULL}', '{"x,y","q\\"z"}', 'line1\nline2, "quoted"', 'ab', '',
     '\\x00ff', '2024-02-01T00:00:00Z'),
    (2, NULL, NULL, NULL, 'NaN', NULL, false, NULL, '0099-01-01 00:00:00.000001', NULL, NULL, 'null',
     NULL, '{}', NULL, '', NULL, NULL, NULL, NULL),
    (3, -5, -1, -0.000001, '-Infinity', 0, NULL, NULL, NULL, '2024-06-01 00:00:00+00', NULL, '"s"', '[1]',
     '{{1,2},{3,4}}', '{}', NULL, '     ', 'x', '\\x', '2024-02-01T00:00:00Z')
"""


def _connect(db):
    return psycopg.connect(dbname=db["database"], autocommit=True, **{k: v for k, v in _server().items() if v})


@pytest.fixture(scope="module")
def typed_db(source_db):  # noqa: F811
    with _connect(source_db) as c:
        c.execute("DROP TABLE IF EXISTS typed")
        c.execute(TYPES_DDL)
        c.execute(ROWS)
        c.execute("DROP TABLE IF EXISTS odd")
        c.execute("CREATE TABLE odd (id int PRIMARY KEY, d date, tstz timestamptz, updated_at timestamptz)")
        c.execute(
            "INSERT INTO odd VALUES (1, 'infinity', '-infinity', NULL), (2, '0044-03-15 BC', '10000-01-01', NULL)"
        )
    return source_db


def _json_or_text(value):
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value


def test_columnar_pages_hold_what_the_row_path_gave_ingestion(typed_db):
    drv = pg_driver(typed_db)
    new = [page_table(p) for p in drv.read("typed", None, 2)]
    old = [records_to_table(p.records) for p in drv.read_rows("typed", None, 2)]
    # NULL updated_at first; the row path asks once more after a full last page (an empty page)
    assert [t.num_rows for t in new] == [1, 2] and [t.num_rows for t in old] == [1, 2, 0]
    assert all(isinstance(p.table, pa.Table) and p.records == [] for p in drv.read("typed", None, 2))
    new_rows = {r["id"]: r for t in new for r in t.to_pylist()}
    old_rows = {r["id"]: r for t in old for r in t.to_pylist()}
    first_new, first_old = new_rows[1], old_rows[1]
    # same values, to the character, for scalar types
    for name in ("small", "big", "n", "f", "r", "b", "d", "ts", "tstz", "u", "t", "c", "v", "bin", "updated_at"):
        assert first_new[name] == first_old[name], name
    # JSON documents and arrays: the same JSON (PostgreSQL orders jsonb keys its own way)
    for name in ("j", "js", "arr", "tarr"):
        assert json.loads(first_new[name]) == _json_or_text(first_old[name]), name
    assert json.loads(first_new["js"]) == {"nul": "a\x00b"}  # a NUL byte inside json survives
    assert first_new["n"] == "12345678901234.123456" and first_new["big"] == 9007199254740993
    assert first_new["tstz"] == "2024-01-31T08:00:00.500000+00:00" and first_new["ts"] == "2024-01-31T10:00:00"
    assert first_new["c"] == "ab   " and first_new["v"] == "" and first_new["bin"] == "00ff"
    assert first_new["t"] == 'line1\nline2, "quoted"'
    third = new_rows[3]
    assert third["t"] is None and third["c"] == "     " and third["f"] == float("-inf") and third["n"] == "-0.000001"
    assert json.loads(third["arr"]) == [[1, 2], [3, 4]] and third["small"] == -5 and third["b"] is None
    second = new_rows[2]
    assert second["t"] == "" and second["ts"] == "0099-01-01T00:00:00.000001" and second["f"] != second["f"]  # NaN
    assert {k: v for k, v in second.items() if k != "f"} == {k: v for k, v in old_rows[2].items() if k != "f"}
    # column types: what records_to_table inferred from the row path's values
    schema = new[1].schema
    assert schema.field("big").type == pa.int64() and schema.field("f").type == pa.float64()
    assert schema.field("b").type == pa.bool_() and schema.field("n").type == pa.string()


def test_values_the_row_path_could_not_read_arrive_as_postgres_text(typed_db):
    drv = pg_driver(typed_db)
    with pytest.raises(ConnectorError, match="date too large"):
        list(drv.read_rows("odd"))  # the row path failed the whole read
    rows = [r for p in drv.read("odd") for r in p.rows()]
    assert rows == [
        {"id": 1, "d": "infinity", "tstz": "-infinity", "updated_at": None},
        {"id": 2, "d": "0044-03-15 BC", "tstz": "10000-01-01 00:00:00+00", "updated_at": None},
    ]  # the coercion quarantines them with a reason, the other rows land


def test_columnar_cursors_equal_the_row_path_cursors(typed_db, source_db):  # noqa: F811
    drv = pg_driver(source_db)
    for size in (1, 3, 4, 1000):
        assert [p.cursor for p in drv.read("accounts", None, size)] == [
            p.cursor for p in drv.read_rows("accounts", None, size) if p.records
        ]
    cursors = [p.cursor for p in drv.read("accounts", None, 4)]
    middle = cursors[3]
    assert [r["id"] for p in drv.read("accounts", middle, 4) for r in p.rows()] == [
        r["id"] for p in drv.read_rows("accounts", middle, 4) for r in p.records
    ]
    assert list(drv.read("accounts", cursors[-1], 4)) == []  # nothing new after the last page


def test_columnar_table_without_primary_key_is_read_in_pages(source_db):  # noqa: F811
    with _connect(source_db) as c:
        c.execute("DROP TABLE IF EXISTS bulk_no_pk")
        c.execute(
            "CREATE TABLE bulk_no_pk AS "
            "SELECT g AS a, repeat('x', g % 7) || E'\\n' AS b FROM generate_series(1, 2500) g"
        )
    pages = list(pg_driver(source_db).read("bulk_no_pk", None, 1000))
    assert [p.record_count for p in pages] == [1000, 1000, 500] and all(p.cursor is None for p in pages)
    rows = [r for p in pages for r in p.rows()]
    assert sorted(r["a"] for r in rows) == list(range(1, 2501))
    assert all(r["b"] == "x" * (r["a"] % 7) + "\n" for r in rows)


def test_a_table_that_vanished_after_discovery_is_object_not_found(source_db):  # noqa: F811
    name = f"gone_{uuid.uuid4().hex[:6]}"
    with _connect(source_db) as c:
        c.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, updated_at timestamptz)")
        drv = pg_driver(source_db)
        assert name in drv.tables()
        c.execute(f"DROP TABLE {name}")
    with pytest.raises(ObjectNotFound, match="gone"):
        list(drv.read(name))


def test_pages_of_one_copy_carry_their_own_cursors_and_an_abandoned_read_leaves_the_session_usable(
    source_db, monkeypatch  # noqa: F811
):
    from connectors.kinds.postgres import driver as pg

    monkeypatch.setattr(pg, "COPY_CHUNK_ROWS", 5)  # several COPYs of 4 rows (whole pages), pages of 2
    drv = pg_driver(source_db)
    pages = list(drv.read("accounts", None, 2))
    assert [p.cursor for p in pages] == [p.cursor for p in drv.read_rows("accounts", None, 2) if p.records]
    ids = [r["id"] for p in pages for r in p.rows()]
    assert len(ids) == len(set(ids)) == 25
    # every page's cursor resumes right after that page
    for i in (0, 3, 6, 11):
        assert [r["id"] for p in drv.read("accounts", pages[i].cursor, 2) for r in p.rows()] == [
            r["id"] for p in pages[i + 1 :] for r in p.rows()
        ]
    monkeypatch.setattr(pg, "COPY_CHUNK_ROWS", 200_000)
    with _connect(source_db) as c:
        c.execute("DROP TABLE IF EXISTS long_read")
        c.execute("CREATE TABLE long_read AS SELECT g AS id, repeat('y', 100) AS pad FROM generate_series(1, 50000) g")
        c.execute("ALTER TABLE long_read ADD PRIMARY KEY (id)")
    drv = pg_driver(source_db)
    reading = drv.read("long_read", None, 10)
    assert next(reading).record_count == 10
    reading.close()  # a consumer that stops mid-COPY (49,990 rows not read)
    assert drv.check().ok and len([r for p in drv.read("events") for r in p.rows()]) == 7


def test_bench_pg_read_reads_every_row_each_way_and_drops_its_database(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("bench_pg_read", rows=300, page_size=70, stdout=out)
    text = out.getvalue()
    assert "rows: 300 records" in text and "csv: 300 records" in text and "adbc: 300 records" in text
    scratch = text.split("(database ")[1].split(")")[0]
    with psycopg.connect(dbname="postgres", autocommit=True, **{k: v for k, v in _server().items() if v}) as c:
        assert c.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [scratch]).fetchone()[0] == 0
