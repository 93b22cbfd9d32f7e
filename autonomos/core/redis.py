"""One Redis client for the project, and the one way to build a tenant's Redis key.

Every tenant key carries `{<tenant_id>}`: the braces are a Redis Cluster hash tag, so all of a
tenant's keys land on one shard when Redis is clustered.
"""

from __future__ import annotations

from functools import lru_cache

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.db import connection


def _tenant_id_of(tenant) -> str:
    tid = getattr(tenant, "tenant_id", tenant)
    if tid in (None, ""):
        raise ValueError("a tenant key needs a tenant id")
    return str(tid)


def tenant_key(tenant, *parts: object) -> str:
    """`tenant_key(t, "aam", "dcl", 42)` → `aam:dcl:{<tenant_id>}:42`.

    The first parts before the tenant are the namespace; by convention the namespace is the first
    two parts when there are at least three, else the first one.
    """
    if not parts:
        raise ValueError("a tenant key needs a namespace")
    head_len = 2 if len(parts) >= 3 else 1
    head = ":".join(str(p) for p in parts[:head_len])
    tail = "".join(f":{p}" for p in parts[head_len:])
    return f"{head}:{{{_tenant_id_of(tenant)}}}{tail}"


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
    tag = getattr(tenant, "tenant_id", None) or "public"
    return f"cache:{{{tag}}}:{key_prefix}:{version}:{key}"
