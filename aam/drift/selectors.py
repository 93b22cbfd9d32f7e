"""Reads of drift detection and the review flow."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from aam.models import DriftEvent, ReviewDecision, ReviewItem, SchemaSnapshot

UNDECIDED = (ReviewItem.Status.PENDING, ReviewItem.Status.FLAGGED)


def snapshot_baseline(*, connection, source_object_name: str) -> SchemaSnapshot | None:
    """The snapshot a check compares with: the latest accepted one of this object."""
    return (
        SchemaSnapshot.objects.filter(connection=connection, source_object=source_object_name, accepted=True)
        .order_by("-id")
        .first()
    )


def snapshot_list(*, connection, source_object_name: str | None = None) -> QuerySet[SchemaSnapshot]:
    qs = SchemaSnapshot.objects.filter(connection=connection)
    if source_object_name is not None:
        qs = qs.filter(source_object=source_object_name)
    return qs.order_by("source_object", "-id")


def drift_event_list(
    *,
    connection_id: int | None = None,
    kind: str | None = None,
    status: str | None = None,
    source_object: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[DriftEvent]:
    qs = DriftEvent.objects.select_related("connection", "review_item")
    if connection_id is not None:
        qs = qs.filter(connection_id=connection_id)
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if source_object:
        qs = qs.filter(source_object=source_object)
    if since is not None:
        qs = qs.filter(detected_at__gte=since)
    if until is not None:
        qs = qs.filter(detected_at__lt=until)
    return qs.order_by("-detected_at", "-id")


def drift_events_undecided(*, connection, source_object_name: str | None = None) -> QuerySet[DriftEvent]:
    """Drift events of a connection still waiting for a human (pending or flagged)."""
    qs = DriftEvent.objects.filter(
        connection=connection, status__in=(DriftEvent.Status.PENDING, DriftEvent.Status.FLAGGED)
    )
    if source_object_name is not None:
        qs = qs.filter(source_object=source_object_name)
    return qs


def review_item_list(
    *,
    kind: str | None = None,
    status: str | None = None,
    risk: str | None = None,
    connection_id: int | None = None,
    search: str | None = None,
) -> QuerySet[ReviewItem]:
    qs = ReviewItem.objects.select_related("connection", "decided_by")
    if kind:
        qs = qs.filter(kind=kind)
    if status:
        qs = qs.filter(status=status)
    if risk:
        qs = qs.filter(risk=risk)
    if connection_id is not None:
        qs = qs.filter(connection_id=connection_id)
    if search:
        qs = qs.filter(Q(title__icontains=search) | Q(note__icontains=search))
    return qs.order_by("-created_at", "-id")


def review_decisions(*, item: ReviewItem) -> QuerySet[ReviewDecision]:
    return ReviewDecision.objects.filter(item=item).order_by("decided_at", "id")


def review_items_undecided(*, connection, kind: str | None = None) -> QuerySet[ReviewItem]:
    qs = ReviewItem.objects.filter(connection=connection, status__in=UNDECIDED)
    if kind:
        qs = qs.filter(kind=kind)
    return qs
