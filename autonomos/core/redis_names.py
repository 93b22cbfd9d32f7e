"""Every Redis name of the project, in one place: keys, streams, consumer groups, locks, cache keys.

Nothing else spells a Redis name: code asks this module (`redis_names.sync_stream(tenant, 42)`),
and `tests/test_redis_names.py` fails when a name prefix shows up in another module. The strings
are a contract with data already in Redis: changing one orphans that data (docs/adr/0011).

Every key of a tenant's data carries the hash tag `{<tenant_id>}`: the braces are a Redis Cluster
hash tag, so all of a tenant's keys land on one shard, and offboarding finds (and deletes) them all
with one SCAN pattern (`tenant_keys_pattern`). Two names are not keys and carry the tenant id
without braces: the consumer group (a name inside the stream key) and the channel-layer group
(channels allows only `[a-zA-Z0-9_.-]`).

`tenant` is a Tenant (anything with `tenant_id`) or a tenant id. Pure functions: no client, no
Django settings, no import of any app (autonomos.core is the bottom layer).
"""

from __future__ import annotations

from uuid import UUID


def tenant_id_of(tenant) -> str:
    """The tenant id as text, from a Tenant or an id; refuses None and "" (fail closed)."""
    tid = getattr(tenant, "tenant_id", tenant)
    if tid in (None, ""):
        raise ValueError("a tenant key needs a tenant id")
    return str(tid)


def tenant_key(tenant, *parts: object) -> str:
    """The builder of every tenant key: `tenant_key(t, "aam", "dcl", 42)` → `aam:dcl:{<tenant_id>}:42`.

    The first parts before the tenant are the namespace; by convention the namespace is the first
    two parts when there are at least three, else the first one. Use the named functions below;
    this one is public for them and for tests of the format.
    """
    if not parts:
        raise ValueError("a tenant key needs a namespace")
    head_len = 2 if len(parts) >= 3 else 1
    head = ":".join(str(p) for p in parts[:head_len])
    tail = "".join(f":{p}" for p in parts[head_len:])
    return f"{head}:{{{tenant_id_of(tenant)}}}{tail}"


# --- the pipeline: AAM → Redis Streams → DCL --------------------------------------------------------


def sync_stream(tenant, connection_id: int | str) -> str:
    """The stream of a connection's batches (AAM publishes, the DCL consumes): `aam:dcl:{t}:<id>`."""
    return tenant_key(tenant, "aam", "dcl", connection_id)


def sync_streams_registry(tenant) -> str:
    """A set of the tenant's connection ids that have a stream (the consumer reads them all)."""
    return tenant_key(tenant, "aam", "streams")


def consumer_group(tenant) -> str:
    """The DCL's consumer group on every stream of the tenant: `dcl_engine:<tenant_id>` (a group name,
    not a key: no hash tag)."""
    return f"dcl_engine:{tenant_id_of(tenant)}"


def sync_lock(tenant, connection_id: int | str) -> str:
    """Held while a connection syncs (one sync per connection): `aam:synclock:{t}:<id>`."""
    return tenant_key(tenant, "aam", "synclock", connection_id)


def sync_locks_pattern(tenant) -> str:
    """SCAN pattern of the tenant's held sync locks (the part after the last `:` is the connection id)."""
    return sync_lock(tenant, "*")


def sync_checkpoints(tenant, connection_id: int | str) -> str:
    """Retired (issue #15: the cursor travels with its batch, ADR 0013): a list of `{entry, object,
    cursor}` the sync wrote before; nothing writes it now. Kept to name keys left by older
    versions (offboarding removes them with the tenant's other keys)."""
    return tenant_key(tenant, "aam", "ckpt", connection_id)


def sync_checkpoints_lock(tenant, connection_id: int | str) -> str:
    """Retired with `sync_checkpoints`: held while a process promoted a connection's checkpoints."""
    return sync_checkpoints(tenant, connection_id) + ":lock"


def applied_batches(tenant) -> str:
    """The DCL's idempotency set: ids of batches already written to the tenant's DuckDB."""
    return tenant_key(tenant, "dcl", "applied")


def dead_letters(tenant) -> str:
    """The stream of batches the DCL could not apply (with the reason)."""
    return tenant_key(tenant, "dcl", "dlq")


def deletes_checked(tenant, connection_id: int | str, source_object: str) -> str:
    """Set (with a TTL of the connection's interval) when an object's keys were compared with its source
    for deletes (dcl/deletes.py): while it lives, a sync does not compare them again."""
    return tenant_key(tenant, "dcl", "delchk", connection_id, source_object)


def drift_lock(tenant) -> str:
    """Held while the tenant's periodic drift check runs (one at a time)."""
    return tenant_key(tenant, "aam", "driftlock")


# --- live events and counters ---------------------------------------------------------------------


def events_stream(tenant) -> str:
    """The tenant's recent live events (SSE reads it; the dashboard replays it): `events:{t}`."""
    return tenant_key(tenant, "events")


def events_channel_group(tenant) -> str:
    """The channel-layer group of the tenant's sockets (channels allows only [a-zA-Z0-9_.-]: no hash tag)."""
    return f"events.{tenant_id_of(tenant).replace('-', '')}"


def llm_usage_totals(tenant) -> str:
    """A hash of the tenant's LLM calls and tokens."""
    return tenant_key(tenant, "llm", "usage", "totals")


def llm_usage_by_purpose(tenant) -> str:
    """A hash of the tenant's LLM calls and tokens per purpose."""
    return tenant_key(tenant, "llm", "usage", "by_purpose")


# --- the Django cache -----------------------------------------------------------------------------


def cache_key(key: str, key_prefix: str, version: int, tenant) -> str:
    """Every Django cache key (the cache's KEY_FUNCTION, autonomos.core.redis.cache_key, calls this):
    the tenant's hash tag leads, `public` for platform keys (`tenant` None)."""
    tag = getattr(tenant, "tenant_id", None) or "public"
    return f"cache:{{{tag}}}:{key_prefix}:{version}:{key}"


# Keys inside the Django cache (the cache's key function adds `cache:{<tenant_id>}:…` around them).


def view_stamp(entity: str) -> str:
    """The current stamp (version) of a unified view: page caches key on it."""
    return f"dcl:stamp:{entity}"


def view_page(entity: str, query_digest: str) -> str:
    """A cached page of a unified view, by the digest of its normalized query."""
    return f"dcl:page:{entity}:{query_digest}"


def view_count(entity: str, view_stamp: str, filter_digest: str) -> str:
    """A cached row count of a unified view for one filter, valid for one materialization."""
    return f"dcl:count:{entity}:{view_stamp}:{filter_digest}"


# --- all of a tenant's keys -----------------------------------------------------------------------


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def tenant_keys_pattern(tenant) -> str:
    """The SCAN pattern of every key carrying the tenant's hash tag (offboarding deletes them). The id
    must be a UUID (a malformed one raises): the pattern must never match another tenant's keys."""
    tid = str(UUID(str(getattr(tenant, "tenant_id", tenant))))
    return f"*{_glob_escape('{' + tid + '}')}*"
