"""One Redis client for the project. The names of keys, streams, groups and locks are built in
autonomos/core/redis_names.py, and only there."""

from __future__ import annotations

from functools import lru_cache

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.db import connection

from . import redis_names


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5,
                                health_check_interval=30)


def get_redis() -> redis.Redis:
    """The shared synchronous client (decoded strings)."""
    return _client_for(settings.REDIS_URL)


def get_async_redis() -> aioredis.Redis:
    """A new asyncio client; callers close it (`await client.aclose()`)."""
    return aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_connect_timeout=5)


def cache_key(key: str, key_prefix: str, version: int, tenant=None) -> str:
    """Django cache key function: the tenant's hash tag leads every key (public for platform keys).
    The tenant is the connection's unless given (code outside Django's request cycle)."""
    if tenant is None:
        tenant = getattr(connection, "tenant", None)
    return redis_names.cache_key(key, key_prefix, version, tenant)
