"""The tenant's DuckDB file and the one-writer-per-tenant lock.

`DATA_DIR/tenants/<tenant_id>/dcl.duckdb` holds, per entity, a source table `src_<entity>` with
every source's records (upserted by connection + source id) and the ledger `_dcl_batches` of
applied batch ids, written in the same transaction as the rows: that ledger, not Redis, decides
whether a batch was applied.

The writer lock is an flock on `writer.lock` beside the file: the kernel releases it the moment
the holding process dies (SIGKILL included), so a restarted consumer never waits for a lease to
expire. DuckDB's own file lock would also refuse a second writer; the flock makes them queue
politely instead of failing.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
from django.conf import settings

_IDENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

SYSTEM_COLUMNS: dict[str, str] = {
    "_connection_id": "BIGINT",
    "_source_object": "VARCHAR",
    "_source_id": "VARCHAR",
    "_batch_id": "VARCHAR",
    "_position": "BIGINT",
    "_dq": "VARCHAR",
    "_extras": "VARCHAR",
    "_deleted": "BOOLEAN",
    "_ingested_at": "TIMESTAMPTZ",
    # The sync generation of the batch that wrote the row (aam.ingest.services._generation): a
    # tombstone wins over an upsert of an older generation (a replayed read never brings a deleted
    # record back), docs/adr/0019-deletes.md.
    "_generation": "BIGINT",
    # The consumer transaction that wrote the row (`txn_next`): what changed since a view was last
    # published is `_txn > ` that publication's watermark (docs/adr/0022-incremental-views.md).
    "_txn": "BIGINT",
}


# What each applied batch changed, kept in its ledger row (written in the batch's transaction, so
# counted exactly once): records new to the DCL (or back after a delete), records that replaced a
# live one, live records it turned into tombstones. NULL for batches applied before these existed.
LEDGER_COUNTS: dict[str, str] = {"inserted": "INTEGER", "updated": "INTEGER", "deleted": "INTEGER"}


class WriterBusy(RuntimeError):
    """Another process writes this tenant's DuckDB file and did not finish in time."""


def ident(name: str) -> str:
    """A safe SQL identifier (entity and canonical field names come from data; never trust them)."""
    if not isinstance(name, str) or not _IDENT_RE.match(name):
        raise ValueError(f"{name!r} is not a valid identifier")
    return name


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tenant_dir(tenant) -> Path:
    tid = getattr(tenant, "tenant_id", tenant)
    return Path(settings.DATA_DIR) / "tenants" / str(tid)


def duckdb_path(tenant) -> Path:
    return tenant_dir(tenant) / "dcl.duckdb"


class WriterLock:
    """Exclusive per-tenant writer lock (flock). Use as a context manager."""

    def __init__(self, tenant, *, timeout: float | None = None) -> None:
        self.path = tenant_dir(tenant) / "writer.lock"
        self.timeout = settings.DCL_WRITER_LOCK_TIMEOUT if timeout is None else timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise WriterBusy(
                        f"the DCL store of tenant {self.path.parent.name} is busy (another writer "
                        f"held it for more than {self.timeout:.0f}s)"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def connect(tenant) -> duckdb.DuckDBPyConnection:
    """Open the tenant's file for writing (hold the WriterLock first)."""
    path = duckdb_path(tenant)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        config={
            "threads": settings.DCL_DUCKDB_THREADS,
            "memory_limit": settings.DCL_DUCKDB_MEMORY_LIMIT,
            # Checkpoint in big steps: every checkpoint rewrites compressed segments, so many small ones
            # cost far more than the rows; memory stays bounded by this threshold.
            "checkpoint_threshold": settings.DCL_DUCKDB_CHECKPOINT_THRESHOLD,
            "preserve_insertion_order": False,
        },
    )
    # Small row groups: DuckDB writes a transaction's full row groups straight to the file,
    # compressed ("optimistic writes"), and logs only the remainder to the WAL. With its default
    # 122,880 rows a consumer transaction (a few hundred batches) would all go through the WAL and
    # be compressed again at the next checkpoint: twice the CPU for the same rows (bench_ingest).
    con.execute(f"ATTACH '{_sql_text(str(path))}' AS dcl (ROW_GROUP_SIZE {int(settings.DCL_DUCKDB_ROW_GROUP_SIZE)})")
    con.execute("USE dcl")
    if settings.DCL_DUCKDB_DISABLED_COMPRESSION:
        con.execute("SET disabled_compression_methods = ?", [settings.DCL_DUCKDB_DISABLED_COMPRESSION])
    con.execute("SET TimeZone = 'UTC'")
    con.execute("""
        CREATE TABLE IF NOT EXISTS _dcl_batches (
            batch_id VARCHAR PRIMARY KEY,
            connection_id BIGINT NOT NULL,
            source_object VARCHAR NOT NULL,
            entity VARCHAR NOT NULL,
            record_count INTEGER NOT NULL,
            mapping_version INTEGER,
            schema_fingerprint VARCHAR,
            confidences VARCHAR,
            stream_entry VARCHAR,
            applied_at TIMESTAMPTZ NOT NULL
        )""")
    con.execute("CREATE TABLE IF NOT EXISTS _dcl_txn (n BIGINT NOT NULL)")
    con.execute("CREATE TABLE IF NOT EXISTS _dcl_removed (connection_id BIGINT PRIMARY KEY)")
    if con.execute("SELECT count(*) FROM _dcl_txn").fetchone()[0] == 0:
        con.execute("INSERT INTO _dcl_txn VALUES (0)")
    ledger = table_columns(con, "_dcl_batches")
    for name, dtype in LEDGER_COUNTS.items():
        if name not in ledger:  # a file written before the batch's counts were kept
            con.execute(f"ALTER TABLE _dcl_batches ADD COLUMN {name} {dtype}")
    return con


def txn_next(con: duckdb.DuckDBPyConnection) -> int:
    """The number of the consumer transaction being written (call inside it: a rollback takes the
    number back). Rows the transaction writes carry it in `_txn`."""
    return int(con.execute("UPDATE _dcl_txn SET n = n + 1 RETURNING n").fetchone()[0])


def removed_connections(con: duckdb.DuckDBPyConnection) -> set[int]:
    """Connections deleted with their data: the consumer drops whatever of theirs is still streamed."""
    return {int(r[0]) for r in con.execute("SELECT connection_id FROM _dcl_removed").fetchall()}


def txn_last(con: duckdb.DuckDBPyConnection) -> int:
    """The number of the last committed consumer transaction (0: none yet)."""
    return int(con.execute("SELECT n FROM _dcl_txn").fetchone()[0])


@contextmanager
def read_only(tenant, *, timeout: float | None = None) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """The tenant's file opened read-only under the writer lock (held only while reading); None
    when the tenant has no file yet. `timeout`: seconds to wait for the lock (WriterBusy after)."""
    path = duckdb_path(tenant)
    with WriterLock(tenant, timeout=timeout):
        con = duckdb.connect(str(path), read_only=True) if path.exists() else None
        try:
            if con is not None:
                con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            if con is not None:
                con.close()


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def source_table(entity: str) -> str:
    return f"src_{ident(entity)}"


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'"
        ).fetchall()
    }


def relation_kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """"VIEW" or "TABLE" when the store has a relation of that name, else None."""
    found = con.execute(
        "SELECT 'VIEW' FROM duckdb_views() WHERE database_name = current_database() AND view_name = ? AND NOT internal "
        "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE database_name = current_database() AND table_name = ?",
        [name, name],
    ).fetchone()
    return found[0] if found else None


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ?",
        [table],
    ).fetchall()
    return {name: dtype for name, dtype in rows}


def duck_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "VARCHAR"
    if pa.types.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision}, {arrow_type.scale})"
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_date(arrow_type):
        return "DATE"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_floating(arrow_type):
        return "DOUBLE"
    return "VARCHAR"


def source_table_ensure(con: duckdb.DuckDBPyConnection, entity: str, schema: pa.Schema) -> tuple[str, dict[str, str]]:
    """`src_<entity>` exists with a column for every field of `schema` (new fields are added: a
    mapping that starts filling another canonical field, or a tenant's custom field); returns the
    table's name and its columns (name → DuckDB type)."""
    table = source_table(entity)
    columns = table_columns(con, table)
    if not columns:
        defs = [f"{quote(n)} {t}" for n, t in SYSTEM_COLUMNS.items()]
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(defs)})")
        columns = dict(SYSTEM_COLUMNS)
    for name, dtype in SYSTEM_COLUMNS.items():
        if name not in columns:  # a table written before the column existed
            con.execute(f"ALTER TABLE {table} ADD COLUMN {quote(name)} {dtype}")
            columns[name] = dtype
    for f in schema:
        if f.name in columns or f.name.startswith("_"):
            continue
        con.execute(f"ALTER TABLE {table} ADD COLUMN {quote(ident(f.name))} {duck_type(f.type)}")
        columns[f.name] = duck_type(f.type)
    return table, columns
