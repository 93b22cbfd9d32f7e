"""Django's Redis cache with one connection pool per process.

Django keeps cache objects per async context, so under ASGI every request built a new
`RedisCache`, hence a new connection pool and a new TCP connection to Redis (and left the old
one to the garbage collector). Here every instance with the same servers and options shares one
client, whose redis-py pool is thread-safe and re-created after a fork.
"""

from __future__ import annotations

import threading
import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[tuple, object] = {}
_lock = threading.Lock()


class _ClientReusingCacheClient(RedisCacheClient):
    """Django builds a new `redis.Redis` object around the pool on every call; build it once."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class SharedRedisCache(RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = _ClientReusingCacheClient

    def make_tenant_key(self, key: str, tenant, version: int | None = None) -> str:
        """`make_key` for `tenant` instead of the tenant of the current database connection: for
        code that has a tenant but no connection set to it (the API edge, on-commit hooks)."""
        return self.key_func(key, self.key_prefix, self.version if version is None else version, tenant=tenant)

    def redis_client(self):
        """The redis-py client of the primary (reads and writes), for pipelines across keys."""
        return self._cache.get_client(None, write=True)

    def decode(self, raw):
        """A stored value as Python (Django's serializer); None stays None."""
        return None if raw is None else self._cache._serializer.loads(raw)

    @cached_property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())), self._class)
        client = _clients.get(key)
        if client is None:
            with _lock:
                client = _clients.get(key)
                if client is None:
                    client = _clients[key] = self._class(self._servers, **self._options)
        return client


class LocalTTLCache:
    """A small process-local cache whose entries expire after `seconds` (0 disables it).

    For lookups done on every request whose answers change rarely (the tenant of a host, the user
    of a token): the process that makes a change clears its own copy through a model signal, the
    other processes see it within `seconds`.

    With `refresh_ahead`, `get` already misses during an entry's last `refresh_ahead` seconds, so
    the loader runs again and renews it; `peek` still returns the entry until it expires and tells
    one caller per entry (the first in that window) to send its request to the loader. The API edge
    (dcl/api/edge.py) reads these caches with `peek`: without the refresh, every request in flight
    when an entry expired would go to Django at once.
    """

    def __init__(self, seconds: float, max_entries: int = 1024, *, refresh_ahead: float = 0.0) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self.refresh_ahead = refresh_ahead
        self._data: dict = {}
        self._claimed: dict = {}
        self._lock = threading.Lock()

    def get(self, key):
        entry = self._data.get(key)
        if entry is None:
            return None
        expires, value = entry
        left = expires - time.monotonic()
        if left <= 0:
            self._data.pop(key, None)
            return None
        if left < self.refresh_ahead:
            return None  # renew it (the entry stays for `peek` until it expires)
        return value

    def peek(self, key) -> tuple[object | None, bool]:
        """(value or None when missing or expired, whether this caller should have it renewed):
        the second is True for one caller per entry, in its last `refresh_ahead` seconds."""
        entry = self._data.get(key)
        if entry is None:
            return None, False
        expires, value = entry
        left = expires - time.monotonic()
        if left <= 0:
            return None, False
        if left >= self.refresh_ahead:
            return value, False
        with self._lock:
            if self._claimed.get(key) == expires:
                return value, False
            if len(self._claimed) >= self.max_entries:
                self._claimed.clear()
            self._claimed[key] = expires
        return value, True

    def set(self, key, value, *, at_most: float | None = None) -> None:
        """Keep `value` for `seconds`, or fewer when `at_most` says so (a token about to expire)."""
        seconds = self.seconds if at_most is None else min(self.seconds, at_most)
        if seconds <= 0:
            return
        with self._lock:
            if len(self._data) >= self.max_entries:
                self._data.clear()
            self._data[key] = (time.monotonic() + seconds, value)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._claimed.clear()
