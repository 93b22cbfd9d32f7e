"""The delete guard's review items: a sync that would delete more than a configured share of a
connection's records deletes nothing, pauses the connection and asks a person (docs/adr/0019-deletes.md).

The DCL's delete stage (dcl/deletes.py, the layer above) finds the deletes and calls these:
- `deletes_review_open` pauses the connection and opens (or refreshes) its one pending item;
- `deletes_allowance` is the approved item not used yet: the next delete stage may delete up to
  the approved count, once, and marks it used (`deletes_allowance_use`);
- `deletes_review_decide` (called by `review_decide`): approve lifts the pause and asks for a run
  (a full one when a file's keys must be read again) that applies the deletes; reject lifts the
  pause and deletes nothing (a later sync that still finds the deletes asks again).
"""

from __future__ import annotations

from typing import Any

from django.db import connection as db_connection
from django.db import transaction
from django.utils import timezone

from autonomos.core.events import publish_event
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection

from .models import ReviewDecision, ReviewItem
from .sync_request import pipeline_run_request

_UNDECIDED = (ReviewItem.Status.PENDING, ReviewItem.Status.FLAGGED)


def _status_set(connection: Connection, status: str, error: str = "") -> None:
    from connectors.services import connection_status_set

    connection_status_set(connection=connection, status=status, error=error)


def deletes_pending(*, connection: Connection) -> ReviewItem | None:
    """The connection's undecided delete review, if any."""
    return (ReviewItem.objects.filter(kind=ReviewItem.Kind.DELETES, connection=connection, status__in=_UNDECIDED)
            .order_by("-id").first())


def deletes_review_open(
    *, connection: Connection, deleting: int, held: int, share: float, objects: list[dict[str, Any]]
) -> ReviewItem:
    """Pause the connection and open its review item (one per connection: a later sync that finds
    the same or other deletes updates the pending one). `objects`: per source object its name,
    entity, mode, records held, records the sync would delete and a few of their keys."""
    percent = round(100.0 * deleting / held, 1) if held else 100.0
    title = (f"{connection.name}: the last sync would delete {deleting} of {held} records ({percent}%), "
             f"more than the allowed {round(100 * share)}%")[:300]
    proposal = {"action": "delete", "deletes": deleting, "held": held, "share": share, "objects": objects,
                "applied": False}
    with transaction.atomic():
        item = (ReviewItem.objects.select_for_update()
                .filter(kind=ReviewItem.Kind.DELETES, connection=connection, status__in=_UNDECIDED).first())
        if item is None:
            item = ReviewItem(kind=ReviewItem.Kind.DELETES, connection=connection)
        item.title = title
        item.proposal = proposal
        item.evidence = {"percent": percent, "found_at": timezone.now().isoformat()}
        item.risk = ReviewItem.Risk.HIGH
        item.confidence = 0.0
        item.full_clean()
        item.save()
        _status_set(connection, Connection.Status.PAUSED, title)
    tenant = current_tenant()
    payload = {"connection_id": connection.pk, "review_item_id": item.pk, "deletes": deleting, "held": held}
    transaction.on_commit(lambda: publish_event(tenant, "deletes_paused", payload))
    return item


def deletes_allowance(*, connection: Connection) -> ReviewItem | None:
    """The approved delete review of the connection that no delete stage has used yet."""
    for item in ReviewItem.objects.filter(kind=ReviewItem.Kind.DELETES, connection=connection,
                                          status=ReviewItem.Status.APPROVED).order_by("-id")[:5]:
        if not (item.proposal or {}).get("applied"):
            return item
    return None


def deletes_allowance_use(*, item: ReviewItem, deleted: int) -> None:
    item.proposal = {**(item.proposal or {}), "applied": True, "deleted": deleted}
    item.save(update_fields=["proposal"])


def deletes_review_decide(*, item: ReviewItem, verdict: str, user=None, note: str = "") -> dict:
    """Lift the pause; on approval ask for the run that applies the deletes (inside review_decide's
    transaction: the run is sent once it commits)."""
    connection = Connection.objects.select_for_update().filter(pk=item.connection_id).first()
    outcome: dict[str, Any] = {"unpaused": False, "run_requested": False}
    if connection is None:
        return outcome
    if connection.status == Connection.Status.PAUSED:
        _status_set(connection, Connection.Status.OK)
        outcome["unpaused"] = True
    if verdict == ReviewDecision.Decision.APPROVED:
        # a file's keys are known only when it is read from its first row: read it whole again
        # a file's keys, or a delta's removals (consumed by the read that found them), are found
        # again only by reading the object from its first record
        full = any(o.get("mode") in ("full_read", "change_tracking") for o in (item.proposal or {}).get("objects", []))
        schema = db_connection.schema_name
        transaction.on_commit(lambda: pipeline_run_request(connection_id=connection.pk, schema=schema, full=full,
                                                                 trigger="review"))
        outcome["run_requested"] = True
        outcome["full"] = full
    return outcome
