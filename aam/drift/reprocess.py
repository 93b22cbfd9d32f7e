"""Re-processing after a reviewed repair: read the object again so records synced meanwhile are
mapped the new way (the DCL upserts by source id, nothing doubles)."""

from __future__ import annotations

from aam.models import DriftEvent
from connectors.models import Connection

from ..sync_request import object_reread


def reprocess_started(*, connection: Connection, source_object: str) -> None:
    """The sync is about to read the object again from its reset cursor: the request is served."""
    DriftEvent.objects.filter(
        connection=connection, source_object=source_object, reprocess=DriftEvent.Reprocess.PENDING
    ).update(reprocess=DriftEvent.Reprocess.STARTED)


def reprocess_request(*, connection: Connection, source_object: str, events: list[DriftEvent]) -> bool:
    """Records synced since the drift was detected used the mapping before the decision: read the
    object again (its cursor is reset; the DCL upserts by source id, so nothing doubles) and queue a
    sync. Returns whether re-processing was requested."""
    synced = connection.last_synced_at
    if not events or synced is None or all(e.detected_at >= synced for e in events):
        return False  # nothing was read under the old mapping since the change
    # A pipeline run, asked for by its task's name like POST /api/connections/<id>/sync/ does
    # (aam does not import the DCL).
    object_reread(connection=connection, source_object=source_object)
    DriftEvent.objects.filter(pk__in=[e.pk for e in events]).update(reprocess=DriftEvent.Reprocess.PENDING)
    return True
