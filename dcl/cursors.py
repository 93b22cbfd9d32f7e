"""Cursors committed with their data: `_dcl_cursors` in the tenant's DuckDB file, published to
`Connection.cursor` for the next read.

The last batch a read publishes for a page carries `{object: cursor}` (aam/ingest/batches.py).
The consumer writes it here in the same DuckDB transaction as the batch's rows and its ledger
entry, so the stored cursor and the stored data move together: a crash before the commit leaves
neither, a crash after it leaves both. A null cursor (a full re-sync's first batch of an object)
forgets the object's cursor.

The read sits in aam, below the DCL, and may not ask DuckDB (nor import the DCL); it resumes from
`Connection.cursor` (connectors, below both). So each committed cursor is published there right
after the commit, and marked published in DuckDB once PostgreSQL has it. A row still unpublished
(the process died between the two commits, or PostgreSQL refused) is published again the next
time a consumer opens the store: before a pipeline run reads (dcl/pipeline/consume.py waits for
that), and after every commit. `Connection.cursor` is therefore never ahead of the data, and at
most one crash behind it until the next consumer starts. See docs/adr/0013-pipeline-run.md.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

logger = logging.getLogger(__name__)

TABLE = "_dcl_cursors"


def table_ensure(con: duckdb.DuckDBPyConnection) -> None:
    """The cursor table exists (one row per connection and object; no key constraint: DuckDB
    refuses to delete and re-insert a key in one transaction)."""
    con.execute(f"""
        CREATE TABLE IF NOT EXISTS {TABLE} (
            connection_id BIGINT NOT NULL,
            source_object VARCHAR NOT NULL,
            cursor VARCHAR,
            batch_id VARCHAR NOT NULL,
            stream_entry VARCHAR,
            committed_at TIMESTAMPTZ NOT NULL,
            published BOOLEAN NOT NULL
        )""")


def cursors_write(con: duckdb.DuckDBPyConnection, carried: dict[tuple[int, str], tuple[Any, str, str]],
                  now: datetime) -> None:
    """Inside the consumer's open transaction: store `{(connection_id, object): (cursor, batch_id,
    stream_entry)}`, replacing what each object had; unpublished until `cursors_publish`."""
    if not carried:
        return
    keys = list(carried)
    table = pa.table({
        "connection_id": pa.array([k[0] for k in keys], pa.int64()),
        "source_object": pa.array([k[1] for k in keys], pa.string()),
        "cursor": pa.array([None if carried[k][0] is None else json.dumps(carried[k][0], sort_keys=True)
                            for k in keys], pa.string()),
        "batch_id": pa.array([carried[k][1] for k in keys], pa.string()),
        "stream_entry": pa.array([carried[k][2] for k in keys], pa.string()),
        "committed_at": pa.array([now] * len(keys), pa.timestamp("us", tz="UTC")),
    })
    con.register("_cursors_in", table)
    try:
        con.execute(f"""
            DELETE FROM {TABLE} USING _cursors_in i
            WHERE {TABLE}.connection_id = i.connection_id AND {TABLE}.source_object = i.source_object""")
        con.execute(f"""
            INSERT INTO {TABLE} (connection_id, source_object, cursor, batch_id, stream_entry, committed_at, published)
            SELECT connection_id, source_object, cursor, batch_id, stream_entry, committed_at, false
            FROM _cursors_in""")
    finally:
        con.unregister("_cursors_in")


def committed_cursors(con: duckdb.DuckDBPyConnection, connection_id: int) -> dict[str, Any]:
    """{object: cursor} committed for a connection (forgotten ones left out): where its data ends."""
    rows = con.execute(
        f"SELECT source_object, cursor FROM {TABLE} WHERE connection_id = ? AND cursor IS NOT NULL ORDER BY 1",
        [int(connection_id)],
    ).fetchall()
    return {name: json.loads(text) for name, text in rows}


def cursor_store(connection, object_name: str, cursor) -> None:
    """Store one object's cursor on the connection (None forgets it): the one place a committed
    cursor reaches PostgreSQL."""
    from connectors.services import connection_cursor_set

    connection_cursor_set(connection=connection, object_name=object_name, cursor=cursor)


def cursors_publish(con: duckdb.DuckDBPyConnection, tenant) -> dict[tuple[int, str], Any]:
    """Publish every committed, not yet published cursor to its `Connection.cursor`; returns
    {(connection_id, object): cursor} published. A cursor PostgreSQL refuses stays unpublished
    (tried again after the next commit or by the next consumer), as does one whose connection
    this session cannot see."""
    rows = con.execute(
        f"SELECT connection_id, source_object, cursor FROM {TABLE} WHERE NOT published ORDER BY 1, 2"
    ).fetchall()
    if not rows:
        return {}
    from django_tenants.utils import tenant_context

    from connectors.models import Connection

    published: dict[tuple[int, str], Any] = {}
    done: list[tuple[int, str]] = []
    with tenant_context(tenant):
        connections = Connection.objects.in_bulk({int(r[0]) for r in rows})
        for connection_id, object_name, text in rows:
            key = (int(connection_id), object_name)
            connection = connections.get(key[0])
            if connection is None:
                # Not visible here (deleted, or created in a transaction this session cannot see
                # yet): kept unpublished, never dropped on a guess.
                continue
            cursor = None if text is None else json.loads(text)
            try:
                cursor_store(connection, object_name, cursor)
            except Exception:  # noqa: BLE001 - kept unpublished: the next commit or consumer tries again
                logger.warning("cursor of connection %s object %r not published", key[0], object_name, exc_info=True)
                continue
            done.append(key)
            published[key] = cursor
    if done:
        marks = pa.table({"connection_id": pa.array([k[0] for k in done], pa.int64()),
                          "source_object": pa.array([k[1] for k in done], pa.string())})
        con.register("_cursors_done", marks)
        try:
            con.execute(f"""
                UPDATE {TABLE} SET published = true FROM _cursors_done d
                WHERE {TABLE}.connection_id = d.connection_id AND {TABLE}.source_object = d.source_object""")
        finally:
            con.unregister("_cursors_done")
    return published
