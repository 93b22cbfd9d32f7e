"""Live events: one function publishes, the dashboard (WebSocket) and SSE clients receive.

An event is kept in the tenant's Redis stream `events:{<tenant_id>}` (the last
EVENTS_STREAM_MAXLEN, so a reconnecting client resumes from its Last-Event-ID) and pushed to
the tenant's channel-layer group, which only that tenant's sockets join.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from . import redis_names
from .redis import get_redis

logger = logging.getLogger(__name__)


def events_stream_key(tenant) -> str:
    return redis_names.events_stream(tenant)


def events_group(tenant) -> str:
    """Channel-layer group of a tenant (group names allow only [a-zA-Z0-9_.-])."""
    return redis_names.events_channel_group(tenant)


def _decode(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    try:
        payload = json.loads(fields.get("payload", "{}"))
    except json.JSONDecodeError:
        payload = {}
    return {"id": entry_id, "type": fields.get("type", ""), "ts": fields.get("ts", ""), "payload": payload}


def publish_event(tenant, type: str, payload: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Publish one event for `tenant`. Callable from views, services and Celery tasks (sync code).

    Returns the event with its stream id. Publishing is best effort: a Redis outage is logged and
    never breaks the work that emitted the event.
    """
    fields = {
        "type": type,
        "ts": datetime.now(UTC).isoformat(),
        "payload": json.dumps(payload or {}, cls=DjangoJSONEncoder),
    }
    try:
        entry_id = get_redis().xadd(events_stream_key(tenant), fields, maxlen=settings.EVENTS_STREAM_MAXLEN,
                                    approximate=False)
    except Exception:  # noqa: BLE001 - events must never break the caller
        logger.warning("event %s not stored for tenant %s", type, getattr(tenant, "tenant_id", tenant), exc_info=True)
        return None
    event = _decode(entry_id, fields)
    layer = get_channel_layer()
    if layer is not None:
        try:
            async_to_sync(layer.group_send)(events_group(tenant), {"type": "event.message", "event": event})
        except Exception:  # noqa: BLE001
            logger.warning("event %s not pushed live", type, exc_info=True)
    return event


def read_events(tenant, after: str | None = None, count: int = 500) -> list[dict[str, Any]]:
    """Events after stream id `after` (all retained events when None), oldest first."""
    start = f"({after}" if after else "-"
    try:
        entries = get_redis().xrange(events_stream_key(tenant), min=start, max="+", count=count)
    except Exception:  # noqa: BLE001 - a bad id or an outage reads as nothing new
        logger.warning("events not readable", exc_info=True)
        return []
    return [_decode(eid, fields) for eid, fields in entries]


def valid_event_id(value: str | None) -> str | None:
    """A Redis stream id (`<ms>-<seq>`) or None; anything else is ignored rather than trusted."""
    if not value:
        return None
    parts = value.strip().split("-")
    if len(parts) == 2 and all(p.isdigit() and len(p) <= 20 for p in parts):
        return value.strip()
    return None


def last_event_id(tenant) -> str:
    """The id of the tenant's newest event ("" when none or Redis is away): a page rendered now
    passes it to its live socket, which then replays whatever happened between the render and
    the socket's opening (a sync that starts as the page loads)."""
    try:
        entries = get_redis().xrevrange(events_stream_key(tenant), count=1)
    except Exception:  # noqa: BLE001 - the page still renders; it only misses that gap
        logger.warning("events not readable", exc_info=True)
        return ""
    return entries[0][0] if entries else ""
