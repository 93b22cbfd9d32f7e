"""DuckDB `view_<entity>` → PostgreSQL `dcl_view_<entity>` in the tenant's schema.

A new data table is filled and indexed while the view `dcl_view_<entity>` still points at the
previous one; then ONE PostgreSQL transaction points the view at the new table, drops the previous
one and records the catalog row (see `publish_view`). Readers see the old view until that commit
and the new one after; never a half-written one.

The COPY is binary: DuckDB hands the view over as Arrow record batches and pgpq encodes them in
PostgreSQL's binary COPY format, so neither side formats or parses text (numbers and timestamps
as text cost DuckDB's CSV writer and PostgreSQL's COPY parser about twice the CPU), and nothing
bigger than one batch is held in memory.

`dcl_view_<entity>` is a SQL view over `dcl_vdata_<entity>_<version>`: it has exactly the contract's
columns. `sources` is built per row from the lineage columns (a JSON list stored only for merged
rows): parsing a million one-element JSON arrays would cost COPY more than all other columns.
A per-record view's canonical values (`ViewSpec.read_time_values`) are computed there too, when it is
read: its data table holds each value field's raw text, and the view joins the tenant's value-map
mirrors (dcl/valuemap.py `PgDialect`, the same SQL as DuckDB's view): publishing them would double
the bytes COPY takes (docs/adr/0014-canonical-values.md).
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import closing
from datetime import datetime

import duckdb
import pyarrow as pa
from django.conf import settings
from django.db import connection as pg_connection
from django.db import transaction
from pgpq import ArrowToPostgresBinaryEncoder
from pgpq import encoders as pg_encoders
from pgpq import schema as pg_schema
from psycopg.copy import LibpqWriter
from psycopg.generators import copy_to

from aam.ingest.kinds import Kind
from autonomos.core.threads import produced_ahead

from . import store
from .unify import ViewSpec, publish_relation
from .valuemap import PgDialect, ValueSql, pg_ensure_tables

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
COPY_BATCH_ROWS = 16_384  # ~7 MB encoded for a wide entity
COPY_QUEUE = 4  # encoded batches waiting to be sent, at most
COPY_WRITE_BYTES = 1 << 20  # the slices a batch is handed to libpq in (each sent before the next)
# The Arrow type each PostgreSQL column type is encoded from (binary COPY has no casts: the wire
# format must be the column's own).
ARROW_FOR_PG = {
    "text": pa.string(),
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "jsonb": pa.string(),
}


def view_name(entity: str) -> str:
    return f"dcl_view_{store.ident(entity)}"


def data_table_name(entity: str, version: int) -> str:
    return f"dcl_vdata_{store.ident(entity)}_{int(version)}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _is_identifier(name: str) -> bool:
    return name == "id" or name.endswith("_id")


def _table_columns(spec: ViewSpec) -> list[tuple[str, str]]:
    """(column, PostgreSQL type) of the data table, in the export query's order.

    Identifiers (`unified_id`, `*_id`) are opaque: they compare byte by byte (COLLATE "C"), which
    makes their indexes about twice as fast to build and to search as under a linguistic collation,
    where PostgreSQL cannot use abbreviated sort keys."""
    cols = [("unified_id", 'text COLLATE "C" NOT NULL')]
    for name, kind in spec.stored_fields.items():
        pg_type = PG_TYPES[kind]
        cols.append((name, 'text COLLATE "C"' if pg_type == "text" and _is_identifier(name) else pg_type))
    if spec.linked:
        cols.append(("account_unified_id", 'text COLLATE "C"'))
    cols += [
        ("source_count", "integer NOT NULL"),
        ("_src_connection_id", "bigint"),
        ("_src_kind", "text"),
        ("_src_object", "text"),
        ("_src_id", 'text COLLATE "C"'),
        ("_sources_multi", "jsonb"),
    ]
    return cols


def _data_table_ddl(schema: str, table: str, spec: ViewSpec) -> str:
    cols = [f"{_q(n)} {t}" for n, t in _table_columns(spec)]
    return f"CREATE TABLE {_q(schema)}.{_q(table)} ({', '.join(cols)})"


def _view_ddl(schema: str, entity: str, table: str, spec: ViewSpec, materialized_at: datetime, *, replace: bool,
              available: set[str] | dict[str, str] = frozenset()) -> str:
    """The view over `table`; with `spec.read_time_values` it computes the value columns, over the value-map
    mirrors, from DuckDB's definitions (`available`: the DuckDB source table's columns the view was built from)."""
    computed, joins = {}, ""
    if spec.read_time_values:
        vsql = ValueSql(PgDialect(schema), entity, spec.values, available)
        computed, joins = vsql.columns(), vsql.joins()
    cols = ["s.unified_id"] + [f"{computed[n]} AS {_q(n)}" if n in computed else f"s.{_q(n)}" for n in spec.fields]
    if spec.linked:
        cols.append("s.account_unified_id")
    sources = (
        "COALESCE(s._sources_multi, jsonb_build_array(jsonb_build_object('connection_id', s._src_connection_id, "
        "'connection_kind', s._src_kind, 'source_object', s._src_object, 'source_id', s._src_id))) AS sources"
    )
    return (
        f"CREATE {'OR REPLACE ' if replace else ''}VIEW {_q(schema)}.{_q(view_name(entity))} AS "
        f"SELECT {', '.join(cols)}, s.source_count, {sources}, "
        f"'{materialized_at.isoformat()}'::timestamptz AS materialized_at FROM {_q(schema)}.{_q(table)} s {joins}"
    )


def _export_query(entity: str, spec: ViewSpec, relation: str | None = None) -> str:
    # Text arrives without NUL bytes (aam.ingest.coerce removes them): no per-value clean-up here.
    cols = ["unified_id", *(store.quote(name) for name in spec.stored_fields)]
    if spec.linked:
        cols.append("account_unified_id")
    cols += ["source_count", "_src_connection_id", "_src_kind", "_src_object", "_src_id", "_sources_multi"]
    if relation is None:
        relation = publish_relation(entity) if spec.read_time_values else f"view_{store.ident(entity)}"
    return f"SELECT {', '.join(cols)} FROM {relation}"


def _arrow_schema(spec: ViewSpec, incoming: pa.Schema) -> pa.Schema:
    fields = []
    for (name, pg_type), field in zip(_table_columns(spec), incoming, strict=True):
        base = pg_type.split()[0]
        if base == "numeric":
            wanted = field.type if pa.types.is_decimal(field.type) else pa.decimal128(38, 10)
        else:
            wanted = ARROW_FOR_PG[base]
        fields.append(pa.field(name, wanted))
    return pa.schema(fields)


def _encoder(spec: ViewSpec, arrow_schema: pa.Schema) -> ArrowToPostgresBinaryEncoder:
    jsonb = {name for name, pg_type in _table_columns(spec) if pg_type == "jsonb"}
    encoders = {
        field.name: pg_encoders.StringEncoderBuilder.new_with_output(field, pg_schema.Jsonb())
        if field.name in jsonb
        else ArrowToPostgresBinaryEncoder.infer_encoder(field)
        for field in arrow_schema
    }
    return ArrowToPostgresBinaryEncoder.new_with_encoders(arrow_schema, encoders)


def _encoded_batches(duck: duckdb.DuckDBPyConnection, entity: str, spec: ViewSpec, relation: str | None = None):
    """The view (or `relation`, of the same columns) in PostgreSQL's binary COPY format: a header, one
    buffer per Arrow batch, a trailer."""
    reader = duck.execute(_export_query(entity, spec, relation)).fetch_record_batch(COPY_BATCH_ROWS)
    target = _arrow_schema(spec, reader.schema)
    encoder = _encoder(spec, target)
    yield encoder.write_header(), 0
    for batch in reader:
        if batch.schema != target:
            batch = batch.cast(target)
        yield encoder.write_batch(batch), batch.num_rows
    yield encoder.finish(), 0


class FlushingWriter(LibpqWriter):
    """psycopg's COPY writer, except that each slice is sent before the next is queued.

    psycopg only flushes libpq's output buffer on macOS. Elsewhere, when the data comes faster than
    PostgreSQL takes it in (always, here: the export runs ahead), libpq's buffer grows to hold
    everything unsent and every further write moves all of it to the buffer's start once the socket
    is full: quadratic copying that cost the sender more CPU than PostgreSQL's whole COPY
    (bench_ingest: 3.3 CPU-s for a 500 MB view, 0.1 with this writer)."""

    def write(self, data) -> None:
        view = memoryview(data)
        for offset in range(0, len(view), COPY_WRITE_BYTES):
            self.connection.wait(copy_to(self._pgconn, view[offset : offset + COPY_WRITE_BYTES], flush=True))


def copy_view(
    duck: duckdb.DuckDBPyConnection,
    cursor,
    *,
    schema: str,
    table: str,
    entity: str,
    spec: ViewSpec,
    freeze: bool = False,
    relation: str | None = None,
) -> int:
    """Stream DuckDB's view (or `relation`: rows of its columns) into the PostgreSQL table; returns the
    rows copied.

    A thread computes and encodes the next batches (DuckDB releases the GIL while it works) while
    this one sends: PostgreSQL takes in one batch while the next is made. The queue between them
    holds at most COPY_QUEUE batches, so memory does not grow with the view."""
    columns = ", ".join(_q(name) for name, _ in _table_columns(spec))
    options = "FORMAT binary, FREEZE true" if freeze else "FORMAT binary"
    statement = f"COPY {_q(schema)}.{_q(table)} ({columns}) FROM STDIN ({options})"
    rows = 0
    # closing(): the export thread is joined however the copy ends, so the DuckDB connection is
    # ours again after.
    batches = produced_ahead(_encoded_batches(duck, entity, spec, relation), depth=COPY_QUEUE,
                             name=f"dcl-export-{entity}")
    with closing(batches), cursor.copy(statement, writer=FlushingWriter(cursor)) as copy:
        for data, count in batches:
            copy.write(data)
            rows += count
    return rows


def _index_statements(schema: str, table: str, entity: str, spec: ViewSpec) -> list[str]:
    """The data table's indexes, the key first (made a PRIMARY KEY at the swap, which is instant)."""
    qualified = f"{_q(schema)}.{_q(table)}"
    statements = [f"CREATE UNIQUE INDEX {_q(table + '_pkey')} ON {qualified} (unified_id)"]
    # (a read-time value's raw text is not what the view shows: not indexed)
    raw = spec.value_columns if spec.read_time_values else set()
    present = (set(spec.stored_fields) - raw) | ({"account_unified_id"} if spec.linked else set())
    for col in INDEXED.get(entity, ()):
        cols = (col,) if isinstance(col, str) else col
        if set(cols) <= present:
            statements.append(f"CREATE INDEX ON {qualified} ({', '.join(_q(c) for c in cols)})")
    return statements


def _build_index(cursor, statement: str) -> None:
    # Index builds sort in memory rather than on disk (local to the transaction).
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    cursor.execute(statement)


def _build_index_in_own_session(statement: str) -> None:
    try:
        with transaction.atomic(), pg_connection.cursor() as cur:
            _build_index(cur, statement)
    finally:
        pg_connection.close()  # this thread's own connection (back to the pool)


def _build_indexes_in_parallel(statements: list[str], sessions: int) -> None:
    """Build the indexes of a committed table from `sessions` database sessions at once (CREATE INDEX
    takes a SHARE lock: builds on one table do not block each other). The first failure cancels the
    builds not yet started, the others finish, and it is raised."""
    with ThreadPoolExecutor(max_workers=sessions, thread_name_prefix="dcl-index") as pool:
        futures = [pool.submit(_build_index_in_own_session, statement) for statement in statements]
        _done, not_done = wait(futures, return_when=FIRST_EXCEPTION)
        for future in not_done:
            future.cancel()
    for future in futures:
        if not future.cancelled():
            future.result()  # raises the build's error


def _swap_in(cur, *, schema: str, entity: str, table: str, spec: ViewSpec, materialized_at: datetime,
             available: set[str] | dict[str, str] = frozenset()) -> None:
    """Point `dcl_view_<entity>` at `table` and drop the entity's other data tables (in the caller's
    transaction)."""
    cur.execute("SET LOCAL lock_timeout = '30s'")
    if spec.read_time_values:
        pg_ensure_tables(cur, schema)  # empty until a value stage wrote them: every value shows pending
    cur.execute("SAVEPOINT dcl_view_replace")
    ddl = {"schema": schema, "entity": entity, "table": table, "spec": spec, "materialized_at": materialized_at,
           "available": available}
    try:
        cur.execute(_view_ddl(**ddl, replace=True))
    except Exception:  # noqa: BLE001 - the columns changed (ontology): drop and create
        cur.execute("ROLLBACK TO SAVEPOINT dcl_view_replace")
        cur.execute(f"DROP VIEW IF EXISTS {_q(schema)}.{_q(view_name(entity))}")
        cur.execute(_view_ddl(**ddl, replace=False))
    cur.execute("RELEASE SAVEPOINT dcl_view_replace")
    cur.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
        [schema, f"dcl\\_vdata\\_{entity}\\_%"],
    )
    for (old,) in cur.fetchall():
        if old != table and old.rsplit("_", 1)[0] == f"dcl_vdata_{entity}":
            cur.execute(f"DROP TABLE IF EXISTS {_q(schema)}.{_q(old)}")


def _create_and_copy(duck, cur, *, schema: str, table: str, entity: str, spec: ViewSpec, freeze: bool) -> int:
    # A leftover of the same name (an earlier catalog that was wiped, or a run that died before its
    # swap) goes, with its view.
    cur.execute(f"DROP TABLE IF EXISTS {_q(schema)}.{_q(table)} CASCADE")
    cur.execute(_data_table_ddl(schema, table, spec))
    raw = cur.cursor if hasattr(cur, "cursor") else cur
    return copy_view(duck, raw, schema=schema, table=table, entity=entity, spec=spec, freeze=freeze)


def publish_view(
    duck: duckdb.DuckDBPyConnection,
    *,
    schema: str,
    entity: str,
    spec: ViewSpec,
    version: int,
    materialized_at: datetime,
    on_commit_catalog,
) -> int:
    """Replace `dcl_view_<entity>` with DuckDB's current view; returns its row count.

    1. A new data table is created and filled (COPY ... FREEZE: its rows need no later hint-bit
       writes or freezing vacuum) and committed; no view points at it, so no reader sees it.
    2. Its indexes are built from DCL_PG_INDEX_SESSIONS sessions at once.
    3. One transaction analyzes it, makes the key its PRIMARY KEY, points the view at it, drops the
       previous data table and records the catalog row: `on_commit_catalog(row_count, data_table)`
       runs inside it, so the catalog changes together with the view.
    Any failure drops the new table and leaves the previous view and catalog as they were.

    Inside a transaction of the caller's, the new table cannot be shown to other sessions: then all
    of it happens in that transaction, in this session.
    """
    table = data_table_name(entity, version)
    qualified = f"{_q(schema)}.{_q(table)}"
    statements = _index_statements(schema, table, entity, spec)
    available = store.table_columns(duck, store.source_table(entity)) if spec.read_time_values else {}
    started = time.monotonic()
    nested = pg_connection.in_atomic_block
    try:
        with transaction.atomic(), pg_connection.cursor() as cur:
            rows = _create_and_copy(duck, cur, schema=schema, table=table, entity=entity, spec=spec, freeze=not nested)
            copied_at = time.monotonic()
            if nested:
                for statement in statements:
                    _build_index(cur, statement)
        if not nested:
            _build_indexes_in_parallel(statements, max(1, settings.DCL_PG_INDEX_SESSIONS))
        indexed_at = time.monotonic()
        with transaction.atomic(), pg_connection.cursor() as cur:
            cur.execute(f"ANALYZE {qualified}")
            cur.execute(f"ALTER TABLE {qualified} ADD PRIMARY KEY USING INDEX {_q(table + '_pkey')}")
            _swap_in(cur, schema=schema, entity=entity, table=table, spec=spec, materialized_at=materialized_at,
                     available=available)
            on_commit_catalog(rows, table)
    except BaseException:
        if not nested:
            _drop_quietly(qualified)
        raise
    logger.info(
        "view %s: %d rows to PostgreSQL (copy %.2fs, indexes %.2fs, total %.2fs)",
        entity,
        rows,
        copied_at - started,
        indexed_at - copied_at,
        time.monotonic() - started,
    )
    return rows


def publish_delta(
    duck: duckdb.DuckDBPyConnection,
    *,
    schema: str,
    entity: str,
    spec: ViewSpec,
    table: str,
    relation: str,
    remove: str,
    materialized_at: datetime,
    on_commit_catalog,
) -> tuple[int, int]:
    """Apply a view's changes to its current data table `table`, in ONE transaction: the rows whose
    unified id is in DuckDB's `remove` (a relation of `unified_id`: every entity changed or gone) are
    deleted, DuckDB's `relation` (the changed entities' rows now, the view's columns) is copied in, the
    view is re-pointed with the new `materialized_at`, and `on_commit_catalog(written, removed)` records
    the catalog. A reader sees the view before or after, never between; a failure changes nothing.
    Returns (rows written, rows removed). docs/adr/0022-incremental-views.md."""
    qualified = f"{_q(schema)}.{_q(table)}"
    available = store.table_columns(duck, store.source_table(entity)) if spec.read_time_values else {}
    ids = [r[0] for r in duck.execute(f"SELECT DISTINCT unified_id FROM {remove}").fetchall()]
    started = time.monotonic()
    with transaction.atomic(), pg_connection.cursor() as cur:
        cur.execute("SET LOCAL lock_timeout = '30s'")
        removed = 0
        if ids:
            cur.execute(f"DELETE FROM {qualified} WHERE unified_id = ANY(%s::text[])", [ids])
            removed = max(cur.rowcount, 0)
        raw = cur.cursor if hasattr(cur, "cursor") else cur
        written = copy_view(duck, raw, schema=schema, table=table, entity=entity, spec=spec, relation=relation)
        if spec.read_time_values:
            pg_ensure_tables(cur, schema)
        cur.execute(_view_ddl(schema, entity, table, spec, materialized_at, replace=True, available=available))
        on_commit_catalog(written, removed)
    logger.info("view %s: %d rows written, %d removed in PostgreSQL (%.2fs)", entity, written, removed,
                time.monotonic() - started)
    return written, removed


def _drop_quietly(qualified: str) -> None:
    """Drop a data table no view points at (a failed publish); the next publish drops it otherwise."""
    try:
        with transaction.atomic(), pg_connection.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {qualified}")
    except Exception:  # noqa: BLE001 - best effort: the original error is what matters
        logger.warning("could not drop %s after a failed publish", qualified, exc_info=True)
