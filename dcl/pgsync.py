"""DuckDB `view_<entity>` → PostgreSQL `dcl_view_<entity>` in the tenant's schema.

In ONE PostgreSQL transaction: create a new data table, COPY the view into it (DuckDB writes CSV
into a FIFO while this process streams it to COPY FROM STDIN, so neither waits for the other and
nothing is held in memory), build its key and indexes, point the view `dcl_view_<entity>` at it,
drop the previous data table, and record the catalog row. Readers see the old view until the
commit and the new one after; never a half-written one.

`dcl_view_<entity>` is a SQL view over `dcl_vdata_<entity>_<version>`: it has exactly the contract's
columns. `sources` is built per row from the lineage columns (a JSON list stored only for merged
rows): parsing a million one-element JSON arrays would cost COPY more than all other columns.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime

import duckdb
from django.db import connection as pg_connection
from django.db import transaction

from aam.ingest.kinds import Kind

from . import store
from .unify import ViewSpec

logger = logging.getLogger(__name__)

PG_TYPES = {
    Kind.STRING: "text",
    Kind.DECIMAL: "numeric",
    Kind.INTEGER: "bigint",
    Kind.BOOLEAN: "boolean",
    Kind.DATE: "date",
    Kind.DATETIME: "timestamptz",
    Kind.JSON: "jsonb",
}
# Columns the API filters and sorts on most, indexed per entity (when the entity has them).
INDEXED = {
    "account": ("name", "industry", "country", "updated_at"),
    "contact": ("email", "account_unified_id", "last_name", "updated_at"),
    # (stage, amount) also serves filters on stage alone; a page filtered on stage and sorted by amount
    # walks one range of it instead of the whole amount index.
    "opportunity": (("stage", "amount"), "amount", "close_date", "account_unified_id"),
    "cost": ("charge_period_start", "service_name", "billed_cost", "sub_account_id"),
    "cloud_resource": ("provider_name", "service_name", "region_id", "account_unified_id"),
}
_CHUNK = 1 << 20


def view_name(entity: str) -> str:
    return f"dcl_view_{store.ident(entity)}"


def data_table_name(entity: str, version: int) -> str:
    return f"dcl_vdata_{store.ident(entity)}_{int(version)}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _data_table_ddl(schema: str, table: str, spec: ViewSpec) -> str:
    cols = ["unified_id text NOT NULL"]
    cols += [f"{_q(n)} {PG_TYPES[k]}" for n, k in spec.fields.items()]
    if spec.linked:
        cols.append("account_unified_id text")
    cols += [
        "source_count integer NOT NULL",
        "_src_connection_id bigint",
        "_src_kind text",
        "_src_object text",
        "_src_id text",
        "_sources_multi jsonb",
    ]
    return f"CREATE TABLE {_q(schema)}.{_q(table)} ({', '.join(cols)})"


def _view_ddl(schema: str, entity: str, table: str, spec: ViewSpec, materialized_at: datetime, *, replace: bool) -> str:
    cols = ["unified_id"] + [_q(n) for n in spec.fields]
    if spec.linked:
        cols.append("account_unified_id")
    sources = (
        "COALESCE(_sources_multi, jsonb_build_array(jsonb_build_object('connection_id', _src_connection_id, "
        "'connection_kind', _src_kind, 'source_object', _src_object, 'source_id', _src_id))) AS sources"
    )
    return (
        f"CREATE {'OR REPLACE ' if replace else ''}VIEW {_q(schema)}.{_q(view_name(entity))} AS "
        f"SELECT {', '.join(cols)}, source_count, {sources}, "
        f"'{materialized_at.isoformat()}'::timestamptz AS materialized_at FROM {_q(schema)}.{_q(table)}"
    )


def _export_query(entity: str, spec: ViewSpec) -> str:
    # Text arrives without NUL bytes (aam.ingest.coerce removes them): no per-value clean-up here.
    cols = ["unified_id", *(store.quote(name) for name in spec.fields)]
    if spec.linked:
        cols.append("account_unified_id")
    cols += ["source_count", "_src_connection_id", "_src_kind", "_src_object", "_src_id", "_sources_multi"]
    return f"SELECT {', '.join(cols)} FROM view_{store.ident(entity)}"


def copy_view(
    duck: duckdb.DuckDBPyConnection, cursor, *, schema: str, table: str, entity: str, spec: ViewSpec, fifo_dir
) -> int:
    """Stream DuckDB's view into the (new, empty) PostgreSQL table; returns the bytes copied."""
    fifo = os.path.join(str(fifo_dir), f"export-{entity}-{os.getpid()}-{threading.get_ident()}.csv")
    if os.path.exists(fifo):
        os.remove(fifo)
    os.mkfifo(fifo, 0o600)
    error: list[BaseException] = []
    query = _export_query(entity, spec)
    writer = duck.cursor()

    def export() -> None:
        try:
            writer.execute(f"COPY ({query}) TO '{fifo}' (FORMAT csv, HEADER false)")
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            error.append(exc)
            # The reader may still be waiting in open(): give it an end of file.
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                os.close(fd)
            except OSError:
                pass

    thread = threading.Thread(target=export, name=f"dcl-export-{entity}", daemon=True)
    thread.start()
    copied = 0
    try:
        with open(fifo, "rb") as source, cursor.copy(f"COPY {_q(schema)}.{_q(table)} FROM STDIN (FORMAT csv)") as sink:
            while True:
                chunk = source.read(_CHUNK)
                if not chunk:
                    break
                sink.write(chunk)
                copied += len(chunk)
    finally:
        thread.join()
        writer.close()
        try:
            os.remove(fifo)
        except OSError:
            pass
    if error:
        raise error[0]
    return copied


def publish_view(
    duck: duckdb.DuckDBPyConnection,
    *,
    schema: str,
    entity: str,
    spec: ViewSpec,
    version: int,
    materialized_at: datetime,
    fifo_dir,
    on_commit_catalog,
) -> int:
    """Replace `dcl_view_<entity>` with DuckDB's current view; returns its row count.

    `on_commit_catalog(row_count, data_table)` runs inside the same transaction (the catalog row
    changes together with the view).
    """
    table = data_table_name(entity, version)
    started = time.monotonic()
    with transaction.atomic(), pg_connection.cursor() as cur:
        # A leftover of the same name (an earlier catalog that was wiped) goes, with its view.
        cur.execute(f"DROP TABLE IF EXISTS {_q(schema)}.{_q(table)} CASCADE")
        cur.execute(_data_table_ddl(schema, table, spec))
        raw = cur.cursor if hasattr(cur, "cursor") else cur
        copy_view(duck, raw, schema=schema, table=table, entity=entity, spec=spec, fifo_dir=fifo_dir)
        rows = raw.rowcount
        copied_at = time.monotonic()
        # Index builds sort in memory rather than on disk (local to this transaction).
        cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cur.execute(f"ALTER TABLE {_q(schema)}.{_q(table)} ADD PRIMARY KEY (unified_id)")
        present = set(spec.fields) | ({"account_unified_id"} if spec.linked else set())
        for col in INDEXED.get(entity, ()):
            cols = (col,) if isinstance(col, str) else col
            if set(cols) <= present:
                cur.execute(f"CREATE INDEX ON {_q(schema)}.{_q(table)} ({', '.join(_q(c) for c in cols)})")
        indexed_at = time.monotonic()
        cur.execute(f"ANALYZE {_q(schema)}.{_q(table)}")
        if rows is None or rows < 0:
            cur.execute(f"SELECT count(*) FROM {_q(schema)}.{_q(table)}")
            rows = cur.fetchone()[0]
        cur.execute("SET LOCAL lock_timeout = '30s'")
        cur.execute("SAVEPOINT dcl_view_replace")
        try:
            cur.execute(_view_ddl(schema, entity, table, spec, materialized_at, replace=True))
        except Exception:  # noqa: BLE001 - the columns changed (ontology): drop and create
            cur.execute("ROLLBACK TO SAVEPOINT dcl_view_replace")
            cur.execute(f"DROP VIEW IF EXISTS {_q(schema)}.{_q(view_name(entity))}")
            cur.execute(_view_ddl(schema, entity, table, spec, materialized_at, replace=False))
        cur.execute("RELEASE SAVEPOINT dcl_view_replace")
        cur.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
            [schema, f"dcl\\_vdata\\_{entity}\\_%"],
        )
        for (old,) in cur.fetchall():
            if old != table and old.rsplit("_", 1)[0] == f"dcl_vdata_{entity}":
                cur.execute(f"DROP TABLE IF EXISTS {_q(schema)}.{_q(old)}")
        on_commit_catalog(rows, table)
    logger.info(
        "view %s: %d rows to PostgreSQL (copy %.2fs, indexes %.2fs, total %.2fs)",
        entity,
        rows,
        copied_at - started,
        indexed_at - copied_at,
        time.monotonic() - started,
    )
    return rows
