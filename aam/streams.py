"""The AAM → DCL Redis Streams: names, publishing with back-pressure, and safe trimming.

Key `aam:dcl:{<tenant_id>}:<connection_id>`, consumer group `dcl_engine:<tenant_id>` (both named in
autonomos/core/redis_names.py).

The stream is bounded by AAM_REDIS_STREAM_MAXLEN without ever dropping a batch nobody has
acknowledged: entries are trimmed only below the oldest unacknowledged id of every group
(XTRIM MINID), so after trimming XLEN *is* the number of unacknowledged entries, and a producer
that would push it past MAXLEN waits (bounded, then `BackpressureTimeout`). XADD never trims by
MAXLEN itself: that would drop the oldest entries whether acknowledged or not.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import redis
from django.conf import settings

from autonomos.core import redis_names

logger = logging.getLogger(__name__)


class StreamMessage(Protocol):
    """What the publisher needs of a message (`aam.ingest.batches.BatchMessage` is one): the stream
    sits below the batch format, so it names the shape instead of importing it."""

    count: int

    def to_fields(self) -> dict[str, Any]: ...


class BackpressureTimeout(RuntimeError):
    """The consumer group did not make room in time (is a DCL consumer running?)."""


class RedisRestarted(RuntimeError):
    """Redis restarted while batches were being published: those not yet applied may be gone."""


def redis_run_id(r: redis.Redis) -> str:
    run_id = r.info("server").get("run_id", "")
    return run_id.decode() if isinstance(run_id, bytes) else str(run_id)


def stream_key(tenant, connection_id: int | str) -> str:
    return redis_names.sync_stream(tenant, connection_id)


def streams_registry_key(tenant) -> str:
    """A set of the tenant's connection ids that have a stream (the consumer reads them all)."""
    return redis_names.sync_streams_registry(tenant)


def group_name(tenant) -> str:
    return redis_names.consumer_group(tenant)


@lru_cache(maxsize=8)
def _binary_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, decode_responses=False, socket_timeout=30, socket_connect_timeout=5, health_check_interval=30
    )


def binary_redis(url: str | None = None) -> redis.Redis:
    """A client that returns bytes: batch payloads are binary (Arrow IPC)."""
    return _binary_client(url or settings.REDIS_URL)


def group_ensure(r: redis.Redis, key: str, group: str) -> None:
    """The group exists, reading from the start of the stream (batches published before any consumer count)."""
    try:
        r.xgroup_create(key, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _id_tuple(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _id_text(parts: tuple[int, int]) -> str:
    return f"{parts[0]}-{parts[1]}"


def _next_id(parts: tuple[int, int]) -> tuple[int, int]:
    return (parts[0], parts[1] + 1) if parts[1] < 2**64 - 1 else (parts[0] + 1, 0)


def _val(info: dict, name: str):
    return info.get(name, info.get(name.encode()))


def unacked_floor(r: redis.Redis, key: str) -> tuple[int, int] | None:
    """The smallest entry id some group may still need; every entry below it is acknowledged by
    every group. None when the stream has no group (then nothing may be trimmed).

    Per group: the oldest pending entry if any, else the entry right after the last delivered one.
    Everything after the last delivered id is undelivered, and everything up to it is either
    pending or acknowledged — so this needs no look at the entries themselves, and entries a
    producer adds meanwhile (ids above the last delivered one) are never below the floor.
    """
    floor: tuple[int, int] | None = None
    for info in r.xinfo_groups(key):
        name = _val(info, "name")
        last = _val(info, "last-delivered-id")
        group_floor = _next_id(_id_tuple(last))
        pending = r.xpending(key, name)
        if pending and pending.get("pending"):
            group_floor = min(group_floor, _id_tuple(pending["min"]))
        floor = group_floor if floor is None else min(floor, group_floor)
    return floor


def trim_acknowledged(r: redis.Redis, key: str) -> int:
    """Trim entries every group has acknowledged; returns the stream's length afterwards."""
    try:
        floor = unacked_floor(r, key)
    except redis.ResponseError:  # no such key
        return 0
    if floor is not None:
        r.xtrim(key, minid=_id_text(floor), approximate=False)
    return r.xlen(key)


@dataclass
class PublishStats:
    batches: int = 0
    records: int = 0
    waited_seconds: float = 0.0
    last_entry_id: str | None = None


class StreamPublisher:
    """Publishes batches for one connection: pipelined XADDs, bounded by back-pressure."""

    def __init__(
        self,
        tenant,
        connection_id: int,
        *,
        client: redis.Redis | None = None,
        maxlen: int | None = None,
        timeout: float | None = None,
        pipeline_size: int = 100,
        on_wait: Callable[[int], None] | None = None,
    ) -> None:
        self.tenant = tenant
        self.connection_id = connection_id
        self.r = client or binary_redis()
        self.key = stream_key(tenant, connection_id)
        self.group = group_name(tenant)
        self.maxlen = maxlen or settings.AAM_REDIS_STREAM_MAXLEN
        self.timeout = settings.AAM_BACKPRESSURE_TIMEOUT if timeout is None else timeout
        # A pipeline never holds more than a quarter of the room, so waiting frees space in steps.
        self.pipeline_size = max(1, min(pipeline_size, self.maxlen // 4 or 1))
        self.on_wait = on_wait
        self.stats = PublishStats()
        self._known_len: int | None = None
        self._ready = False

    def _prepare(self) -> None:
        self.run_id = redis_run_id(self.r)
        group_ensure(self.r, self.key, self.group)
        self.r.sadd(streams_registry_key(self.tenant), str(self.connection_id))
        self._ready = True

    def _make_room(self, needed: int) -> None:
        if self._known_len is not None and self._known_len + needed <= self.maxlen:
            return
        deadline = time.monotonic() + self.timeout
        delay = 0.002
        started = time.monotonic()
        while True:
            length = trim_acknowledged(self.r, self.key)
            if length + needed <= self.maxlen:
                self._known_len = length
                break
            if time.monotonic() >= deadline:
                raise BackpressureTimeout(
                    f"stream {self.key} holds {length} unacknowledged batches (max {self.maxlen}) and the consumer "
                    f"group {self.group} freed no room for {self.timeout:.0f}s: is a DCL consumer running?"
                )
            if self.on_wait is not None:
                self.on_wait(length)
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        self.stats.waited_seconds += time.monotonic() - started

    def check_same_server(self) -> None:
        """A Redis restart (without persistence) loses the stream and its checkpoints together; a
        client that silently reconnects must not carry on as if the earlier batches were there."""
        if self._ready and redis_run_id(self.r) != self.run_id:
            raise RedisRestarted(
                f"Redis restarted during the sync of stream {self.key}; batches published "
                "before the restart that were not applied yet are gone: run the sync again "
                "(it resumes from the last applied page)"
            )

    def publish(self, messages: Iterable[StreamMessage]) -> list[str]:
        """XADD every message (in order); returns their entry ids. Blocks while the stream is full."""
        if not self._ready:
            self._prepare()
        ids: list[str] = []
        chunk: list[StreamMessage] = []

        def flush() -> None:
            if not chunk:
                return
            self.check_same_server()
            self._make_room(len(chunk))
            pipe = self.r.pipeline(transaction=False)
            for message in chunk:
                pipe.xadd(self.key, message.to_fields())
            for entry_id, message in zip(pipe.execute(), chunk, strict=True):
                ids.append(entry_id.decode() if isinstance(entry_id, bytes) else entry_id)
                self.stats.batches += 1
                self.stats.records += message.count
            self._known_len = (self._known_len or 0) + len(chunk)
            self.stats.last_entry_id = ids[-1]
            chunk.clear()

        for message in messages:
            chunk.append(message)
            if len(chunk) >= self.pipeline_size:
                flush()
        flush()
        return ids
