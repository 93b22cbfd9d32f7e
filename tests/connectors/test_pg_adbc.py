"""The PostgreSQL driver's ADBC read path (connectors/kinds/postgres/adbc.py, ADR 0018 addendum): the
session it reads in, the TLS settings its own libpq gets, its errors, and its pages against the CSV COPY
path value for value. The row-path equivalence, cursors and an abandoned read: tests/connectors/test_pg_columnar.py."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from aam.ingest.normalize import page_table
from connectors.errors import ConnectorError, ObjectNotFound, PermanentError
from connectors.kinds.postgres import adbc

from .test_db_drivers import _server, pg_driver, source_db  # noqa: F401 - the fixture
from .test_pg_columnar import typed_db  # noqa: F401 - the fixture


def _connect(db):
    return psycopg.connect(dbname=db["database"], autocommit=True, **{k: v for k, v in _server().items() if v})


def test_adbc_session_reads_read_only_in_utc_with_iso_dates(source_db):  # noqa: F811
    drv = pg_driver(source_db)
    query = ("SELECT current_setting('default_transaction_read_only'), current_setting('TimeZone'), "
             "current_setting('DateStyle'), current_setting('statement_timeout'), current_setting('application_name')")
    (batch,) = list(adbc.batches(drv._adbc_connection(), query, list("abcde"), {}))
    assert batch.to_pylist() == [{"c0": "on", "c1": "UTC", "c2": "ISO, YMD", "c3": "5min",
                                  "c4": "autonomos-connector"}]
    with pytest.raises(ConnectorError, match="read-only transaction"):
        list(adbc.batches(drv._adbc_connection(), "CREATE TABLE not_allowed (x int)", ["x"], {}))


def _pages(pages) -> list:
    """Pages as comparable values (NaN is not equal to itself)."""
    return [([{k: "NaN" if v != v else v for k, v in row.items()} for row in page_table(p).to_pylist()], p.cursor)
            for p in pages]


def test_adbc_read_gives_the_same_pages_as_the_csv_copy_path(typed_db):  # noqa: F811
    with _connect(typed_db) as c:  # dates and timestamps at the edges of the range sent in binary
        c.execute("DROP TABLE IF EXISTS edges")
        c.execute("CREATE TABLE edges (id int PRIMARY KEY, d date, ts timestamp, tstz timestamptz, r real)")
        c.execute("""INSERT INTO edges VALUES
            (1, '0001-01-01', '0001-01-01 00:00:00', '0001-01-01 00:00:00+00', 3.4028235e38),
            (2, '9999-12-31', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59.999999+00', -0.1),
            (3, '-infinity', '-infinity', '0001-01-01 00:00:00+01', 'NaN'),
            (4, '0001-12-31 BC', '10000-01-01 00:00:00', '2024-03-31 01:30:00.000001-07:30', 'Infinity'),
            (5, '2024-02-29', '2024-02-29 12:00:00.5', '1969-12-31 23:59:59.999999+00', 1e-45),
            (6, NULL, NULL, NULL, NULL)""")
    drv = pg_driver(typed_db)
    edges = [r for p in drv.read("edges") for r in p.rows()]
    assert [(r["d"], r["tstz"]) for r in edges[:4]] == [
        ("0001-01-01", "0001-01-01T00:00:00+00:00"), ("9999-12-31", "9999-12-31T23:59:59.999999+00:00"),
        ("-infinity", "0001-12-31 23:00:00+00 BC"), ("0001-12-31 BC", "2024-03-31T09:00:00.000001+00:00")]
    for table in ("typed", "odd", "accounts", "no_pk", "edges"):
        through_adbc = _pages(drv.read(table, None, 2))
        through_csv = _pages(drv.read_copy_csv(table, None, 2))
        assert through_adbc and through_adbc[0][0]
        assert through_adbc == through_csv, table
        assert [page_table(p).schema for p in drv.read(table, None, 2)] == [
            page_table(p).schema for p in drv.read_copy_csv(table, None, 2)]


def test_adbc_gets_the_tls_mode_of_the_connection(source_db):  # noqa: F811
    # the local server offers no TLS (or not with this root): ADBC's libpq refuses as psycopg's does
    info = {"host": source_db["host"], "port": source_db["port"], "dbname": source_db["database"],
            "user": source_db["user"], "sslmode": "verify-full", "sslrootcert": "/nonexistent/root.crt"}
    with pytest.raises(PermanentError, match="cannot connect"):
        adbc.connect(info, ("SSL", "does not exist", "root certificate"))


def test_adbc_errors_are_the_connectors_own(source_db):  # noqa: F811
    role, table = f"reader_{uuid.uuid4().hex[:8]}", f"locked_{uuid.uuid4().hex[:6]}"
    with _connect(source_db) as c:
        c.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, updated_at timestamptz)")
        c.execute(f"CREATE ROLE {role} LOGIN")
        c.execute(f"GRANT SELECT ON {table} TO {role}")
        try:
            drv = pg_driver({**source_db, "user": role})
            assert table in drv.tables()
            c.execute(f"REVOKE SELECT ON {table} FROM {role}")
            with pytest.raises(PermanentError, match="permission denied"):
                list(drv.read(table))
            c.execute(f"DROP TABLE {table}")
            with pytest.raises(ObjectNotFound, match="gone"):
                list(drv.read(table))
            drv.close()
        finally:
            c.execute(f"DROP TABLE IF EXISTS {table}")
            c.execute(f"DROP OWNED BY {role}")
            c.execute(f"DROP ROLE {role}")
