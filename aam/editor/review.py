"""Unmapped columns that look meaningful become review items (issue 18, item 4).

Two moments look at an unmapped column again (aam/editor/meaningful.py):
- when the mapping of an object is stored (`aam.services._mapping_store`): each new column the engine
  left unmapped gets its `hint`, and a hint worth a look (`hint_needs_review`) is stored with it:
  a proposed reference field as a `pending` row, like any proposal below the auto threshold, or, for
  an attribute of a related record, an `active` unmapped row; both with a mapping review item;
- for mappings stored before this existed (`unmapped_review_ensure`, from `mapping_ensure` when the
  fields did not change): the unmapped rows never looked at (`hint` null) are looked at once. Their
  hint is written onto the version in force (an annotation, not a decision); a proposal writes a new
  version with the pending row.

The items are ordinary mapping review items: the review queue shows them with their evidence and a
"Map to" choice, and `mapping_decide` applies the decision (approving re-reads the object).
"""

from __future__ import annotations

from django.db import transaction

from aam.mapping.engine import thresholds
from aam.mapping.types import Column
from aam.mapping.values import profile_values
from aam.models import FieldMapping, ReviewItem
from aam.selectors import mapping_rows, review_item_pending_for_field
from autonomos.core.events import publish_event
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection

from .meaningful import column_hints, hint_needs_review

_SAMPLE_CHARS = 120


def hint_confidence(hint: dict) -> float:
    """A proposal from a look at another entity is never surer than that look, and never applied by
    itself (below the auto threshold)."""
    auto, _ = thresholds()
    return round(max(0.0, min(float(hint.get("score") or 0.0), auto - 0.01)), 3)


def hints_for(*, entity: str, columns: list[Column], taken) -> dict[str, dict]:
    """Hints of the columns (left unmapped by the engine) of an object of `entity`."""
    if not entity or not columns:
        return {}
    return column_hints(entity=entity, columns=columns, taken=taken)


def pending_row_for(row: FieldMapping, hint: dict) -> FieldMapping:
    """`row` (unsaved) turned into the pending proposal of its hint's reference field."""
    row.canonical_field = hint["proposal"]
    row.status = FieldMapping.Status.PENDING
    row.method = FieldMapping.Method.HEURISTIC
    row.confidence = hint_confidence(hint)
    row.explanation = hint["why"][:2000]
    row.hint = hint
    return row


def review_item_for(*, connection: Connection, row: FieldMapping, column: Column | None) -> ReviewItem | None:
    """The review item of a hinted row, unless one waits for the field already."""
    if review_item_pending_for_field(
        connection=connection, source_object_name=row.source_object, source_field=row.source_field
    ):
        return None
    hint = row.hint or {}
    looks_like = f"{hint.get('entity')}.{hint.get('field')}"
    proposal = row.canonical_field if row.status == FieldMapping.Status.PENDING else None
    title = (
        f"{row.source_object}.{row.source_field} → {row.canonical_entity}.{proposal}"
        if proposal
        else f"{row.source_object}.{row.source_field}: unmapped, looks like {looks_like}"
    )
    profile = profile_values(column.type, list(column.samples)) if column is not None else None
    item = ReviewItem(
        kind=ReviewItem.Kind.MAPPING,
        connection=connection,
        confidence=hint_confidence(hint),
        risk=ReviewItem.Risk.HIGH if proposal else ReviewItem.Risk.MEDIUM,
        title=title[:300],
        proposal={
            "connection_id": connection.pk,
            "source_object": row.source_object,
            "source_field": row.source_field,
            "canonical_entity": row.canonical_entity,
            "canonical_field": proposal,
            "version": row.version,
            "looks_like": looks_like,
        },
        evidence={
            "method": "heuristic",
            "explanation": hint.get("why", ""),
            "looks_like": looks_like,
            "field_type": profile.effective if profile else row.source_type,
            "value_signature": profile.signature if profile else row.value_signature,
            "samples": [str(s)[:_SAMPLE_CHARS] for s in (column.samples if column else ())[:3] if s is not None],
            "engine": row.explanation[:500] if not proposal else "",
        },
    )
    item.full_clean()
    item.save()
    return item


def _candidates(rows: list[FieldMapping], names: set[str]) -> list[FieldMapping]:
    """Unmapped rows of the engine's (never a person's decision) not looked at yet."""
    return [
        r
        for r in rows
        if r.hint is None
        and r.status == FieldMapping.Status.ACTIVE
        and not r.canonical_field
        and r.method != FieldMapping.Method.HUMAN
        and r.canonical_entity
        and r.source_field in names
    ]


def unmapped_review_ensure(*, connection: Connection, source_object_name: str, columns: list[Column]) -> bool:
    """Look once at the unmapped columns of an existing mapping (see the module docstring). Returns
    whether a new mapping version was written."""
    by_name = {c.name: c for c in columns}
    rows = list(mapping_rows(connection=connection, source_object_name=source_object_name))
    todo = _candidates(rows, set(by_name))
    if not todo:
        return False
    entity = todo[0].canonical_entity
    taken = {r.canonical_field for r in rows if r.canonical_field and r.status in ("active", "pending")}
    hints = hints_for(entity=entity, columns=[by_name[r.source_field] for r in todo], taken=taken)
    return _apply_hints(connection, source_object_name, hints, by_name, rows[0].version)


@transaction.atomic
def _apply_hints(connection: Connection, object_name: str, hints: dict, by_name: dict, version: int) -> bool:
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    latest = list(mapping_rows(connection=connection, source_object_name=object_name))
    if not latest or latest[0].version != version:
        return False  # another writer moved the mapping meanwhile: the next sync looks again
    todo = {r.source_field: r for r in _candidates(latest, set(hints))}
    proposals = {n: h for n, h in hints.items() if n in todo and h and h.get("proposal")}
    items: list[int] = []
    new_version = None
    if proposals:
        new_version = version + 1
        FieldMapping.objects.filter(pk__in=[r.pk for r in latest], status=FieldMapping.Status.ACTIVE).update(
            status=FieldMapping.Status.SUPERSEDED
        )
        saved = []
        for r in latest:
            copy = r.carried_forward(version=new_version)
            if r.source_field in todo:
                copy.hint = hints.get(r.source_field) or {}
            if r.source_field in proposals:
                pending_row_for(copy, proposals[r.source_field])
            copy.full_clean(validate_unique=False, validate_constraints=False)
            copy.save()
            saved.append(copy)
        review_rows = [r for r in saved if r.source_field in todo]
    else:
        for name, row in todo.items():
            row.hint = hints.get(name) or {}
        FieldMapping.objects.bulk_update(list(todo.values()), ["hint"], batch_size=500)
        review_rows = list(todo.values())
    for row in review_rows:
        if row.source_field in proposals or hint_needs_review(row.hint, engine_confidence=row.confidence):
            item = review_item_for(connection=connection, row=row, column=by_name.get(row.source_field))
            if item is not None:
                items.append(item.pk)
    _announce(connection, object_name, items)
    return new_version is not None


def _announce(connection: Connection, object_name: str, items: list[int]) -> None:
    if not items:
        return
    tenant = current_tenant()
    payload = {
        "connection_id": connection.pk,
        "source_object": object_name,
        "kind": "mapping",
        "count": len(items),
        "review_item_ids": items,
    }
    transaction.on_commit(lambda: publish_event(tenant, "review_required", payload))
