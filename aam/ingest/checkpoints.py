"""Cursor checkpoints: a connection's cursor moves past a page only once that page is safe.

"Published" is not enough to be safe: a Redis without persistence that restarts loses the batches
no consumer has applied yet. So each published page is remembered here (in Redis, next to its
batches: lose one and you lose both) with the stream id of its last batch and the cursor that
follows it; `checkpoints_promote` moves the connection's stored cursor to the newest page whose
batches every consumer group has acknowledged (the DCL acknowledges after its DuckDB commit).
After a Redis restart the remembered pages are gone with their batches, the stored cursor is the
last applied page, and the next sync re-reads from there: nothing lost; the re-sent batches that
had been applied are recognized by id (or upserted again: nothing doubled).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis

from autonomos.core import redis_names

logger = logging.getLogger(__name__)


def checkpoints_key(tenant, connection_id: int) -> str:
    return redis_names.sync_checkpoints(tenant, connection_id)


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def checkpoint_add(
    r: redis.Redis, *, tenant, connection_id: int, object_name: str, entry_id: str | None, cursor: Any
) -> None:
    """Remember that the page ending at stream entry `entry_id` is followed by `cursor`."""
    r.rpush(
        checkpoints_key(tenant, connection_id),
        json.dumps({"object": object_name, "entry": entry_id or "0-0", "cursor": cursor}, default=str),
    )


def checkpoints_pending(r: redis.Redis, *, tenant, connection_id: int) -> int:
    return r.llen(checkpoints_key(tenant, connection_id))


def cursor_store(connection, object_name: str, cursor) -> None:
    """Store one object's cursor on the connection (the one place a promoted cursor is written)."""
    from connectors.services import connection_cursor_set

    connection_cursor_set(connection=connection, object_name=object_name, cursor=cursor)


def checkpoints_promote(*, tenant, connection_id: int, r: redis.Redis | None = None, cursor_set=None) -> dict[str, Any]:
    """Store the cursors of pages whose batches are all acknowledged; returns {object: cursor} stored."""
    from aam.streams import binary_redis, stream_key, unacked_floor

    r = r or binary_redis()
    key = checkpoints_key(tenant, connection_id)
    lock_key = redis_names.sync_checkpoints_lock(tenant, connection_id)
    lock = r.set(lock_key, b"1", nx=True, px=10_000)
    if not lock:
        return {}
    try:
        items = [json.loads(x) for x in r.lrange(key, 0, -1)]
        if not items:
            return {}
        try:
            floor = unacked_floor(r, stream_key(tenant, connection_id))
        except redis.ResponseError:  # no stream at all: nothing can be shown to be applied
            floor = None
        if floor is None:
            return {}
        done = 0
        newest: dict[str, Any] = {}
        for item in items:
            if _id_tuple(item["entry"]) >= floor:
                break
            newest[item["object"]] = item["cursor"]
            done += 1
        if not done:
            return {}
        if cursor_set is None:
            cursor_set = cursor_store
        from connectors.models import Connection

        connection = Connection.objects.get(pk=connection_id)
        for object_name, cursor in newest.items():
            cursor_set(connection, object_name, cursor)
        r.ltrim(key, done, -1)
        return newest
    finally:
        r.delete(lock_key)
