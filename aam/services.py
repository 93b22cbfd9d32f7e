"""AAM writes: run the mapping engine for a discovered source object, store versioned mappings,
queue review items, and record human decisions in the tenant's mapping memory."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from autonomos.core.events import publish_event
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection

from .editor.meaningful import hint_needs_review
from .editor.review import hints_for, pending_row_for, review_item_for, unmapped_review_ensure
from .mapping import map_source
from .mapping.types import Column, FieldProposal
from .mapping.values import profile_values
from .memory import memory_teach
from .models import FieldMapping, MappingMemory, ReviewItem
from .ontology import get_ontology
from .selectors import (
    ActiveMapping,
    active_mapping_from_rows,
    drift_held_fields,
    mapping_rows,
    review_item_pending_for_field,
)
from .sources import as_source_object, declared_id
from .sync_request import object_reread

_MONEY_OR_KEY = {"amount", "annual_revenue", "billed_cost", "effective_cost", "list_cost", "contracted_cost", "id"}
_SAMPLE_CHARS = 120
_MAX_FIELD_NAME = 512  # FieldMapping.source_field

logger = logging.getLogger(__name__)


def _risk(proposal: FieldProposal) -> str:
    """Money and keys matter most; low confidence raises the risk."""
    critical = proposal.canonical_field in _MONEY_OR_KEY or (proposal.canonical_field or "").endswith("_id")
    if proposal.confidence < 0.65 or critical and proposal.confidence < 0.75:
        return ReviewItem.Risk.HIGH
    if critical or proposal.confidence < 0.75:
        return ReviewItem.Risk.MEDIUM
    return ReviewItem.Risk.LOW


def _lock(connection: Connection) -> Connection:
    # One writer per (connection): versions are numbered under this row lock.
    return Connection.objects.select_for_update().get(pk=connection.pk)


def _status_for(proposal: FieldProposal) -> str:
    if proposal.decision == "review" and proposal.canonical_field:
        return FieldMapping.Status.PENDING
    return FieldMapping.Status.ACTIVE


def _save(row: FieldMapping) -> FieldMapping:
    row.full_clean(validate_unique=False, validate_constraints=False)
    row.save()
    return row


def _supersede(rows: list[FieldMapping]) -> None:
    """Rows that were in force become `superseded`; pending and rejected rows keep their status, so
    an old version still reads as it was (what applied, what awaited review, what was turned down)."""
    FieldMapping.objects.filter(pk__in=[r.pk for r in rows], status=FieldMapping.Status.ACTIVE).update(
        status=FieldMapping.Status.SUPERSEDED
    )


def _samples_of(column: Column) -> list[str]:
    return [str(s)[:_SAMPLE_CHARS] for s in column.samples[:3] if s is not None]


def mapping_ensure(*, connection: Connection, source_object: Any) -> ActiveMapping:
    """Make sure (connection, source object) has an active mapping covering every current field.

    - No mapping yet: run the engine and store version 1.
    - The same fields as the latest version: return it unchanged (calling twice changes nothing).
    - Fields added or removed: a new version keeps every known field's decision (a human's approval
      is never overwritten by the engine), maps only the new fields, and drops the vanished ones.
    Proposals below the auto-apply threshold become pending rows with a ReviewItem each, and so do
    unmapped columns that look like a related entity's field (aam/editor/review.py). The engine
    (which may call an LLM) runs before the write transaction, so no lock is held while it thinks.
    """
    obj = as_source_object(source_object)
    tenant = current_tenant()
    columns, skipped = [], 0
    for f in obj.fields:
        try:
            column = Column.coerce(f)
        except ValueError:  # a blank header cannot be stored or mapped
            skipped += 1
            continue
        if len(column.name) > _MAX_FIELD_NAME:
            skipped += 1
            continue
        columns.append(column)
    if skipped:
        logger.warning("%d field(s) of %s have blank or over-long names and stay unmapped", skipped, obj.name[:100])
    if not columns:
        raise ValidationError({"source_object": f"{obj.name} has no fields to map"})
    names = {c.name for c in columns}
    latest = list(mapping_rows(connection=connection, source_object_name=obj.name))
    known = {r.source_field for r in latest}
    # Fields gone from the source whose removal awaits a human (aam.drift) stay in the mapping.
    held = drift_held_fields(connection=connection, source_object_name=obj.name) & (known - names)
    if latest and names | held == known:
        if unmapped_review_ensure(connection=connection, source_object_name=obj.name, columns=columns):
            return active_mapping_from_rows(mapping_rows(connection=connection, source_object_name=obj.name))
        return active_mapping_from_rows(latest)
    entity_hint = latest[0].canonical_entity if latest else None
    result = map_source(
        columns=columns,
        object_name=obj.name,
        # a CSV export says which system it came from (`source_system`), else the connection kind
        source_kind=(connection.config or {}).get("source_system") or connection.kind,
        entity_hint=entity_hint,
        tenant=tenant,
        primary_key=declared_id(obj),
    )
    # Columns new to the mapping that the engine leaves unmapped, looked at again (aam/editor).
    proposed = {p.source_field: p.canonical_field for p in result.mappings}
    taken = {*filter(None, proposed.values()), *(r.canonical_field for r in latest if r.canonical_field)}
    hints = hints_for(
        entity=result.entity or entity_hint or "",
        columns=[c for c in columns if c.name not in known and not proposed.get(c.name)],
        taken=taken,
    )
    return _mapping_store(connection=connection, obj=obj, columns=columns, result=result, tenant=tenant, hints=hints)


def _feeds_with(p, used: dict[str, str], proposals: dict) -> bool:
    """A proposal onto a field another column holds is kept only when the engine pairs the two columns
    (`feeds_with`, either way round: the alternative may come first in the source): they are filled on
    different records and both feed the field (docs/adr/0031)."""
    holder = used.get(p.canonical_field)
    if holder is None:
        return False
    held = proposals.get(holder)
    return p.feeds_with == holder or (held is not None and held.feeds_with == p.source_field)


@transaction.atomic
def _mapping_store(
    *, connection: Connection, obj: Any, columns: list[Column], result, tenant, hints: dict[str, dict] | None = None
) -> ActiveMapping:
    connection = _lock(connection)
    names = [c.name for c in columns]
    # Read again under the lock: another worker may have stored this object meanwhile.
    latest = list(mapping_rows(connection=connection, source_object_name=obj.name))
    known = {r.source_field: r for r in latest}
    held = drift_held_fields(connection=connection, source_object_name=obj.name) & (set(known) - set(names))
    if latest and set(names) | held == set(known):
        return active_mapping_from_rows(latest)
    kept = {n: known[n] for n in [*names, *held] if n in known}
    entity_hint = latest[0].canonical_entity if latest else None
    entity = result.entity or entity_hint or ""
    proposals = {p.source_field: p for p in result.mappings}
    used = {
        r.canonical_field: r.source_field
        for r in kept.values()
        if r.canonical_field and r.status in (FieldMapping.Status.ACTIVE, FieldMapping.Status.PENDING)
    }
    version = (latest[0].version + 1) if latest else 1
    if latest:
        _supersede(latest)

    counts = {"auto": 0, "review": 0, "unmapped": 0, "kept": 0}
    review_items: list[int] = []
    for column in columns:
        old = kept.get(column.name)
        profile = profile_values(column.type, list(column.samples))
        if old is not None:
            _save(old.carried_forward(version=version))
            counts["kept"] += 1
            continue
        p = proposals.get(column.name) or FieldProposal(column.name, None, 0.0, "none", "unmapped", "")
        if p.canonical_field and p.canonical_field in used and not _feeds_with(p, used, proposals):
            p = FieldProposal(
                column.name,
                None,
                0.0,
                "none",
                "unmapped",
                f"{p.canonical_field} is already mapped from another field of {obj.name}",
            )
        hint = None if p.canonical_field else (hints or {}).get(column.name)
        if hint and hint.get("proposal") in used:  # the reference is fed by a column kept from before
            hint = {**hint, "proposal": None}
        if p.canonical_field:
            used.setdefault(p.canonical_field, column.name)
        counts[
            "auto" if p.decision == "auto" and p.canonical_field else "review" if p.decision == "review" else "unmapped"
        ] += 1
        row = FieldMapping(
            connection=connection,
            source_object=obj.name,
            source_field=column.name,
            source_type=profile.effective,
            value_signature=profile.signature,
            canonical_entity=entity,
            canonical_field=p.canonical_field,
            confidence=max(0.0, min(1.0, p.confidence)),
            method=p.method,
            status=_status_for(p),
            version=version,
            explanation=p.explanation[:2000],
            hint=hint,
        )
        if hint and hint.get("proposal"):
            used.setdefault(hint["proposal"], column.name)
            pending_row_for(row, hint)
        _save(row)
        if hint and (hint.get("proposal") or hint_needs_review(hint, engine_confidence=row.confidence)):
            item = review_item_for(connection=connection, row=row, column=column)
            if item is not None:
                review_items.append(item.pk)
        elif row.status == FieldMapping.Status.PENDING and not review_item_pending_for_field(
            connection=connection, source_object_name=obj.name, source_field=column.name
        ):
            item = ReviewItem(
                kind=ReviewItem.Kind.MAPPING,
                connection=connection,
                confidence=row.confidence,
                risk=_risk(p),
                title=f"{obj.name}.{column.name} → {entity}.{p.canonical_field}"[:300],
                proposal={
                    "connection_id": connection.pk,
                    "source_object": obj.name,
                    "source_field": column.name,
                    "canonical_entity": entity,
                    "canonical_field": p.canonical_field,
                    "version": version,
                },
                evidence={
                    "method": p.method,
                    "explanation": p.explanation,
                    "field_type": profile.effective,
                    "value_signature": profile.signature,
                    "samples": _samples_of(column),
                    "entity_confidence": result.entity_confidence,
                },
            )
            item.full_clean()
            item.save()
            review_items.append(item.pk)
    for name in sorted(held):  # a held field keeps its row in every new version until decided
        old = known[name]
        _save(old.carried_forward(version=version))

    payload = {
        "connection_id": connection.pk,
        "source_object": obj.name,
        "entity": entity,
        "version": version,
        "fields": len(columns),
        "entity_confidence": result.entity_confidence,
        "llm_used": result.llm_used,
        **counts,
    }
    transaction.on_commit(lambda: publish_event(tenant, "mapping_progress", payload))
    if review_items:
        review_payload = {
            "connection_id": connection.pk,
            "source_object": obj.name,
            "kind": "mapping",
            "count": len(review_items),
            "review_item_ids": review_items,
        }
        transaction.on_commit(lambda: publish_event(tenant, "review_required", review_payload))
    return active_mapping_from_rows(mapping_rows(connection=connection, source_object_name=obj.name, version=version))


def _remember(
    *, connection: Connection, row: FieldMapping, canonical_field: str | None, approved: bool, user
) -> MappingMemory:
    return memory_teach(connection=connection, row=row, canonical_field=canonical_field, approved=approved, user=user)


@transaction.atomic
def mapping_decide(
    *,
    approve: bool,
    connection: Connection | None = None,
    source_object: str | None = None,
    source_field: str | None = None,
    review_item: ReviewItem | None = None,
    canonical_field: str | None = None,
    user=None,
    note: str = "",
) -> FieldMapping:
    """A human approves or rejects the mapping of one source field; the decision feeds the memory.

    Identify the field by (connection, source_object, source_field) or by its `review_item`.
    - approve, no `canonical_field`: the current proposal becomes active;
    - approve with `canonical_field`: the human's choice becomes active (the proposal, if different,
      is remembered as rejected);
    - reject: the proposal is remembered as rejected and the field is left unmapped.
    The change is a new mapping version; the review item (or a new audit item) records who and when.
    An approval that changes what the object's records carry, on a connection synced before, reads
    the object again so the views follow (the records read meanwhile lacked the field).
    """
    if review_item is not None:
        if review_item.kind != ReviewItem.Kind.MAPPING:
            raise ValidationError({"review_item": "only mapping review items are decided here"})
        proposal = review_item.proposal or {}
        connection = Connection.objects.filter(pk=proposal.get("connection_id")).first() or review_item.connection
        source_object, source_field = proposal.get("source_object"), proposal.get("source_field")
    if connection is None or not source_object or not source_field:
        raise ValidationError({"source_field": "say which field: connection, source_object and source_field"})
    connection = _lock(connection)
    tenant = current_tenant()
    if review_item is not None:
        review_item = ReviewItem.objects.select_for_update().get(pk=review_item.pk)
        if review_item.status != ReviewItem.Status.PENDING:
            raise ValidationError({"review_item": f"already {review_item.status}"})
    latest = list(mapping_rows(connection=connection, source_object_name=source_object))
    row = next((r for r in latest if r.source_field == source_field), None)
    if row is None:
        raise ValidationError({"source_field": f"{source_object}.{source_field} has no mapping"})
    ontology = get_ontology()
    if canonical_field is not None and not ontology.defines_field(row.canonical_entity, canonical_field):
        raise ValidationError({"canonical_field": f"{row.canonical_entity} has no field {canonical_field!r}"})
    proposed = row.canonical_field
    target = (canonical_field or proposed) if approve else None
    if approve and target:
        clash = next(
            (
                r
                for r in latest
                if r.source_field != source_field
                and r.canonical_field == target
                and r.status in (FieldMapping.Status.ACTIVE, FieldMapping.Status.PENDING)
            ),
            None,
        )
        if clash is not None:
            raise ValidationError(
                {"canonical_field": f"{target} is already mapped from {clash.source_field}; decide that field first"}
            )

    version = row.version + 1
    _supersede(latest)
    who = user.get_username() if user is not None else "a reviewer"
    new_row = None
    for r in latest:
        copy = r.carried_forward(version=version)
        if r.source_field == source_field:
            if approve:
                copy.canonical_field, copy.status, copy.method, copy.confidence = (
                    target,
                    FieldMapping.Status.ACTIVE,
                    FieldMapping.Method.HUMAN,
                    1.0,
                )
                copy.explanation = f"approved by {who}" + (f": {note}" if note else "")
            else:
                copy.status, copy.method = FieldMapping.Status.REJECTED, FieldMapping.Method.HUMAN
                copy.explanation = f"rejected by {who}" + (f": {note}" if note else "")
            new_row = copy
        _save(copy)

    if approve:
        _remember(connection=connection, row=row, canonical_field=target, approved=True, user=user)
        if proposed and proposed != target:
            _remember(connection=connection, row=row, canonical_field=proposed, approved=False, user=user)
    elif proposed:
        _remember(connection=connection, row=row, canonical_field=proposed, approved=False, user=user)

    status = ReviewItem.Status.APPROVED if approve else ReviewItem.Status.REJECTED
    item = review_item or review_item_pending_for_field(
        connection=connection, source_object_name=source_object, source_field=source_field
    )
    if item is None:  # deciding a field nobody queued: the decision is still an audit record
        item = ReviewItem(
            kind=ReviewItem.Kind.MAPPING,
            connection=connection,
            confidence=row.confidence,
            title=f"{source_object}.{source_field} → {row.canonical_entity}.{proposed}"[:300],
            proposal={
                "connection_id": connection.pk,
                "source_object": source_object,
                "source_field": source_field,
                "canonical_entity": row.canonical_entity,
                "canonical_field": proposed,
                "version": row.version,
            },
            evidence={"method": row.method, "explanation": row.explanation},
        )
    item.status, item.decided_at, item.note = status, timezone.now(), note[:5000]
    item.decided_by = user if user is not None and getattr(user, "pk", None) else None
    item.proposal = {**(item.proposal or {}), "decided_canonical_field": target}
    item.full_clean()
    item.save()

    event = {
        "review_item_id": item.pk,
        "kind": "mapping",
        "status": status,
        "connection_id": connection.pk,
        "source_object": source_object,
        "source_field": source_field,
        "canonical_field": target,
        "version": version,
    }
    transaction.on_commit(lambda: publish_event(tenant, "review_decided", event))
    progress = {
        "connection_id": connection.pk,
        "source_object": source_object,
        "entity": row.canonical_entity,
        "version": version,
        "decided": source_field,
    }
    transaction.on_commit(lambda: publish_event(tenant, "mapping_progress", progress))
    if approve and target and connection.last_synced_at is not None:
        object_reread(connection=connection, source_object=source_object, trigger="review")
    return new_row
