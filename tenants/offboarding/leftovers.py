"""What every tenant owns outside its PostgreSQL schema, found and removed by its id and schema.

- its data folder `DATA_DIR/tenants/<tenant_id>/` (the DuckDB file, uploads, locks: see
  docs/contracts.md);
- every Redis key carrying its hash tag `{<tenant_id>}` (autonomos/core/redis.py), in each Redis
  database the app uses (app, cache, channel layer, Celery broker and results), found with SCAN;
- its channel-layer group (`<prefix>:group:events.<hex>`, no hash tag: group names allow no braces);
- Celery messages waiting in the broker's queues with its schema in their headers
  (tenant-schemas-celery's `_schema_name`, and `_tenant_id` added by autonomos/celery.py);
- its periodic tasks in beat's tables (django-celery-beat, public schema), named
  `tenant:<tenant_id>:...` (`periodic_task_prefix`; the connections' schedules, dcl/schedules/).

None of this needs the tenant's row, so it also cleans up after a tenant deleted earlier.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import redis
from django.conf import settings

from autonomos.core import redis_names

logger = logging.getLogger(__name__)

SCAN_COUNT = 1000
DELETE_BATCH = 500
QUEUE_PAGE = 500

# kombu's Redis transport (kombu/transport/redis.py): queue bindings, priority queue names and the
# hash of messages handed to a worker but not acknowledged yet.
KOMBU_BINDING_PREFIX = "_kombu.binding."
KOMBU_SEP = "\x06\x16"
KOMBU_UNACKED = "unacked"
RESULT_KEY_PREFIX = "celery-task-meta-"


def tenant_id_str(tenant_id) -> str:
    """The tenant id as a canonical UUID string; anything else is refused (it becomes a path and a
    SCAN pattern)."""
    return str(uuid.UUID(str(getattr(tenant_id, "tenant_id", tenant_id))))


def tenant_data_dir(tenant_id) -> Path:
    """`DATA_DIR/tenants/<tenant_id>/`: the tenant's DuckDB file, uploads and locks."""
    return Path(settings.DATA_DIR).resolve() / "tenants" / tenant_id_str(tenant_id)


# --- data folder ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderRemoved:
    path: str
    files: int
    bytes: int
    existed: bool


def folder_size(path: Path) -> tuple[int, int]:
    """(files, bytes) under `path`; symlinks are counted, never followed."""
    files = size = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                size += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                continue
            files += 1
    return files, size


def data_dir_remove(tenant_id) -> FolderRemoved:
    """Remove the tenant's data folder (a symlink in its place is unlinked, never followed)."""
    path = tenant_data_dir(tenant_id)
    if path.is_symlink():
        path.unlink()
        return FolderRemoved(str(path), 1, 0, True)
    if not path.exists():
        return FolderRemoved(str(path), 0, 0, False)
    files, size = folder_size(path)
    shutil.rmtree(path)
    return FolderRemoved(str(path), files, size, True)


# --- Redis keys ------------------------------------------------------------------------------------


def _redis_url_of(value) -> str | None:
    if isinstance(value, dict):
        value = value.get("address")
    if isinstance(value, str) and value.split(":", 1)[0] in ("redis", "rediss", "unix"):
        return value
    return None


def redis_urls() -> list[str]:
    """Every Redis database the app writes to, each once: the app's, the cache's, the channel
    layer's, the Celery broker's and result backend's."""
    candidates: list[object] = [settings.REDIS_URL]
    for cache in getattr(settings, "CACHES", {}).values():
        if "redis" in str(cache.get("BACKEND", "")).lower():
            location = cache.get("LOCATION")
            candidates.extend(location if isinstance(location, list | tuple) else [location])
    for layer in getattr(settings, "CHANNEL_LAYERS", {}).values():
        candidates.extend((layer.get("CONFIG") or {}).get("hosts") or [])
    candidates += [getattr(settings, "CELERY_BROKER_URL", None), getattr(settings, "CELERY_RESULT_BACKEND", None)]
    seen: dict[tuple, str] = {}
    for candidate in candidates:
        url = _redis_url_of(candidate)
        if url is None:
            continue
        seen.setdefault(_same_db(url), url)
    return list(seen.values())


def _same_db(url: str) -> tuple:
    parts = urlsplit(url)
    db = parts.path.strip("/") or "0"
    return (parts.scheme, parts.hostname, parts.port or 6379, db)


def redacted(url: str) -> str:
    """`redis://host:port/db` without the password (it goes into reports and logs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path or '/0'}"


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def hash_tag_pattern(tenant_id) -> str:
    """The SCAN pattern of every key carrying the tenant's hash tag (autonomos/core/redis_names.py)."""
    return redis_names.tenant_keys_pattern(tenant_id)


def _scan(client: redis.Redis, pattern: str) -> Iterator[bytes]:
    yield from client.scan_iter(match=pattern, count=SCAN_COUNT)


def _delete_all(client: redis.Redis, keys: Iterable[bytes]) -> int:
    removed = 0
    batch: list[bytes] = []
    for key in keys:
        batch.append(key)
        if len(batch) >= DELETE_BATCH:
            removed += client.unlink(*batch)
            batch = []
    if batch:
        removed += client.unlink(*batch)
    return removed


def redis_keys_count(tenant_id) -> dict[str, int]:
    """Per Redis database (redacted URL): how many keys carry the tenant's hash tag."""
    pattern = hash_tag_pattern(tenant_id)
    out = {}
    for url in redis_urls():
        with _client(url) as client:
            out[redacted(url)] = sum(1 for _ in _scan(client, pattern))
    return out


def redis_keys_remove(tenant_id) -> dict[str, int]:
    """Delete every key carrying the tenant's hash tag (SCAN + UNLINK, never KEYS) in every Redis
    database the app uses, and its channel-layer group. Returns keys removed per database."""
    pattern = hash_tag_pattern(tenant_id)
    group_keys = set(channel_group_keys(tenant_id))
    out = {}
    for url in redis_urls():
        with _client(url) as client:
            # Collected first: deleting while a SCAN cursor walks the keyspace is allowed, but the
            # count is then easier to trust.
            keys = list(_scan(client, pattern))
            removed = _delete_all(client, keys)
            if group_keys:
                removed += client.unlink(*group_keys)
            out[redacted(url)] = removed
    return out


def channel_group_keys(tenant_id) -> list[str]:
    """The channel layer's storage key of the tenant's events group (channels_redis: `<prefix>:group:<name>`)."""
    from autonomos.core.events import events_group

    keys = []
    for layer in getattr(settings, "CHANNEL_LAYERS", {}).values():
        if "redis" not in str(layer.get("BACKEND", "")).lower():
            continue
        prefix = (layer.get("CONFIG") or {}).get("prefix", "asgi")
        keys.append(f"{prefix}:group:{events_group(tenant_id_str(tenant_id))}")
    return keys


# --- Celery messages -----------------------------------------------------------------------------


@dataclass
class QueueSweep:
    """Messages of a tenant in the broker: removed from the queues, and handed to workers."""

    broker: str = ""
    removed: int = 0
    removed_task_ids: list[str] = field(default_factory=list)
    results_removed: int = 0
    in_flight: list[str] = field(default_factory=list)  # "name[id]" of messages a worker holds
    skipped: str = ""  # why nothing was looked at (a broker that is not Redis)


def _broker_url() -> str | None:
    return _redis_url_of(getattr(settings, "CELERY_BROKER_URL", None))


def _transport_options() -> dict:
    return dict(getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {})


def _headers_of(raw: bytes | str) -> dict:
    try:
        message = json.loads(raw)
    except (ValueError, TypeError):
        return {}
    headers = message.get("headers") if isinstance(message, dict) else None
    return headers if isinstance(headers, dict) else {}


def message_is_for(headers: dict, *, schema_name: str, tenant_id: str) -> bool:
    """A message was queued for this tenant: its schema header names the tenant's schema, and its
    tenant-id header (when it has one) names this tenant, not a later one with the same schema."""
    if headers.get("_schema_name") != schema_name:
        return False
    queued_for = headers.get("_tenant_id")
    return queued_for in (None, "", tenant_id)


def _queue_keys(client: redis.Redis, prefix: str, sep: str, steps: list[int]) -> list[bytes]:
    """The list keys of every queue bound in the broker, with their priority variants."""
    queues = {str(getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery") or "celery")}
    for binding in client.scan_iter(match=_glob_escape(prefix + KOMBU_BINDING_PREFIX) + "*", count=SCAN_COUNT):
        for member in client.smembers(binding):
            queues.add(member.decode("utf-8", "replace").split(sep)[-1])
    keys = []
    for queue in sorted(q for q in queues if q):
        for step in sorted({0, *steps}):
            name = f"{prefix}{queue}{sep}{step}" if step else f"{prefix}{queue}"
            if client.type(name) == b"list":
                keys.append(name.encode())
    return keys


def queued_tasks_remove(*, schema_name: str, tenant_id, dry_run: bool = False) -> QueueSweep:
    """Remove the tenant's messages waiting in the broker's queues (LREM of the exact message: a
    message a worker took meanwhile is simply not found), delete their result keys, and list the
    tenant's messages workers hold (running, or waiting for their countdown); those are dropped by
    the worker when they run (autonomos/core/tasks.py). With `dry_run`, only counts."""
    tid = tenant_id_str(tenant_id)
    url = _broker_url()
    if url is None:
        return QueueSweep(skipped="the Celery broker is not Redis: the worker drops tasks of deleted tenants")
    options = _transport_options()
    prefix = str(options.get("global_keyprefix") or "")
    sep = str(options.get("sep") or KOMBU_SEP)
    steps = [int(s) for s in options.get("priority_steps") or (0, 3, 6, 9)]
    sweep = QueueSweep(broker=redacted(url))
    with _client(url) as client:
        for key in _queue_keys(client, prefix, sep, steps):
            start = 0
            while True:
                page = client.lrange(key, start, start + QUEUE_PAGE - 1)
                if not page:
                    break
                kept = 0
                for raw in page:
                    headers = _headers_of(raw)
                    if not message_is_for(headers, schema_name=schema_name, tenant_id=tid):
                        kept += 1
                        continue
                    if dry_run:
                        sweep.removed += 1
                        kept += 1
                    elif client.lrem(key, 1, raw):
                        sweep.removed += 1
                        sweep.removed_task_ids.append(str(headers.get("id", "")))
                start += kept
        for _tag, value in client.hscan_iter(prefix + KOMBU_UNACKED, count=SCAN_COUNT):
            try:
                raw = json.loads(value)[0]
            except (ValueError, TypeError, IndexError, KeyError):
                continue
            headers = raw.get("headers") if isinstance(raw, dict) else None
            if isinstance(headers, dict) and message_is_for(headers, schema_name=schema_name, tenant_id=tid):
                sweep.in_flight.append(f"{headers.get('task', '?')}[{headers.get('id', '?')}]")
    if sweep.removed_task_ids:
        sweep.results_removed = _results_remove(sweep.removed_task_ids)
    return sweep


def _results_remove(task_ids: list[str]) -> int:
    url = _redis_url_of(getattr(settings, "CELERY_RESULT_BACKEND", None))
    ids = [t for t in task_ids if t]
    if url is None or not ids:
        return 0
    with _client(url) as client:
        return client.unlink(*(RESULT_KEY_PREFIX + t for t in ids))


# --- beat's periodic tasks ---------------------------------------------------------------------


def periodic_task_prefix(tenant_id) -> str:
    """Every periodic task of a tenant is named with this prefix (`tenant:<tenant_id>:`), so beat's
    table (in the public schema, shared by all tenants) gives up a tenant's tasks by name."""
    return f"tenant:{tenant_id_str(tenant_id)}:"


def periodic_tasks_remove(tenant_id) -> int:
    """Delete the tenant's periodic tasks (beat sees the change: django-celery-beat's delete signal)."""
    from django_celery_beat.models import PeriodicTask
    from django_tenants.utils import schema_context

    with schema_context("public"):
        deleted, _ = PeriodicTask.objects.filter(name__startswith=periodic_task_prefix(tenant_id)).delete()
    return deleted


# --- all of it -----------------------------------------------------------------------------------


@dataclass
class LeftoversRemoved:
    """What was removed outside PostgreSQL, and what could not be."""

    folder: FolderRemoved | None = None
    redis_keys: dict[str, int] = field(default_factory=dict)
    queue: QueueSweep | None = None
    periodic_tasks: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def redis_keys_total(self) -> int:
        return sum(self.redis_keys.values())


def leftovers_remove(*, tenant_id, schema_name: str | None) -> LeftoversRemoved:
    """Remove the tenant's queued messages (by schema; skipped when `schema_name` is None), periodic
    tasks, data folder and Redis keys. Each step runs even when an earlier one failed; failures are listed in
    `errors` (run it again to finish)."""
    tid = tenant_id_str(tenant_id)
    out = LeftoversRemoved()
    steps = [
        ("periodic tasks", lambda: setattr(out, "periodic_tasks", periodic_tasks_remove(tid))),
        ("data folder", lambda: setattr(out, "folder", data_dir_remove(tid))),
        ("Redis keys", lambda: out.redis_keys.update(redis_keys_remove(tid))),
    ]
    if schema_name:
        steps.insert(0, ("queued tasks",
                         lambda: setattr(out, "queue", queued_tasks_remove(schema_name=schema_name, tenant_id=tid))))
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - reported, and the other steps still run
            logger.exception("tenant %s: removing its %s failed", tid, name)
            out.errors.append(f"{name}: {type(exc).__name__}: {exc}")
    return out
