"""Operator actions on a connection's stream, both audited (StreamAction) and announced as events.

- replay: read the connection again from the start (a full sync). Safe to repeat: the DCL upserts
  by (connection, source id) and skips batch ids it already applied.
- reset: drop and recreate the consumer group at the stream's start, clearing its pending list, so
  every retained batch is delivered again. Safe for the same reasons.
Both refuse while the connection is syncing, when the two would race.
"""

from __future__ import annotations

from django.db import transaction

from aam.streams import binary_redis, group_name, stream_key
from aam.sync_lock import sync_running
from autonomos.core.errors import Conflict
from autonomos.core.events import publish_event
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection

from .models import StreamAction


def _refuse_while_syncing(connection: Connection) -> None:
    if sync_running(current_tenant(), connection.pk):
        raise Conflict("The connection is syncing; try again when the sync has finished.")


def _audit(*, connection: Connection, action: str, user, details: dict) -> StreamAction:
    record = StreamAction(connection_id=connection.pk, connection_name=connection.name, action=action,
                          actor=getattr(user, "username", "") or "system", details=details)
    record.full_clean()
    record.save()
    return record


def stream_replay(*, connection: Connection, user=None) -> StreamAction:
    """Queue a full re-read of `connection` from its first record; audited."""
    from .tasks import connection_sync_task

    tenant = current_tenant()
    _refuse_while_syncing(connection)
    with transaction.atomic():
        record = _audit(connection=connection, action=StreamAction.Action.REPLAY, user=user, details={"full": True})
        transaction.on_commit(lambda: connection_sync_task.delay(connection.pk, True))
    publish_event(tenant, "stream_replay", {"connection_id": connection.pk, "actor": record.actor})
    return record


def consumer_group_reset(*, connection: Connection, user=None) -> StreamAction:
    """Recreate the DCL consumer group of `connection`'s stream at its start; audited."""
    tenant = current_tenant()
    _refuse_while_syncing(connection)
    r = binary_redis()
    key, group = stream_key(tenant, connection.pk), group_name(tenant)
    pending = 0
    try:
        info = r.xpending(key, group)
        pending = int(info.get("pending", 0) if isinstance(info, dict) else 0)
        r.xgroup_destroy(key, group)
    except Exception:  # noqa: BLE001 - no stream or no group yet: creating it below is the reset
        pass
    r.xgroup_create(key, group, id="0", mkstream=True)
    length = r.xlen(key)
    record = _audit(connection=connection, action=StreamAction.Action.RESET, user=user,
                    details={"stream": key, "group": group, "pending_dropped": pending, "retained_entries": length})
    publish_event(tenant, "consumer_group_reset", {"connection_id": connection.pk, "actor": record.actor,
                                                   "retained_entries": length})
    return record
