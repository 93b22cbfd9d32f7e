"""The one "is a sync of this connection running" state: a Redis lease per connection.

A run of the pipeline (dcl/pipeline) takes the lease while it reads the connection and renews it
while pages flow; it expires by itself when a worker dies (AAM_SYNC_LOCK_SECONDS), so a crashed
sync never blocks the connection for good. Everything that must not race a sync asks
`sync_running` (the sync API, stream replay and reset, the drift check, tenant offboarding), and
nothing reads `Connection.status == "syncing"` for that: the status is what the dashboard shows
and is left behind by a killed worker.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings

from autonomos.core import redis_names
from autonomos.core.errors import Conflict
from autonomos.core.redis import get_redis

logger = logging.getLogger(__name__)


class SyncAlreadyRunning(Conflict):
    """Another sync of this connection holds its lock."""

    default_message = "A sync of this connection is already running."


def sync_lock_key(tenant, connection_id: int | str) -> str:
    return redis_names.sync_lock(tenant, connection_id)


def sync_running(tenant, connection_id: int) -> bool:
    """Is a sync of the connection running now (its lease is held)?"""
    return bool(get_redis().exists(sync_lock_key(tenant, connection_id)))


def syncs_running(tenant) -> list[int]:
    """The ids of the tenant's connections whose sync is running now."""
    r = get_redis()
    keys = r.scan_iter(match=redis_names.sync_locks_pattern(tenant), count=1000)
    return sorted(int(str(k).rsplit(":", 1)[-1]) for k in keys)


# How long a queued run counts as queued when no worker takes it (a stopped worker, a lost task):
# long enough for a queue behind other runs, short enough that a lost request does not show for good.
SYNC_QUEUED_SECONDS = 900


def sync_queued_mark(tenant, connection_id: int) -> None:
    """A run of the connection was asked for (its health shows "queued" until its read starts)."""
    try:
        get_redis().set(redis_names.sync_queued(tenant, connection_id), "1", ex=SYNC_QUEUED_SECONDS)
    except Exception:  # noqa: BLE001 - a health hint; the run is queued whether or not this is written
        logger.warning("sync queued marker not written", exc_info=True)


def syncs_queued(tenant, connection_ids: list[int]) -> set[int]:
    """Which of these connections have a run asked for and not started."""
    if not connection_ids:
        return set()
    values = get_redis().mget([redis_names.sync_queued(tenant, cid) for cid in connection_ids])
    return {cid for cid, v in zip(connection_ids, values, strict=True) if v is not None}


class SyncLock:
    """One sync per connection at a time (a Redis lease, renewed while pages flow)."""

    def __init__(self, tenant, connection_id: int) -> None:
        self.connection_id = connection_id
        self.key = sync_lock_key(tenant, connection_id)
        self.queued_key = redis_names.sync_queued(tenant, connection_id)
        self.token = f"{time.time_ns()}"
        self.r = get_redis()
        self.ttl = settings.AAM_SYNC_LOCK_SECONDS * 1000
        self._renewed = 0.0

    def __enter__(self) -> SyncLock:
        if not self.r.set(self.key, self.token, nx=True, px=self.ttl):
            raise SyncAlreadyRunning(f"A sync of connection {self.connection_id} is already running.")
        self._renewed = time.monotonic()
        self.r.delete(self.queued_key)  # the queued run has started
        return self

    def renew(self) -> None:
        if time.monotonic() - self._renewed > settings.AAM_SYNC_LOCK_SECONDS / 3:
            if self.r.get(self.key) == self.token:
                self.r.pexpire(self.key, self.ttl)
            self._renewed = time.monotonic()

    def __exit__(self, *exc) -> None:
        try:
            if self.r.get(self.key) == self.token:
                self.r.delete(self.key)
        except Exception:  # noqa: BLE001 - the lease expires by itself
            logger.warning("sync lock not released", exc_info=True)
