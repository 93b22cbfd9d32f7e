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

from django.db import transaction
from django.utils import timezone

from aam.models import DriftEvent, FieldMapping, SchemaSnapshot
from aam.selectors import mapping_latest_version, mapping_rows
from aam.sources import as_source_object, declared_id
from aam.sync_lock import sync_running
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection
from connectors.registry import find_kind

from .diff import FieldSnapshot, SchemaChange, diff_schemas, schema_fingerprint
from .errors import DriftFrozen
from .outcome import DriftOutcome
from .repair import Repair, RepairAgent
from .reporting import announce, event_build, event_summary, review_items_create
from .reprocess import reprocess_started
from .selectors import snapshot_baseline
from .versions import holds, write_version

logger = logging.getLogger(__name__)



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


def frozen_events(connection: Connection):
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
    # Sources whose field types are inferred from sampled values say so in their kind's spec.
    spec = find_kind(connection.kind)
    plan.changes = diff_schemas(old, snaps, inferred_types=spec is not None and spec.inferred_types)
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
        primary_key=declared_id(obj),
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
        reprocess_started(connection=connection, source_object=obj.name)
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
        version = write_version(connection, obj, latest, repairs, decisions, snaps)
    outcome.mapping_version = version or (latest[0].version if latest else None)

    items = review_items_create(connection, obj.name, entity, repairs, decisions, policy)
    if not latest:  # no mapping yet: nothing to repair; mapping_ensure maps the current fields
        for change in plan.fresh:
            event = event_build(
                connection, obj.name, change, None, policy, baseline, after, status=DriftEvent.Status.APPLIED
            )
            event.explanation = "No mapping yet: the mapping engine maps the current fields."
            event.full_clean()
            event.save()
            outcome.events.append(event_summary(event))
    for repair in repairs:
        decision = decisions[id(repair)]
        status = {
            "apply": DriftEvent.Status.APPLIED,
            "queue": DriftEvent.Status.PENDING,
            "suppress": DriftEvent.Status.SUPPRESSED,
        }[decision]
        event = event_build(connection, obj.name, repair.change, repair, policy, baseline, after, status=status)
        event.mapping_version_before = latest[0].version
        event.mapping_version_after = version if decision == "apply" and version else None
        event.holds_mapping = decision == "queue" and holds(repair)
        event.review_item = items.get(repair.group or id(repair))
        if decision != "queue":
            event.resolved_at = now
        event.full_clean()
        event.save()
        outcome.events.append(event_summary(event))
        outcome.applied += decision == "apply"
        outcome.queued += decision == "queue"
    outcome.review_item_ids = sorted({i.pk for i in items.values()})
    _frozen_state(connection, outcome)
    announce(tenant, connection, outcome, repairs, decisions)
    return outcome


def _frozen_state(connection: Connection, outcome: DriftOutcome) -> DriftOutcome:
    """Mark the outcome (and the connection) frozen while freeze-policy changes await a human."""
    waiting = list(frozen_events(connection).values_list("source_object", "review_item_id"))
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


# --- periodic detection -----------------------------------------------------------------------------


def drift_detect_tenant(*, connection_id: int | None = None) -> dict[str, Any]:
    """Check every connection of the current tenant that has been looked at before (it has a
    snapshot) and is not syncing right now (the sync checks for itself). A source that cannot be
    discovered is logged and skipped; the others are still checked."""
    from connectors.errors import ConnectorError

    tenant = current_tenant()
    connections = Connection.objects.filter(schema_snapshots__isnull=False).distinct().order_by("id")
    if connection_id is not None:
        connections = connections.filter(pk=connection_id)
    summary: dict[str, Any] = {"connections": 0, "objects": 0, "changes": 0, "queued": 0, "frozen": [], "errors": {}}
    for connection in connections:
        if sync_running(tenant, connection.pk):  # the sync checks for itself
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
