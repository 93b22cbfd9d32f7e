"""Drift writes: snapshot a source object's schema, diff it with the baseline, repair under the policy.

The sync calls `drift_check(connection=..., source_object=...)` for every object before reading it
(and before `mapping_ensure`); `drift_detect(connection=...)` checks every object of a connection
without reading records (the periodic task and `manage.py detect_drift`).

Policies (`Connection.drift_policy`):
- auto: repairs at or above AAM_AUTO_APPLY_THRESHOLD are applied (a new mapping version), the rest
  queued as review items. Narrowing type changes and removed mapped fields are always queued.
- review: every change is queued.
- freeze: every change is queued, the connection is marked frozen and `drift_check` raises
  `DriftFrozen` until a human has decided them; nothing already ingested is touched.

A queued rename or removal keeps the old field in the mapping (`holds_mapping`), so nothing
downstream is re-pointed before a human says so; a queued new field gets a pending mapping row, so
`mapping_ensure` does not map it behind the reviewer's back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from aam.models import FieldMapping, ReviewItem
from aam.selectors import mapping_latest_version, mapping_rows
from aam.sources import as_source_object
from autonomos.core.events import publish_event
from autonomos.core.notify import notify_slack
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection

from .diff import FieldSnapshot, SchemaChange, diff_schemas, schema_fingerprint
from .errors import DriftFrozen
from .models import DriftEvent, SchemaSnapshot
from .repair import Repair, RepairAgent
from .selectors import drift_held_fields, snapshot_baseline

logger = logging.getLogger(__name__)

# Sources whose field types are inferred from sampled values (see diff.diff_schemas).
INFERRED_TYPE_KINDS = {Connection.Kind.FILESOURCE, Connection.Kind.MONGODB}
SYNC_TASK = "dcl.connection_sync"  # the pipeline's sync task (dcl/tasks.py), sent by name
_COPY = (
    "source_field",
    "source_type",
    "value_signature",
    "canonical_entity",
    "canonical_field",
    "confidence",
    "method",
    "status",
    "explanation",
)


@dataclass
class DriftOutcome:
    """What a drift check found and did for one (connection, source object)."""

    connection_id: int
    source_object: str
    fingerprint: str
    baseline: bool = False  # first look at this object: nothing to compare with
    events: list[dict[str, Any]] = field(default_factory=list)
    applied: int = 0
    queued: int = 0
    review_item_ids: list[int] = field(default_factory=list)
    mapping_version: int | None = None
    frozen: bool = False
    frozen_reason: str = ""

    @property
    def drifted(self) -> bool:
        return bool(self.events)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            "source_object": self.source_object,
            "fingerprint": self.fingerprint,
            "baseline": self.baseline,
            "events": self.events,
            "applied": self.applied,
            "queued": self.queued,
            "review_item_ids": self.review_item_ids,
            "mapping_version": self.mapping_version,
            "frozen": self.frozen,
        }


# --- the hook -------------------------------------------------------------------------------------


def drift_check(*, connection: Connection, source_object: Any) -> DriftOutcome:
    """The sync's hook, called for each discovered object before it is read (and before mapping_ensure).

    Snapshots the object's schema, diffs it with the last accepted snapshot and repairs the mapping
    under the connection's policy. Returns what it found; raises `DriftFrozen` when the connection
    is frozen by its drift policy (this object's changes or earlier ones await a human). The
    changes are committed before the exception leaves, so the events and review items stay.
    """
    outcome = _check(connection=connection, source_object=source_object, reading=True)
    if outcome.frozen:
        raise DriftFrozen(outcome)
    return outcome


def drift_detect(*, connection: Connection, objects: list[Any] | None = None) -> list[DriftOutcome]:
    """Check every object of a connection without reading records (periodic task, detect_drift).

    `objects`: the discovered objects (discovered here when None). A frozen connection is reported
    in the outcomes, not raised. Raises ConnectorError when the source cannot be discovered.
    """
    if objects is None:
        from connectors.services import connection_discover

        objects = connection_discover(connection=connection)
    return [_check(connection=connection, source_object=o, reading=False) for o in objects]


# --- the check ------------------------------------------------------------------------------------


def _snapshot_fields(fields: list[FieldSnapshot]) -> list[dict[str, Any]]:
    return [f.as_json() for f in sorted(fields, key=lambda f: f.name)]


def _change_key(kind: str, field_name: str, new_field: str, old_type: str, new_type: str) -> tuple:
    return (kind, field_name, new_field or "", old_type or "", new_type or "")


def _frozen_events(connection: Connection):
    return DriftEvent.objects.filter(
        connection=connection,
        policy=Connection.DriftPolicy.FREEZE,
        status__in=(DriftEvent.Status.PENDING, DriftEvent.Status.FLAGGED),
    )


@dataclass
class _Plan:
    """What a check found, computed before any lock is taken (the repair agent may call an LLM)."""

    baseline_id: int | None
    mapping_version: int
    changes: list[SchemaChange] = field(default_factory=list)
    fresh: list[SchemaChange] = field(default_factory=list)
    latest: list[FieldMapping] = field(default_factory=list)
    entity: str | None = None
    repairs: list[Repair] = field(default_factory=list)
    auto_threshold: float = 0.85


def _plan(connection: Connection, obj: Any, snaps: list[FieldSnapshot], tenant) -> _Plan:
    baseline = snapshot_baseline(connection=connection, source_object_name=obj.name)
    latest = list(mapping_rows(connection=connection, source_object_name=obj.name))
    plan = _Plan(baseline_id=baseline.pk if baseline else None, mapping_version=latest[0].version if latest else 0)
    if baseline is None:
        return plan
    old = [FieldSnapshot.from_json(f) for f in baseline.fields]
    plan.changes = diff_schemas(old, snaps, inferred_types=connection.kind in INFERRED_TYPE_KINDS)
    # Under freeze the baseline stays until a human decides, so a check sees the same changes again:
    # only changes not yet recorded against this baseline are new.
    known = {
        _change_key(e.kind, e.field, e.new_field, e.old_type, e.new_type)
        for e in DriftEvent.objects.filter(connection=connection, source_object=obj.name, snapshot_before=baseline)
    }
    plan.fresh = [
        c
        for c in plan.changes
        if _change_key(c.kind, c.field, c.new_field or "", c.old_type or "", c.new_type or "") not in known
    ]
    if not plan.fresh or not latest:
        return plan
    plan.latest = latest
    plan.entity = next((r.canonical_entity for r in latest if r.canonical_entity), None)
    agent = RepairAgent(
        connection=connection,
        object_name=obj.name,
        entity=plan.entity,
        rows={r.source_field: r for r in latest},
        fields=list(obj.fields),
        primary_key=getattr(obj, "primary_key", None),
        tenant=tenant,
    )
    plan.repairs = agent.propose(plan.fresh)
    plan.auto_threshold = agent.auto_threshold
    return plan


def _check(*, connection: Connection, source_object: Any, reading: bool) -> DriftOutcome:
    obj = as_source_object(source_object)
    tenant = current_tenant()
    snaps = [FieldSnapshot.from_source_field(f) for f in obj.fields]
    plan = _plan(connection, obj, snaps, tenant)
    with transaction.atomic():
        # One check (and one mapping writer) per connection at a time: versions are numbered under it.
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        baseline = snapshot_baseline(connection=connection, source_object_name=obj.name)
        version = mapping_latest_version(connection=connection, source_object_name=obj.name)
        if (baseline.pk if baseline else None) != plan.baseline_id or version != plan.mapping_version:
            plan = _plan(connection, obj, snaps, tenant)  # another check or mapping wrote meanwhile
        return _write(connection, obj, snaps, plan, baseline, tenant, reading=reading)


def _write(connection, obj, snaps, plan: _Plan, baseline, tenant, *, reading: bool) -> DriftOutcome:
    now = timezone.now()
    fingerprint = schema_fingerprint(snaps)
    outcome = DriftOutcome(connection_id=connection.pk, source_object=obj.name, fingerprint=fingerprint)
    if reading:
        _reprocess_started(connection=connection, source_object=obj.name)
    if baseline is None:
        _snapshot_create(connection, obj, fingerprint, snaps, accepted=True, now=now)
        outcome.baseline = True
        return _frozen_state(connection, outcome)
    if not plan.changes:
        # Same schema: refresh the samples (newer records make better rename evidence next time).
        SchemaSnapshot.objects.filter(pk=baseline.pk).update(
            fields=_snapshot_fields(snaps), last_seen_at=now, seen_count=baseline.seen_count + 1
        )
        return _frozen_state(connection, outcome)
    if not plan.fresh:
        SchemaSnapshot.objects.filter(
            connection=connection, source_object=obj.name, accepted=False, fingerprint=fingerprint
        ).update(last_seen_at=now)
        return _frozen_state(connection, outcome)

    policy, latest, repairs, entity = connection.drift_policy, plan.latest, plan.repairs, plan.entity
    decisions = _decide(repairs, policy=policy, auto_threshold=plan.auto_threshold)
    any_queued = any(d == "queue" for d in decisions.values())
    after = _snapshot_create(
        connection,
        obj,
        fingerprint,
        snaps,
        accepted=not (policy == Connection.DriftPolicy.FREEZE and any_queued),
        now=now,
    )

    version = None
    if latest:
        version = _write_version(connection, obj, latest, repairs, decisions, snaps)
    outcome.mapping_version = version or (latest[0].version if latest else None)

    items = _review_items(connection, obj.name, entity, repairs, decisions, policy)
    if not latest:  # no mapping yet: nothing to repair; mapping_ensure maps the current fields
        for change in plan.fresh:
            event = _event(
                connection, obj.name, change, None, policy, baseline, after, status=DriftEvent.Status.APPLIED
            )
            event.explanation = "No mapping yet: the mapping engine maps the current fields."
            event.full_clean()
            event.save()
            outcome.events.append(_event_summary(event))
    for repair in repairs:
        decision = decisions[id(repair)]
        status = {
            "apply": DriftEvent.Status.APPLIED,
            "queue": DriftEvent.Status.PENDING,
            "suppress": DriftEvent.Status.SUPPRESSED,
        }[decision]
        event = _event(connection, obj.name, repair.change, repair, policy, baseline, after, status=status)
        event.mapping_version_before = latest[0].version
        event.mapping_version_after = version if decision == "apply" and version else None
        event.holds_mapping = decision == "queue" and _holds(repair)
        event.review_item = items.get(repair.group or id(repair))
        if decision != "queue":
            event.resolved_at = now
        event.full_clean()
        event.save()
        outcome.events.append(_event_summary(event))
        outcome.applied += decision == "apply"
        outcome.queued += decision == "queue"
    outcome.review_item_ids = sorted({i.pk for i in items.values()})
    _frozen_state(connection, outcome)
    _announce(tenant, connection, outcome, repairs, decisions)
    return outcome


def _frozen_state(connection: Connection, outcome: DriftOutcome) -> DriftOutcome:
    """Mark the outcome (and the connection) frozen while freeze-policy changes await a human."""
    waiting = list(_frozen_events(connection).values_list("source_object", "review_item_id"))
    if not waiting:
        return outcome
    from connectors.services import connection_status_set

    objects = sorted({o for o, _ in waiting})
    outcome.frozen = True
    outcome.review_item_ids = sorted({i for _, i in waiting if i} | set(outcome.review_item_ids))
    outcome.frozen_reason = (
        f"frozen by its drift policy: {len(waiting)} schema change(s) in {', '.join(objects)} await review"
    )
    if connection.status != Connection.Status.FROZEN or connection.last_error != outcome.frozen_reason:
        connection_status_set(connection=connection, status=Connection.Status.FROZEN, error=outcome.frozen_reason)
    return outcome


def _snapshot_create(connection, obj, fingerprint: str, snaps, *, accepted: bool, now) -> SchemaSnapshot:
    snapshot = SchemaSnapshot(
        connection=connection,
        source_object=obj.name,
        fingerprint=fingerprint,
        fields=_snapshot_fields(snaps),
        primary_key=(getattr(obj, "primary_key", None) or "")[:255],
        field_count=len(snaps),
        accepted=accepted,
        last_seen_at=now,
    )
    snapshot.full_clean()
    snapshot.save()
    return snapshot


# --- policy -----------------------------------------------------------------------------------


def _auto_ok(repair: Repair, auto_threshold: float) -> bool:
    if repair.needs_human:
        return False
    if repair.action in ("unmap", "drop") or (repair.action == "retype" and repair.canonical_field is None):
        return True  # leaving or keeping a field unmapped changes nothing downstream
    return repair.confidence >= auto_threshold


def _decide(repairs: list[Repair], *, policy: str, auto_threshold: float) -> dict[int, str]:
    """apply / queue / suppress for every repair; the two halves of a swap go together."""
    out: dict[int, str] = {}
    groups: dict[str, list[Repair]] = {}
    for r in repairs:
        if r.group:
            groups.setdefault(r.group, []).append(r)
    for r in repairs:
        members = groups.get(r.group, [r]) if r.group else [r]
        if any(m.suppressed for m in members):
            out[id(r)] = "suppress"
        elif policy == Connection.DriftPolicy.AUTO and all(_auto_ok(m, auto_threshold) for m in members):
            out[id(r)] = "apply"
        else:
            out[id(r)] = "queue"
    return out


def _holds(repair: Repair) -> bool:
    """A queued repair that keeps a field gone from the source in the mapping."""
    return repair.change.kind in ("renamed", "removed") and not repair.change.swap and repair.action in ("move", "drop")


# --- the mapping version --------------------------------------------------------------------------


def _copy_row(row: FieldMapping, **changes) -> FieldMapping:
    data = {k: getattr(row, k) for k in _COPY}
    data.update(changes)
    return FieldMapping(connection_id=row.connection_id, source_object=row.source_object, **data)


def _new_row(connection, object_name: str, entity: str, repair: Repair, *, status: str) -> FieldMapping:
    return FieldMapping(
        connection=connection,
        source_object=object_name,
        source_field=repair.source_field,
        source_type=repair.field_type,
        value_signature=repair.value_signature,
        canonical_entity=entity,
        canonical_field=repair.canonical_field,
        confidence=repair.confidence,
        method=repair.method if repair.method in FieldMapping.Method.values else FieldMapping.Method.NONE,
        status=status,
        explanation=("drift repair: " + repair.explanation)[:2000],
    )


def version_write(
    *, connection: Connection, object_name: str, latest: list[FieldMapping], rows: list[FieldMapping]
) -> int:
    """Store `rows` as the next mapping version of the object; the rows in force become superseded."""
    version = latest[0].version + 1
    FieldMapping.objects.filter(pk__in=[r.pk for r in latest], status=FieldMapping.Status.ACTIVE).update(
        status=FieldMapping.Status.SUPERSEDED
    )
    for row in rows:
        row.pk = None
        row.connection = connection
        row.source_object = object_name
        row.version = version
        row.full_clean(validate_unique=False, validate_constraints=False)
        row.save()
    return version


def _signature(rows) -> set[tuple]:
    return {(r.source_field, r.canonical_field, r.status, r.source_type) for r in rows}


def _write_version(connection, obj, latest, repairs: list[Repair], decisions: dict[int, str], snaps) -> int | None:
    """The next mapping version with the applied repairs, pending rows for queued ones, held fields kept."""
    present = {s.name for s in snaps}
    by_field = {r.source_field: r for r in latest}
    entity = next((r.canonical_entity for r in latest if r.canonical_entity), "")
    held = drift_held_fields(connection=connection, source_object_name=obj.name)
    held |= {r.change.field for r in repairs if decisions[id(r)] == "queue" and _holds(r)}
    out: dict[str, FieldMapping] = {
        name: _copy_row(row) for name, row in by_field.items() if name in present or name in held
    }
    for repair in repairs:
        decision = decisions[id(repair)]
        name = repair.source_field
        if decision == "suppress":
            continue
        if decision == "apply":
            if repair.action == "drop":
                out.pop(repair.change.field, None)
            elif repair.action == "retype" and name in out:
                out[name] = _copy_row(
                    by_field[name],
                    source_type=repair.field_type or by_field[name].source_type,
                    value_signature=repair.value_signature or by_field[name].value_signature,
                    explanation=f"drift repair: {repair.explanation}"[:2000],
                )
            else:  # move, swap, map, unmap
                out[name] = _new_row(connection, obj.name, entity, repair, status=FieldMapping.Status.ACTIVE)
            continue
        # Queued: the mapping in force stays (held fields included); a field new to the mapping gets a
        # pending row (or an unmapped one) so that mapping_ensure does not map it behind the reviewer.
        if repair.action in ("move", "map"):
            out[name] = _new_row(connection, obj.name, entity, repair, status=FieldMapping.Status.PENDING)
        elif repair.action == "unmap" or (repair.action == "drop" and repair.change.kind == "renamed"):
            out.setdefault(name, _unmapped(connection, obj.name, entity, repair))
    if _signature(out.values()) == _signature(latest):
        return None
    return version_write(connection=connection, object_name=obj.name, latest=latest, rows=list(out.values()))


def _unmapped(connection, object_name: str, entity: str, repair: Repair) -> FieldMapping:
    return FieldMapping(
        connection=connection,
        source_object=object_name,
        source_field=repair.source_field,
        source_type=repair.field_type,
        value_signature=repair.value_signature,
        canonical_entity=entity,
        canonical_field=None,
        confidence=0.0,
        method=FieldMapping.Method.NONE,
        status=FieldMapping.Status.ACTIVE,
        explanation="drift: awaiting review",
    )


# --- events, review items, notifications ----------------------------------------------------------


def _event(connection, object_name, change: SchemaChange, repair: Repair | None, policy, before, after, *, status):
    return DriftEvent(
        connection=connection,
        source_object=object_name,
        kind=change.kind,
        field=change.field,
        new_field=change.new_field or "",
        old_type=change.old_type or "",
        new_type=change.new_type or "",
        direction=change.direction or "",
        swap=change.swap,
        confidence=round(max(0.0, min(1.0, change.confidence)), 4),
        evidence={**change.evidence, **({"engine": repair.engine} if repair and repair.engine else {})},
        status=status,
        policy=policy,
        repair=repair.proposal() if repair else {"action": "none"},
        repair_confidence=repair.confidence if repair else 0.0,
        explanation=(repair.explanation if repair else "")[:5000],
        snapshot_before=before,
        snapshot_after=after,
    )


def _event_summary(event: DriftEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "kind": event.kind,
        "field": event.field,
        "new_field": event.new_field or None,
        "status": event.status,
        "action": event.repair.get("action"),
        "canonical_field": event.repair.get("canonical_field"),
        "confidence": event.repair_confidence,
    }


def _title(object_name: str, entity: str | None, repairs: list[Repair]) -> str:
    r = repairs[0]
    c = r.change
    q = (lambda f: f"{entity}.{f}" if f else "unmapped") if entity else (lambda f: f or "unmapped")
    if c.swap:
        return f"{object_name}: {c.field} and {c.new_field} swapped values → swap their mappings"
    if r.action == "move":
        return f"{object_name}: {c.field} renamed to {c.new_field} → keep {q(r.canonical_field)}"
    if r.action == "drop":
        return f"{object_name}: {c.field} removed → stop feeding {q(r.previous_canonical)}"
    if r.action == "retype":
        return f"{object_name}: {c.field} {c.old_type} → {c.new_type} → keep {q(r.canonical_field)}"
    if r.action == "map":
        return f"{object_name}: new field {r.source_field} → {q(r.canonical_field)}"
    return f"{object_name}: new field {r.source_field} → leave unmapped"


def _review_items(connection, object_name, entity, repairs, decisions, policy) -> dict:
    """One review item per queued repair (one for both halves of a swap)."""
    grouped: dict[Any, list[Repair]] = {}
    for r in repairs:
        if decisions[id(r)] == "queue":
            grouped.setdefault(r.group or id(r), []).append(r)
    items = {}
    for key, members in grouped.items():
        risk = max((m.risk for m in members), key=["low", "medium", "high"].index)
        item = ReviewItem(
            kind=ReviewItem.Kind.DRIFT,
            connection=connection,
            confidence=round(min(m.confidence for m in members), 4),
            risk=risk,
            title=_title(object_name, entity, members)[:300],
            proposal={
                "connection_id": connection.pk,
                "source_object": object_name,
                "canonical_entity": entity,
                "policy": policy,
                "repairs": [m.proposal() for m in members],
            },
            evidence={
                "explanation": " ".join(m.explanation for m in members[:1]),
                "why_review": "; ".join(m.needs_human for m in members if m.needs_human)
                or (f"the {policy} policy queues every change" if policy != "auto" else "confidence below threshold"),
                "changes": [m.change.as_dict() for m in members],
                "engine": [m.engine for m in members if m.engine],
            },
        )
        item.full_clean()
        item.save()
        items[key] = item
    return items


def _announce(tenant, connection: Connection, outcome: DriftOutcome, repairs, decisions) -> None:
    """Events and a Slack note once the check is committed (never breaking it)."""
    applied = [e for e in outcome.events if e["status"] == DriftEvent.Status.APPLIED]
    base = {"connection_id": connection.pk, "source_object": outcome.source_object}
    detected = {
        **base,
        "fingerprint": outcome.fingerprint,
        "count": len(outcome.events),
        "changes": outcome.events,
        "frozen": outcome.frozen,
    }
    repaired = {**base, "drift_event_ids": [e["id"] for e in applied], "mapping_version": outcome.mapping_version}
    review = {
        **base,
        "kind": "drift",
        "count": len(outcome.review_item_ids),
        "review_item_ids": outcome.review_item_ids,
    }
    text = drift_message(connection, outcome)

    def publish() -> None:
        publish_event(tenant, "drift_detected", detected)
        if applied:
            publish_event(tenant, "repair_applied", repaired)
        if outcome.queued:
            publish_event(tenant, "review_required", review)
        try:
            notify_slack(text=text)
        except Exception:  # noqa: BLE001 - a notification never breaks a sync
            logger.warning("drift notification failed", exc_info=True)

    transaction.on_commit(publish)


def drift_message(connection: Connection, outcome: DriftOutcome) -> str:
    """A short Slack text: what changed, what was repaired, what needs a human (no secrets)."""
    lines = [f"Schema drift on {connection.name} / {outcome.source_object}: {len(outcome.events)} change(s)"]
    for e in outcome.events[:10]:
        change = f"{e['field']} → {e['new_field']}" if e["new_field"] else e["field"]
        status = {"applied": "repaired automatically", "pending": "needs review", "suppressed": "rejected before"}.get(
            e["status"], e["status"]
        )
        lines.append(f"• {e['kind']} {change}: {status} ({e['confidence']:.2f})")
    if outcome.queued:
        lines.append(f"{outcome.queued} change(s) need a human: {review_url(connection)}")
    if outcome.frozen:
        lines.append("Sync stopped: the connection's drift policy is freeze.")
    return "\n".join(lines)


def review_url(connection: Connection) -> str:
    tenant = current_tenant()
    return f"https://{tenant.slug}.{settings.TENANT_BASE_DOMAIN}/admin/aam/reviewitem/?status__exact=pending"


# --- re-processing ----------------------------------------------------------------------------------


def _reprocess_started(*, connection: Connection, source_object: str) -> None:
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
    from connectors.services import connection_cursor_set

    connection_cursor_set(connection=connection, object_name=source_object, cursor=None)
    DriftEvent.objects.filter(pk__in=[e.pk for e in events]).update(reprocess=DriftEvent.Reprocess.PENDING)
    pk, schema = connection.pk, db.schema_name

    def queue() -> None:
        from celery import current_app

        # The pipeline's sync task, sent by name like POST /api/connections/<id>/sync/ does.
        if SYNC_TASK not in current_app.tasks:
            logger.info("no sync task registered: the next sync of connection %s reads the object again", pk)
            return
        try:
            current_app.send_task(SYNC_TASK, args=[pk], headers={"_schema_name": schema})
        except Exception:  # noqa: BLE001 - the reset cursor makes the next sync re-read anyway
            logger.warning("re-processing sync not queued for connection %s", pk, exc_info=True)

    transaction.on_commit(queue)
    return True


# --- periodic detection -----------------------------------------------------------------------------


def drift_detect_tenant(*, connection_id: int | None = None) -> dict[str, Any]:
    """Check every connection of the current tenant that has been looked at before (it has a
    snapshot) and is not syncing right now (the sync checks for itself). A source that cannot be
    discovered is logged and skipped; the others are still checked."""
    from connectors.errors import ConnectorError

    connections = Connection.objects.filter(schema_snapshots__isnull=False).distinct().order_by("id")
    if connection_id is not None:
        connections = connections.filter(pk=connection_id)
    summary: dict[str, Any] = {"connections": 0, "objects": 0, "changes": 0, "queued": 0, "frozen": [], "errors": {}}
    for connection in connections:
        if connection.status == Connection.Status.SYNCING:
            continue
        try:
            outcomes = drift_detect(connection=connection)
        except ConnectorError as exc:
            logger.warning("drift check of connection %s skipped: %s", connection.pk, exc.__class__.__name__)
            summary["errors"][connection.pk] = exc.__class__.__name__
            continue
        summary["connections"] += 1
        summary["objects"] += len(outcomes)
        summary["changes"] += sum(len(o.events) for o in outcomes)
        summary["queued"] += sum(o.queued for o in outcomes)
        if any(o.frozen for o in outcomes):
            summary["frozen"].append(connection.pk)
    return summary
