"""The human review loop: one service decides a review item, whoever asks (admin, API, dashboard).

`review_decide(item=..., decision=..., user=..., note=...)`:
- mapping items: delegated to `aam.services.mapping_decide` (the mapping engine's own flow);
- drift items: the repair is applied (approve) or turned down (reject) in a new mapping version.
  An approval teaches the tenant's mapping memory, so the same field repairs itself next time; a
  rejection is never proposed again (the rejected drift event is matched by exact field names, and
  a rejected new-field mapping also teaches the engine, like a rejected mapping proposal);
- flag: the item stays undecided but marked for attention;
- every decision appends a `ReviewDecision` (the immutable audit log) and publishes `review_decided`;
- when the last undecided drift item of a connection frozen by its drift policy is decided, the
  freeze lifts (the drifted schema becomes the baseline and the connection's status is `ok`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from aam.memory import memory_teach
from aam.models import DriftEvent, FieldMapping, MappingMemory, ReviewDecision, ReviewItem, SchemaSnapshot
from aam.ontology import get_ontology
from aam.selectors import mapping_rows
from autonomos.core.events import publish_event
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection

from .reprocess import reprocess_request
from .services import frozen_events
from .versions import version_write

MAX_NOTE = 5000
_DECISIONS = {
    "approve": ReviewDecision.Decision.APPROVED,
    "approved": ReviewDecision.Decision.APPROVED,
    "reject": ReviewDecision.Decision.REJECTED,
    "rejected": ReviewDecision.Decision.REJECTED,
    "flag": ReviewDecision.Decision.FLAGGED,
    "flagged": ReviewDecision.Decision.FLAGGED,
}
_UNDECIDED = (ReviewItem.Status.PENDING, ReviewItem.Status.FLAGGED)


class ReviewConflict(ValidationError):
    """The decision conflicts with the item's state (already decided, a canonical field taken)."""


def _username(user) -> str:
    return user.get_username() if user is not None and getattr(user, "pk", None) else ""


def review_decide(
    *,
    item: ReviewItem,
    decision: str,
    user=None,
    note: str = "",
    canonical_field: str | None = None,
) -> ReviewItem:
    """Approve, reject or flag a review item, apply what it proposes, and log the decision.

    `decision`: approve / reject / flag (or approved / rejected / flagged). `canonical_field`: on
    approval of a mapping or drift item, the reviewer's own choice instead of the proposal.
    Raises ValidationError for bad input and ReviewConflict when the item was decided already or
    the chosen canonical field is fed by another source field.
    """
    if not isinstance(decision, str) or decision.strip().lower() not in _DECISIONS:
        raise ValidationError({"decision": "must be one of approve, reject, flag"})
    verdict = _DECISIONS[decision.strip().lower()]
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError({"note": f"at most {MAX_NOTE} characters"})
    if canonical_field is not None and verdict != ReviewDecision.Decision.APPROVED:
        raise ValidationError({"canonical_field": "only an approval can choose a canonical field"})
    tenant = current_tenant()
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().get(pk=item.pk)
        if item.status not in _UNDECIDED:
            raise ReviewConflict({"decision": f"this item was already {item.status}"})
        if verdict == ReviewDecision.Decision.FLAGGED and item.status == ReviewItem.Status.FLAGGED:
            raise ReviewConflict({"decision": "this item is already flagged"})
        previous = item.status
        proposal = dict(item.proposal or {})
        outcome: dict[str, Any] = {}
        if verdict == ReviewDecision.Decision.FLAGGED:
            DriftEvent.objects.filter(review_item=item).update(status=DriftEvent.Status.FLAGGED)
        elif item.kind == ReviewItem.Kind.MAPPING:
            outcome = _decide_mapping(item, verdict, user, note, canonical_field)
        elif item.kind == ReviewItem.Kind.DRIFT:
            outcome = _decide_drift(item, verdict, user, note, canonical_field)
        elif item.kind == ReviewItem.Kind.VALUE:
            # `canonical_field` carries the reviewer's canonical VALUE for value items (aam.values.review)
            from aam.values.review import value_review_decide

            outcome = value_review_decide(item=item, verdict=verdict, user=user, note=note, canonical=canonical_field)
        elif item.kind == ReviewItem.Kind.DELETES:
            if canonical_field is not None:
                raise ValidationError({"canonical_field": "delete reviews have no canonical field"})
            from aam.deletes_review import deletes_review_decide

            outcome = deletes_review_decide(item=item, verdict=verdict, user=user, note=note)
        elif canonical_field is not None:
            raise ValidationError({"canonical_field": "asset items have no canonical field"})
        item.refresh_from_db()
        item.status = verdict
        item.decided_at = timezone.now()
        item.decided_by = user if user is not None and getattr(user, "pk", None) else None
        item.note = note
        item.full_clean()
        item.save()
        log = ReviewDecision(
            item=item,
            decision=verdict,
            previous_status=previous,
            user=item.decided_by,
            username=_username(user),
            note=note,
            canonical_field=canonical_field or "",
            proposal=proposal,
            outcome=outcome,
        )
        log.full_clean()
        log.save()
        if item.connection_id is not None and verdict != ReviewDecision.Decision.FLAGGED:
            outcome["unfrozen"] = _unfreeze_if_done(item.connection_id)
        if item.kind != ReviewItem.Kind.MAPPING or verdict == ReviewDecision.Decision.FLAGGED:
            # mapping_decide publishes review_decided for the decisions it makes itself
            payload = {
                "review_item_id": item.pk,
                "kind": item.kind,
                "status": verdict,
                "connection_id": item.connection_id,
                "source_object": proposal.get("source_object"),
                "drift_event_ids": outcome.get("drift_event_ids", []),
                "mapping_version": outcome.get("mapping_version"),
                "unfrozen": outcome.get("unfrozen", False),
            }
            transaction.on_commit(lambda: publish_event(tenant, "review_decided", payload))
    return item


# --- mapping items --------------------------------------------------------------------------------


def _decide_mapping(item: ReviewItem, verdict: str, user, note: str, canonical_field: str | None) -> dict:
    from aam.services import mapping_decide

    if item.status == ReviewItem.Status.FLAGGED:  # mapping_decide decides pending items only
        ReviewItem.objects.filter(pk=item.pk).update(status=ReviewItem.Status.PENDING)
        item.status = ReviewItem.Status.PENDING
    row = mapping_decide(
        review_item=item,
        approve=verdict == ReviewDecision.Decision.APPROVED,
        canonical_field=canonical_field,
        user=user,
        note=note,
    )
    return {"mapping_version": row.version, "source_field": row.source_field, "canonical_field": row.canonical_field}


# --- drift items ----------------------------------------------------------------------------------


def teach(
    *, connection: Connection, row: FieldMapping, canonical_field: str | None, approved: bool, user
) -> MappingMemory:
    """A reviewer's decision on one source field, remembered by the mapping engine."""
    return memory_teach(connection=connection, row=row, canonical_field=canonical_field, approved=approved, user=user)


def _row_for(connection, object_name: str, entity: str, repair: dict, base: FieldMapping | None) -> FieldMapping:
    if base is not None:
        return base.carried_forward()
    return FieldMapping(
        connection=connection,
        source_object=object_name,
        source_field=repair["source_field"],
        source_type=repair.get("field_type") or "",
        value_signature=repair.get("value_signature") or "",
        canonical_entity=entity,
        canonical_field=None,
        status=FieldMapping.Status.ACTIVE,
    )


def _decide_drift(item: ReviewItem, verdict: str, user, note: str, canonical_field: str | None) -> dict:
    events = list(DriftEvent.objects.filter(review_item=item).order_by("id"))
    if not events:
        raise ValidationError({"review_item": "its drift events are gone (the connection was deleted)"})
    connection = Connection.objects.select_for_update().get(pk=events[0].connection_id)
    object_name = events[0].source_object
    latest = list(mapping_rows(connection=connection, source_object_name=object_name))
    if not latest:
        raise ValidationError({"review_item": f"{object_name} has no mapping to repair"})
    entity = (item.proposal or {}).get("canonical_entity") or next(
        (r.canonical_entity for r in latest if r.canonical_entity), ""
    )
    override = canonical_field is not None  # "" = the reviewer chose to leave the field unmapped
    if override:
        if len(events) > 1:
            raise ValidationError({"canonical_field": "a swap is approved as proposed"})
        if canonical_field and not get_ontology().defines_field(entity, canonical_field):
            raise ValidationError({"canonical_field": f"{entity} has no field {canonical_field!r}"})
        canonical_field = canonical_field or None
    approve = verdict == ReviewDecision.Decision.APPROVED
    by_field = {r.source_field: r for r in latest}
    out = {name: r.carried_forward() for name, r in by_field.items()}
    who = _username(user) or "a reviewer"
    why = f"{'approved' if approve else 'rejected'} by {who}" + (f": {note}" if note else "")
    touched: set[str] = set()
    lessons: list[tuple[FieldMapping, str | None, bool]] = []
    remap = False
    for event in events:
        repair = event.repair or {}
        action, src = repair.get("action"), repair.get("source_field") or event.field
        proposed = repair.get("canonical_field")
        target = canonical_field if override else proposed
        base = by_field.get(src)
        before = base.canonical_field if base is not None and base.status == FieldMapping.Status.ACTIVE else None
        row = _row_for(connection, object_name, entity, repair, base)
        row.source_field = src
        touched.add(src)
        if action == "drop":
            if approve or event.kind == DriftEvent.Kind.RENAMED:
                out.pop(event.field, None)  # the gone field leaves the mapping
                event.holds_mapping = False
            # rejecting a removal keeps expecting the field: it stays in the mapping (held)
        elif action in ("move", "swap", "map", "unmap", "retype"):
            if action == "move":
                out.pop(event.field, None)
                event.holds_mapping = False
            if approve:
                row.canonical_field, row.status = target, FieldMapping.Status.ACTIVE
                row.method, row.confidence = FieldMapping.Method.HUMAN, 1.0
                if action == "retype":
                    row.source_type = repair.get("field_type") or row.source_type
                    row.value_signature = repair.get("value_signature") or row.value_signature
                lessons.append((row, target, True))
                if proposed and target != proposed:
                    lessons.append((row, proposed, False))
                # records read meanwhile used the mapping in force: read them again if it changed
                remap = remap or target != before or action in ("move", "swap")
            elif action == "swap":
                row = None  # the mapping stays as it is; the rejected event is the memory
            elif proposed:
                row.canonical_field, row.status = proposed, FieldMapping.Status.REJECTED
                row.method = FieldMapping.Method.HUMAN
                if action == "map":
                    # a new field's proposal is a mapping proposal: the engine learns it like one. A
                    # rejected rename or retype is remembered by its drift event, by exact name: the
                    # engine's memory would widen it to every similar name (`Amount` for `Amount__c`).
                    lessons.append((row, proposed, False))
                remap = remap or action == "retype"
            else:
                row = None  # rejecting "leave unmapped" without a choice changes nothing
            if row is not None:
                row.explanation = f"drift ({event.kind}): {why}"[:2000]
                out[src] = row
        event.status = DriftEvent.Status.APPROVED if approve else DriftEvent.Status.REJECTED
        event.resolved_at = timezone.now()
    if approve:
        owners: dict[str, list[str]] = {}
        for name, r in out.items():
            if r.canonical_field and r.status in (FieldMapping.Status.ACTIVE, FieldMapping.Status.PENDING):
                owners.setdefault(r.canonical_field, []).append(name)
        for name in sorted(touched):
            r = out.get(name)
            others = [o for o in owners.get(r.canonical_field, []) if o != name] if r is not None else []
            if r is not None and r.canonical_field and others:
                raise ReviewConflict(
                    {"canonical_field": f"{r.canonical_field} is fed by {', '.join(others)}; decide that first"}
                )
    version = None
    if {(r.source_field, r.canonical_field, r.status, r.source_type) for r in out.values()} != {
        (r.source_field, r.canonical_field, r.status, r.source_type) for r in latest
    }:
        version = version_write(connection=connection, object_name=object_name, latest=latest, rows=list(out.values()))
    for row, target, ok in lessons:
        teach(connection=connection, row=row, canonical_field=target, approved=ok, user=user)
    for event in events:
        event.mapping_version_after = version or event.mapping_version_after
        event.full_clean()
        event.save()
    reprocess = remap and reprocess_request(connection=connection, source_object=object_name, events=events)
    return {
        "drift_event_ids": [e.pk for e in events],
        "mapping_version": version,
        "reprocess": bool(reprocess),
        "memory": [{"field": r.source_field, "canonical_field": t, "approved": ok} for r, t, ok in lessons],
    }


def _unfreeze_if_done(connection_id: int) -> bool:
    """Lift a drift freeze once no change of the connection awaits a human any more."""
    connection = Connection.objects.select_for_update().filter(pk=connection_id).first()
    if connection is None or frozen_events(connection).exists():
        return False
    pending = SchemaSnapshot.objects.filter(connection=connection, accepted=False)
    if connection.status != Connection.Status.FROZEN and not pending.exists():
        return False
    for name in set(pending.values_list("source_object", flat=True)):
        newest = pending.filter(source_object=name).order_by("-id").first()
        SchemaSnapshot.objects.filter(pk=newest.pk).update(accepted=True)
    if connection.status == Connection.Status.FROZEN:
        from connectors.services import connection_status_set

        connection_status_set(connection=connection, status=Connection.Status.OK)
    return True
