"""The mapping editor's writes: map, remap, unmap, exclude or include one source column of a
connection's object, and undo the last change (docs/adr/0027-mapping-editor.md).

Every change:
- is checked first, and refused with a message that says why (`InvalidInput`, 400): an unknown object,
  column or canonical field, a field of another entity, a derived field, a field another column feeds,
  the record key (a field another column feeds is accepted only `alongside` it: both feed it then,
  docs/adr/0031); while a sync of the connection runs or a schema change of the column awaits review,
  it is refused as a conflict (409), so no read mixes two mappings and no drift decision is overtaken;
- writes the next mapping version (`FieldMapping` rows, never edited), with the column's row decided
  by a person (`method = human`, confidence 1.0);
- teaches the tenant's mapping memory like a review decision (a mapping approved, the one it replaced
  rejected), and decides the column's pending review item, if any, with an audit record;
- is logged as a `MappingChange` (who, what before and after, the versions, the memory it taught);
- re-reads the object when what its records carry changed and the connection was synced before: the
  cursor is reset and a pipeline run queued (`aam.sync_request.object_reread`, as drift re-processing
  does); the canonical field a change took away is sent empty (aam/ingest), so the views do not keep
  the old mapping's values.

`mapping_undo` reverses the last change not undone yet (an undo is a change too: history only grows).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from aam.memory import memory_teach
from aam.models import DriftEvent, FieldMapping, MappingChange, MappingMemory, ReviewDecision, ReviewItem
from aam.models.drift import SchemaSnapshot
from aam.ontology import get_ontology
from aam.selectors import mapping_rows
from aam.sync_lock import sync_running
from aam.sync_request import object_reread
from autonomos.core.errors import Conflict, InvalidInput
from autonomos.core.events import publish_event
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection

ACTIONS = ("map", "remap", "unmap", "exclude", "include")
MAX_NOTE = 2000
_HOLDS = (FieldMapping.Status.ACTIVE, FieldMapping.Status.PENDING)  # a row that feeds or claims its field
_UNDECIDED = (ReviewItem.Status.PENDING, ReviewItem.Status.FLAGGED)


# --- checks ---------------------------------------------------------------------------------------


def _username(user) -> str:
    return user.get_username() if user is not None and getattr(user, "pk", None) else ""


def _note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"The note is longer than {MAX_NOTE} characters.", details={"note": len(note)})
    return note


def _not_syncing(connection: Connection) -> None:
    if sync_running(current_tenant(), connection.pk):
        raise Conflict(
            "A sync of this connection is running; change its mapping when it has finished.",
            details={"connection_id": connection.pk},
        )


def _object_rows(connection: Connection, source_object: str) -> list[FieldMapping]:
    if not isinstance(source_object, str) or not source_object:
        raise InvalidInput("Say which object: source_object.", details={"source_object": "required"})
    rows = list(mapping_rows(connection=connection, source_object_name=source_object))
    if not rows:
        names = sorted(
            set(FieldMapping.objects.filter(connection=connection).values_list("source_object", flat=True))
        )
        raise InvalidInput(
            f"{connection.name} has no object {source_object!r} with a mapping"
            + (" (sync it first)" if not names else ""),
            details={"source_object": source_object, "objects": names[:100]},
        )
    return rows


def _row(rows: list[FieldMapping], source_object: str, source_field) -> FieldMapping:
    if not isinstance(source_field, str) or not source_field:
        raise InvalidInput("Say which column: source_field.", details={"source_field": "required"})
    row = next((r for r in rows if r.source_field == source_field), None)
    if row is None:
        raise InvalidInput(
            f"{source_object} has no column {source_field!r}",
            details={"source_field": source_field, "columns": [r.source_field for r in rows][:200]},
        )
    return row


def canonical_target(*, entity: str, source_object: str, value) -> str:
    """The canonical field a person named (`amount` or `opportunity.amount`), checked against the
    object's entity; a clear `InvalidInput` otherwise."""
    ontology = get_ontology()
    raw = value.strip() if isinstance(value, str) else ""
    if not raw:
        raise InvalidInput("Say which canonical field to map onto: canonical_field.",
                           details={"canonical_field": "required"})
    named_entity, _, name = raw.rpartition(".")
    if named_entity and named_entity != entity:
        if named_entity in ontology.entities:
            raise InvalidInput(
                f"{raw} is a field of {named_entity}; {source_object} maps onto {entity}",
                details={"canonical_field": raw, "entity": entity},
            )
        raise InvalidInput(f"There is no entity {named_entity!r}.", details={"canonical_field": raw})
    if ontology.defines_field(entity, name):
        if name == "id":
            raise InvalidInput(
                "id is the record key: it comes from the source's primary key and is not changed here "
                "(every record would become a new one).",
                details={"canonical_field": raw},
            )
        return name
    ent = ontology.entity(entity)
    if name in ent.derived:
        source = ent.derived[name].derived_from
        raise InvalidInput(
            f"{entity}.{name} is computed by the pipeline{f' from {source}' if source else ''}; map that instead",
            details={"canonical_field": raw},
        )
    others = [e for e in ontology.entity_names() if e != entity and ontology.defines_field(e, name)]
    if others:
        raise InvalidInput(
            f"{name} is a field of {', '.join(others)}, not of {entity}",
            details={"canonical_field": raw, "entity": entity, "fields": ent.field_names()},
        )
    raise InvalidInput(f"{entity} has no field {name!r}", details={"canonical_field": raw, "fields": ent.field_names()})


def _primary_key(connection: Connection, source_object: str) -> str:
    snap = (
        SchemaSnapshot.objects.filter(connection=connection, source_object=source_object)
        .order_by("-id")
        .values_list("primary_key", flat=True)
        .first()
    )
    return snap or ""


def _no_pending_drift(connection: Connection, source_object: str, source_field: str) -> None:
    """A schema change of the column awaiting review decides it; the editor does not overtake it."""
    event = (
        DriftEvent.objects.filter(
            connection=connection,
            source_object=source_object,
            status__in=(DriftEvent.Status.PENDING, DriftEvent.Status.FLAGGED),
        )
        .filter(Q(field=source_field) | Q(new_field=source_field) | Q(repair__source_field=source_field))
        .first()
    )
    if event is not None:
        raise Conflict(
            f"A schema change of {source_field} awaits review (item #{event.review_item_id}); decide it first.",
            details={"review_item_id": event.review_item_id},
        )


# --- writing --------------------------------------------------------------------------------------


def _write_version(latest: list[FieldMapping], changed: FieldMapping) -> int:
    """The next version: every row carried forward, `changed` in place of its column's row."""
    version = latest[0].version + 1
    FieldMapping.objects.filter(pk__in=[r.pk for r in latest], status=FieldMapping.Status.ACTIVE).update(
        status=FieldMapping.Status.SUPERSEDED
    )
    for r in latest:
        row = changed if r.source_field == changed.source_field else r.carried_forward()
        row.pk = None
        row.version = version
        row.full_clean(validate_unique=False, validate_constraints=False)
        row.save()
    return version


def _effect(row: FieldMapping) -> tuple[str | None, bool]:
    """What the column does to the object's records: the field it feeds, and whether it is dropped."""
    feeds = row.canonical_field if row.status in (FieldMapping.Status.ACTIVE, FieldMapping.Status.SUPERSEDED) else None
    return feeds, row.status == FieldMapping.Status.EXCLUDED


def _decide_item(connection: Connection, row: FieldMapping, target: str | None, user, why: str) -> ReviewItem | None:
    """The column's undecided mapping review item is decided by the change (and audited)."""
    item = (
        ReviewItem.objects.select_for_update()
        .filter(
            kind=ReviewItem.Kind.MAPPING,
            status__in=_UNDECIDED,
            connection=connection,
            proposal__source_object=row.source_object,
            proposal__source_field=row.source_field,
        )
        .order_by("-id")
        .first()
    )
    if item is None:
        return None
    proposed = (item.proposal or {}).get("canonical_field")
    verdict = ReviewItem.Status.APPROVED if target == proposed else ReviewItem.Status.REJECTED
    previous = item.status
    item.status, item.decided_at, item.note = verdict, timezone.now(), why[:5000]
    item.decided_by = user if user is not None and getattr(user, "pk", None) else None
    item.proposal = {**(item.proposal or {}), "decided_canonical_field": target}
    item.full_clean()
    item.save()
    log = ReviewDecision(
        item=item,
        decision=verdict,
        previous_status=previous,
        user=item.decided_by,
        username=_username(user),
        note=why[:5000],
        canonical_field=target or "",
        proposal=item.proposal,
        outcome={"decided_in": "mapping editor", "canonical_field": target},
    )
    log.full_clean()
    log.save()
    return item


def _lessons(connection: Connection, row: FieldMapping, before: str | None, after: str | None, user) -> list[int]:
    """Memory rows the change teaches: the field chosen approved, the one it replaced rejected."""
    lessons = [(after, True)] if after else []
    if before and before != after:
        lessons.append((before, False))
    return [
        memory_teach(connection=connection, row=row, canonical_field=field, approved=ok, user=user).pk
        for field, ok in lessons
    ]


def _finish(connection: Connection, change: MappingChange, before: FieldMapping, after: FieldMapping) -> None:
    """Re-read the object when its records change, log the change, tell the live pages."""
    synced = connection.last_synced_at is not None
    change.reprocess = synced and _effect(before) != _effect(after)
    change.full_clean()
    change.save()
    if change.reprocess:
        object_reread(connection=connection, source_object=change.source_object, trigger="mapping")
    tenant = current_tenant()
    payload = {
        "connection_id": connection.pk,
        "source_object": change.source_object,
        "source_field": change.source_field,
        "action": change.action,
        "canonical_field": change.field_after,
        "status": change.status_after,
        "version": change.version_after,
        "change_id": change.pk,
        "reprocess": change.reprocess,
    }
    transaction.on_commit(lambda: publish_event(tenant, "mapping_changed", payload))


def _new_row(
    row: FieldMapping, action: str, target: str | None, who: str, note: str, beside: tuple[str, ...] = ()
) -> FieldMapping:
    new = row.carried_forward(method=FieldMapping.Method.HUMAN, confidence=1.0)
    said = f": {note}" if note else ""
    if action in ("map", "remap"):
        new.canonical_field, new.status = target, FieldMapping.Status.ACTIVE
        also = f", alongside {', '.join(beside)}" if beside else ""
        new.explanation = f"mapped to {target} by {who}{also}{said}"
    elif action == "unmap":
        new.canonical_field, new.status = None, FieldMapping.Status.ACTIVE
        new.explanation = f"left unmapped by {who}{said}"
    elif action == "exclude":
        new.canonical_field, new.status = None, FieldMapping.Status.EXCLUDED
        new.explanation = f"excluded by {who}{said}"
    else:  # include
        new.canonical_field, new.status = None, FieldMapping.Status.ACTIVE
        new.explanation = f"included again by {who} (unmapped){said}"
    return new


def _check_action(
    action: str, row: FieldMapping, rows: list[FieldMapping], target: str | None, pk: str, alongside: bool = False
) -> str:
    """Refuse a change that changes nothing or breaks the mapping; the action as logged. `alongside`:
    the target may already be fed by other columns; this one then feeds it too (docs/adr/0031)."""
    feeds, excluded = _effect(row)
    name = row.source_field
    if feeds == "id" and action != "include":
        raise InvalidInput(
            f"{name} feeds the record key (id); it is not changed here (every record would become a new one).",
            details={"source_field": name},
        )
    if action in ("map", "remap"):
        if feeds == target:
            raise InvalidInput(f"{name} is mapped to {target} already.", details={"source_field": name})
        holders = [r for r in rows if r.source_field != name and r.canonical_field == target and r.status in _HOLDS]
        pending = next((r for r in holders if r.status == FieldMapping.Status.PENDING), None)
        if pending is not None:
            raise InvalidInput(
                f"{target} is proposed for {pending.source_field} already; decide that review first.",
                details={"canonical_field": target, "held_by": pending.source_field},
            )
        if holders and not alongside:
            raise InvalidInput(
                f"{target} is mapped from {holders[0].source_field} already; unmap that column first, or map "
                "this one alongside it (both then feed the field: the first value of a record wins).",
                details={"canonical_field": target, "held_by": holders[0].source_field},
            )
        return "remap" if feeds else "map"
    if action == "unmap":
        if not feeds and row.status != FieldMapping.Status.PENDING:
            raise InvalidInput(f"{name} is not mapped.", details={"source_field": name})
        return "unmap"
    if action == "exclude":
        if excluded:
            raise InvalidInput(f"{name} is excluded already.", details={"source_field": name})
        if pk and name in {p.strip() for p in pk.split(",")}:
            raise InvalidInput(f"{name} is the object's primary key; it cannot be excluded.",
                               details={"source_field": name})
        return "exclude"
    if not excluded:
        raise InvalidInput(f"{name} is not excluded.", details={"source_field": name})
    return "include"


@transaction.atomic
def mapping_change(
    *,
    connection: Connection,
    source_object: str,
    source_field: str,
    action: str,
    canonical_field: str | None = None,
    user=None,
    note: str = "",
    alongside: bool = False,
) -> MappingChange:
    """Change one column's mapping (see the module docstring); returns the logged change. `alongside`
    (map, remap): onto a field other columns feed already; all of them then feed it, in the mapping's
    column order, the first value of a record winning (docs/adr/0031-coalesce-source-columns.md)."""
    wanted = action.strip().lower() if isinstance(action, str) else ""
    if wanted not in ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}", details={"action": action})
    note = _note(note)
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    rows = _object_rows(connection, source_object)
    row = _row(rows, source_object, source_field)
    entity = row.canonical_entity
    if not entity:
        raise InvalidInput(
            f"{source_object} is not read into any canonical entity, so its columns map onto nothing.",
            details={"source_object": source_object},
        )
    target = canonical_target(entity=entity, source_object=source_object, value=canonical_field) if wanted in (
        "map", "remap") else None
    done = _check_action(wanted, row, rows, target, _primary_key(connection, source_object), alongside=alongside)
    _not_syncing(connection)
    _no_pending_drift(connection, source_object, source_field)
    who = _username(user) or "a person"
    beside = tuple(
        r.source_field for r in rows
        if target and r.source_field != source_field and r.canonical_field == target and r.status in _HOLDS
    )
    new = _new_row(row, done, target, who, note, beside)
    version = _write_version(rows, new)
    before = row.canonical_field if row.status in _HOLDS else None
    taught = _lessons(connection, row, before, target, user) if done != "include" else []
    item = _decide_item(connection, row, target, user, f"decided in the mapping editor by {who}: {done}")
    change = MappingChange(
        connection=connection,
        source_object=source_object,
        source_field=source_field,
        action=done,
        canonical_entity=entity,
        field_before=row.canonical_field,
        field_after=new.canonical_field,
        status_before=row.status,
        status_after=new.status,
        version_before=row.version,
        version_after=version,
        memory_ids=taught,
        review_item=item,
        user=user if user is not None and getattr(user, "pk", None) else None,
        username=_username(user),
        note=note,
    )
    _finish(connection, change, row, new)
    return change


def mapping_undoable(*, connection: Connection) -> MappingChange | None:
    """The change `mapping_undo` would reverse: the newest one not undone (an undo is not undone)."""
    return (
        MappingChange.objects.filter(connection=connection, undone=False)
        .exclude(action=MappingChange.Action.UNDO)
        .order_by("-id")
        .first()
    )


@transaction.atomic
def mapping_undo(*, connection: Connection, user=None, note: str = "") -> MappingChange:
    """Reverse the connection's last change not undone yet: its column's row as it was before, in a
    new version; the memory it taught forgotten; its review item queued again. Refused (409) when the
    column changed since (a drift repair, a review decision), or when a sync runs."""
    note = _note(note)
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    last = mapping_undoable(connection=connection)
    if last is None:
        raise InvalidInput("There is no change to undo.", details={"connection_id": connection.pk})
    last = MappingChange.objects.select_for_update().get(pk=last.pk)
    _not_syncing(connection)
    rows = list(mapping_rows(connection=connection, source_object_name=last.source_object))
    row = next((r for r in rows if r.source_field == last.source_field), None)
    if row is None:
        raise Conflict(f"{last.source_field} is no longer in the mapping of {last.source_object}; nothing to undo.")
    if (row.canonical_field, row.status) != (last.field_after, last.status_after):
        raise Conflict(
            f"{last.source_field} changed since (by a schema change or a review decision); change it directly.",
            details={"source_field": last.source_field, "canonical_field": row.canonical_field, "status": row.status},
        )
    old = FieldMapping.objects.get(
        connection=connection,
        source_object=last.source_object,
        version=last.version_before,
        source_field=last.source_field,
    )
    status = FieldMapping.Status.ACTIVE if old.status == FieldMapping.Status.SUPERSEDED else old.status
    restored = old.carried_forward(status=status)
    if restored.canonical_field and status in _HOLDS:
        holder = next(
            (r for r in rows if r.source_field != row.source_field and r.canonical_field == restored.canonical_field
             and r.status in _HOLDS),
            None,
        )
        if holder is not None:
            raise Conflict(
                f"{restored.canonical_field} is fed by {holder.source_field} now; unmap it before undoing.",
                details={"held_by": holder.source_field},
            )
    version = _write_version(rows, restored)
    MappingMemory.objects.filter(pk__in=last.memory_ids or []).delete()
    item = _requeue(connection, last.review_item) if status == FieldMapping.Status.PENDING else None
    last.undone = True
    last.save(update_fields=["undone"])
    change = MappingChange(
        connection=connection,
        source_object=last.source_object,
        source_field=last.source_field,
        action=MappingChange.Action.UNDO,
        canonical_entity=last.canonical_entity,
        field_before=row.canonical_field,
        field_after=restored.canonical_field,
        status_before=row.status,
        status_after=restored.status,
        version_before=row.version,
        version_after=version,
        undoes=last,
        review_item=item,
        user=user if user is not None and getattr(user, "pk", None) else None,
        username=_username(user),
        note=note,
    )
    _finish(connection, change, row, restored)
    return change


def _requeue(connection: Connection, decided: ReviewItem | None) -> ReviewItem | None:
    """A pending proposal restored by an undo waits for a human again: a new item like the one the
    change decided (decisions are never reopened)."""
    if decided is None:
        return None
    item = ReviewItem(
        kind=decided.kind,
        connection=connection,
        title=decided.title,
        proposal={k: v for k, v in (decided.proposal or {}).items() if k != "decided_canonical_field"},
        confidence=decided.confidence,
        evidence=decided.evidence,
        risk=decided.risk,
    )
    item.full_clean()
    item.save()
    return item
