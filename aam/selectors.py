"""AAM reads: the active mapping of a source object, its version history, review items."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Max, Q, QuerySet

from .models import DriftEvent, FieldMapping, MappingChange, ReviewItem


@dataclass(frozen=True)
class ActiveMapping:
    """The mapping in force for one (connection, source object).

    fields: source field → canonical field for every mapped field; confidences: source field →
    confidence; pending: proposals awaiting review (not applied); unmapped: fields left unmapped;
    excluded: columns a person excluded (not mapped, their values not carried at all).
    """

    entity: str | None
    version: int
    fields: dict[str, str] = field(default_factory=dict)
    confidences: dict[str, float] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)


def mapping_latest_version(*, connection, source_object_name: str) -> int:
    latest = FieldMapping.objects.filter(connection=connection, source_object=source_object_name).aggregate(
        v=Max("version")
    )["v"]
    return latest or 0


def mapping_rows(*, connection, source_object_name: str, version: int | None = None) -> QuerySet[FieldMapping]:
    """Rows of one version (the latest when `version` is None), in field order of creation."""
    if version is None:
        version = mapping_latest_version(connection=connection, source_object_name=source_object_name)
    return FieldMapping.objects.filter(
        connection=connection, source_object=source_object_name, version=version
    ).order_by("id")


def active_mapping_from_rows(rows) -> ActiveMapping | None:
    rows = list(rows)
    if not rows:
        return None
    entity = next((r.canonical_entity for r in rows if r.canonical_entity), None)  # None: no entity fits
    fields: dict[str, str] = {}
    confidences: dict[str, float] = {}
    pending: dict[str, str] = {}
    unmapped: list[str] = []
    excluded: list[str] = []
    for r in rows:
        # rows of an older version that were in force then are `superseded` now
        if r.status in (FieldMapping.Status.ACTIVE, FieldMapping.Status.SUPERSEDED) and r.canonical_field:
            fields[r.source_field] = r.canonical_field
            confidences[r.source_field] = r.confidence
        elif r.status == FieldMapping.Status.PENDING and r.canonical_field:
            pending[r.source_field] = r.canonical_field
            unmapped.append(r.source_field)
        elif r.status == FieldMapping.Status.EXCLUDED:
            excluded.append(r.source_field)
        else:
            unmapped.append(r.source_field)
    return ActiveMapping(
        entity=entity,
        version=rows[0].version,
        fields=fields,
        confidences=confidences,
        pending=pending,
        unmapped=unmapped,
        excluded=excluded,
    )


def mapping_active(*, connection, source_object_name: str) -> ActiveMapping | None:
    """The active mapping of (connection, source object): the active rows of its latest version."""
    return active_mapping_from_rows(mapping_rows(connection=connection, source_object_name=source_object_name))


def mapping_versions(*, connection, source_object_name: str) -> list[dict]:
    """Version history, newest first: `{version, created_at, fields, mapped, pending}` per version."""
    rows = (
        FieldMapping.objects.filter(connection=connection, source_object=source_object_name)
        .values("version")
        .annotate(
            created_at=Max("created_at"),
            fields=Count("id"),
            # the rows in force when the version was the latest are `superseded` once a newer one exists
            mapped=Count(
                "id",
                filter=Q(
                    status__in=(FieldMapping.Status.ACTIVE, FieldMapping.Status.SUPERSEDED),
                    canonical_field__isnull=False,
                ),
            ),
            pending=Count("id", filter=Q(status=FieldMapping.Status.PENDING)),
        )
        .order_by("-version")
    )
    return list(rows)


def mapping_objects(*, connection=None) -> list[dict]:
    """Every (connection, source object) with a mapping: `{connection_id, source_object, version}`."""
    qs = FieldMapping.objects.all()
    if connection is not None:
        qs = qs.filter(connection=connection)
    return list(
        qs.values("connection_id", "source_object")
        .annotate(version=Max("version"))
        .order_by("connection_id", "source_object")
    )


def mapping_released_fields(*, connection, source_object_name: str, mapped) -> frozenset[str]:
    """Canonical fields a person's change in the mapping editor took away from the object and that
    its mapping does not feed again (`mapped`: the canonical fields it feeds now). The records read
    again carry them empty, so the views do not keep values of the mapping before (docs/adr/0027)."""
    taken = MappingChange.objects.filter(
        connection=connection,
        source_object=source_object_name,
        field_before__isnull=False,
        status_before=FieldMapping.Status.ACTIVE,
    ).values_list("field_before", flat=True)
    return frozenset(set(taken) - set(mapped))


def review_item_pending_for_field(*, connection, source_object_name: str, source_field: str) -> ReviewItem | None:
    return (
        ReviewItem.objects.filter(
            kind=ReviewItem.Kind.MAPPING,
            status=ReviewItem.Status.PENDING,
            connection=connection,
            proposal__source_object=source_object_name,
            proposal__source_field=source_field,
        )
        .order_by("-id")
        .first()
    )


def drift_held_fields(*, connection, source_object_name: str) -> set[str]:
    """Fields gone from the source (aam.drift) that the mapping keeps until a human decides (or decided to keep)."""
    return set(
        DriftEvent.objects.filter(
            connection=connection, source_object=source_object_name, holds_mapping=True
        ).values_list("field", flat=True)
    )
