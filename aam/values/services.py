"""Writes of canonical values: the drivers' column metadata, and the value stage's decisions stored
as value maps, review items and value drift (docs/adr/0014-canonical-values.md).

The DCL's value stage (dcl/pipeline/values.py) reads the distinct values from DuckDB, asks the
engine (aam.values.engine.map_column) about the ones not decided yet and hands the answers to
`value_column_record`; the views join the value maps (`value_map_rows`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from aam.models import ColumnMetadata, DriftEvent, ReviewItem, ValueMap
from aam.models.values import MAX_SAMPLES, raw_hash
from connectors.models import Connection

from .selectors import ValueColumn
from .types import AUTO, NULL, REVIEW, UNMAPPED, ColumnResult, ValueDecision

logger = logging.getLogger(__name__)

MAX_LABEL = 10_000  # a vendor's label is stored as data; longer ones are cut (a hostile 1 MB label)
MAX_METADATA_ITEMS = 5_000  # options or stages per column kept from a driver


@dataclass(frozen=True)
class SeenValue:
    """One distinct value of a column as the value stage found it in DuckDB."""

    key: str  # CAST(column AS VARCHAR): what the views join on
    raw: Any  # the typed value the engine sees
    count: int
    samples: tuple[str, ...] = ()


@dataclass
class ColumnOutcome:
    """What `value_column_record` did for one value-mapped column."""

    new: int = 0
    auto: int = 0
    pending: int = 0
    none: int = 0
    drift: int = 0
    review_items: int = 0
    free_text: bool = False
    review_item_ids: list[int] = field(default_factory=list)


# --- the drivers' metadata ---------------------------------------------------------------------


def _clean_items(items: Any, keys: tuple[str, ...]) -> list[dict]:
    out = []
    if not isinstance(items, list):
        return out
    for item in items[:MAX_METADATA_ITEMS]:
        if not isinstance(item, Mapping) or "value" not in item:
            continue
        clean = {k: item[k] for k in keys if k in item}
        if isinstance(clean.get("label"), str):
            clean["label"] = clean["label"].replace("\x00", "")[:MAX_LABEL]
        out.append(clean)
    return out


def metadata_clean(metadata: Any) -> dict[str, dict]:
    """A driver's `value_metadata()` answer in the one shape the engine reads; anything else is dropped
    (a driver's answer is data from a remote API)."""
    out: dict[str, dict] = {}
    if not isinstance(metadata, Mapping):
        return out
    for column, spec in metadata.items():
        if not isinstance(column, str) or not column or len(column) > 512 or not isinstance(spec, Mapping):
            continue
        if "stages" in spec:
            stages = _clean_items(spec["stages"], ("value", "label", "probability", "is_closed", "is_won",
                                                   "forecast_category"))
            if stages:
                out[column] = {"stages": stages}
        elif "options" in spec:
            options = _clean_items(spec["options"], ("value", "label"))
            if options:
                out[column] = {"options": options}
    return out


def column_metadata_store(*, connection: Connection, source_object: str, metadata: Any) -> int:
    """Store what the driver said about `source_object`'s columns (replacing what it said before);
    returns the columns stored. Columns it no longer describes keep no metadata."""
    clean = metadata_clean(metadata)
    now = timezone.now()
    with transaction.atomic():
        existing = {m.column: m for m in ColumnMetadata.objects.select_for_update().filter(
            connection=connection, source_object=source_object)}
        for column, spec in clean.items():
            row = existing.pop(column, None) or ColumnMetadata(connection=connection, source_object=source_object,
                                                               column=column)
            row.metadata, row.fetched_at = spec, now
            row.save()
        for row in existing.values():
            if row.metadata:
                row.metadata, row.fetched_at = {}, now
                row.save(update_fields=["metadata", "fetched_at", "updated_at"])
    return len(clean)


# --- the value stage's decisions -----------------------------------------------------------------


def _status_of(decision: ValueDecision) -> str:
    if decision.decision == AUTO and decision.canonical is not None:
        return ValueMap.Status.MAPPED
    if decision.decision in (NULL,) or (decision.decision == AUTO and decision.canonical is None):
        return ValueMap.Status.NONE
    return ValueMap.Status.PENDING


def _canonical_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(round(value, 10))
    return str(value)


def _label(decision: ValueDecision, seen: SeenValue) -> str | None:
    label = decision.label
    if label is None:
        return None
    label = str(label).replace("\x00", "")[:MAX_LABEL]
    return label if label != seen.key else None


def _title(column: ValueColumn, connection: Connection, vm: ValueMap) -> str:
    shown = vm.label or vm.raw_key
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    proposal = vm.canonical if vm.canonical is not None else "?"
    return f"{connection.name}: {column.entity}.{column.field} {shown!r} → {proposal}"[:300]


def _review_item(column: ValueColumn, connection: Connection, vm: ValueMap) -> ReviewItem:
    item = ReviewItem(
        kind=ReviewItem.Kind.VALUE,
        title=_title(column, connection, vm),
        proposal={
            "value_map_id": vm.pk, "connection_id": connection.pk, "source_object": vm.source_object,
            "entity": vm.entity, "field": vm.field, "column": vm.column, "raw": vm.raw_key[:2000],
            "label": (vm.label or "")[:2000] or None, "canonical": vm.canonical, "decision": vm.decision,
        },
        confidence=max(0.0, min(1.0, float(vm.confidence))),
        evidence={"evidence": vm.evidence, "records": vm.record_count, "samples": vm.samples,
                  "drift": vm.drift},
        risk=ReviewItem.Risk.MEDIUM if vm.record_count else ReviewItem.Risk.LOW,
        connection=connection,
    )
    item.full_clean()
    item.save()
    return item


def _drift_event(column: ValueColumn, connection: Connection, vm: ValueMap, item: ReviewItem | None) -> None:
    mapped = vm.status == ValueMap.Status.MAPPED
    event = DriftEvent(
        connection=connection, source_object=column.source_object, kind=DriftEvent.Kind.VALUE,
        field=column.column[:512], new_field=(vm.label or vm.raw_key)[:512],
        confidence=1.0, evidence={"entity": column.entity, "field": column.field, "raw": vm.raw_key[:2000],
                                  "records": vm.record_count, "samples": vm.samples, "evidence": vm.evidence},
        status=DriftEvent.Status.PENDING if vm.status == ValueMap.Status.PENDING else DriftEvent.Status.APPLIED,
        policy=connection.drift_policy,
        repair={"action": "map_value", "entity": column.entity, "field": column.field, "canonical": vm.canonical},
        repair_confidence=max(0.0, min(1.0, float(vm.confidence))),
        explanation=(
            f"new value of {column.entity}.{column.field}: "
            + (f"mapped to {vm.canonical!r} automatically" if mapped
               else "no canonical value applies" if vm.status == ValueMap.Status.NONE
               else f"awaiting review (proposed: {vm.canonical!r})")
        ),
        review_item=item,
        resolved_at=None if vm.status == ValueMap.Status.PENDING else timezone.now(),
    )
    event.full_clean()
    event.save()


def value_column_free_text(*, column: ValueColumn, distinct: int, note: str) -> None:
    """The column has too many distinct values to be a picklist: it is not value-mapped, and says so."""
    row, _ = ColumnMetadata.objects.get_or_create(connection_id=column.connection_id,
                                                  source_object=column.source_object, column=column.column)
    row.free_text, row.distinct_values, row.note = True, distinct, note[:2000]
    row.save(update_fields=["free_text", "distinct_values", "note", "updated_at"])


def value_column_record(
    *,
    column: ValueColumn,
    seen: Iterable[SeenValue],
    result: ColumnResult | None,
    now: datetime | None = None,
) -> ColumnOutcome:
    """Store what the value stage found for one value-mapped column.

    `seen` are all its distinct values now (counts, samples); `result` the engine's decisions on
    the ones not decided yet (None when there were none). New values get a value map each; a value
    awaiting review gets a review item (one per value, grouped by field and source on the page); a
    value never seen before in a column that had values already is value drift (a DriftEvent,
    listed with schema drift). Decided values keep their decision: only counts and dates change."""
    now = now or timezone.now()
    outcome = ColumnOutcome()
    seen = list(seen)
    connection = Connection.objects.get(pk=column.connection_id)
    if result is not None and result.free_text:
        value_column_free_text(column=column, distinct=len(seen), note=result.note or "too many distinct values")
        outcome.free_text = True
        return outcome
    decisions = {d.key: d for d in (result.decisions if result is not None else ())}
    with transaction.atomic():
        ColumnMetadata.objects.filter(connection_id=column.connection_id, source_object=column.source_object,
                                      column=column.column, free_text=True).update(free_text=False, note="")
        existing = {
            vm.raw_hash: vm for vm in ValueMap.objects.select_for_update().filter(
                connection_id=column.connection_id, source_object=column.source_object, entity=column.entity,
                field=column.field)
        }
        had_values = bool(existing)
        seen_again: list[tuple[ValueMap, bool]] = []  # decided values seen again, and whether they moved
        created: list[ValueMap] = []
        for value in seen:
            vm = existing.get(raw_hash(value.key))
            decision = decisions.get(_engine_key(value.raw))
            samples = list(value.samples[:MAX_SAMPLES])
            if vm is None:
                if decision is None:
                    # not asked (the engine was not run for it): pending, a person or the next sync decides
                    decision = ValueDecision(raw=value.raw, canonical=None, confidence=0.0, decision=UNMAPPED,
                                             evidence="not decided")
                vm = ValueMap(
                    connection_id=column.connection_id, source_object=column.source_object, entity=column.entity,
                    field=column.field, column=column.column[:512], vendor=column.vendor, raw_key=value.key,
                    raw=_jsonable(value.raw), label=_label(decision, value),
                    canonical=_canonical_text(decision.canonical), confidence=_unit(decision.confidence),
                    decision=decision.decision, evidence={"source": decision.evidence},
                    status=_status_of(decision), record_count=value.count, samples=samples,
                    first_seen=now, last_seen=now, drift=had_values,
                )
                outcome.new += 1
                if vm.status != ValueMap.Status.PENDING and not had_values:
                    vm.raw_hash = raw_hash(vm.raw_key)  # what save() sets; bulk_create does not call it
                    created.append(vm)  # decided, no review item and no drift event: inserted together below
                    outcome.auto += vm.status == ValueMap.Status.MAPPED
                    outcome.none += vm.status == ValueMap.Status.NONE
                    continue
                vm.save()
                outcome.drift += had_values
                item = None
                if vm.status == ValueMap.Status.PENDING:
                    item = _review_item(column, connection, vm)
                    vm.review_item = item
                    vm.save(update_fields=["review_item"])
                    outcome.review_items += 1
                    outcome.review_item_ids.append(item.pk)
                if had_values:
                    _drift_event(column, connection, vm, item)
            else:
                changed = vm.record_count != value.count or list(vm.samples or []) != samples
                vm.record_count, vm.samples, vm.last_seen = value.count, samples, now
                updates = ["record_count", "samples", "last_seen"]
                if decision is None or vm.status != ValueMap.Status.PENDING or vm.reviewed_at:
                    seen_again.append((vm, changed))
                else:
                    # asked again (memory or metadata may know it now): take a confident answer
                    status = _status_of(decision)
                    if status != ValueMap.Status.PENDING:
                        vm.canonical, vm.status = _canonical_text(decision.canonical), status
                        vm.confidence, vm.decision = _unit(decision.confidence), decision.decision
                        vm.evidence = {"source": decision.evidence}
                        vm.label = _label(decision, value) or vm.label
                        updates += ["canonical", "status", "confidence", "decision", "evidence", "label"]
                        _close_review_item(vm, note=f"decided automatically ({decision.evidence})")
                    vm.save(update_fields=updates)
            outcome.auto += vm.status == ValueMap.Status.MAPPED
            outcome.pending += vm.status == ValueMap.Status.PENDING
            outcome.none += vm.status == ValueMap.Status.NONE
        if created:
            ValueMap.objects.bulk_create(created, batch_size=500)
        # values no longer in any live record (their records deleted or changed): counted as none
        now_seen = {raw_hash(value.key) for value in seen}
        gone = [vm.pk for h, vm in existing.items() if h not in now_seen and vm.record_count]
        if gone:
            ValueMap.objects.filter(pk__in=gone).update(record_count=0)
        if seen_again:
            # one statement for the dates; counts and samples only where they moved (a sync that changed
            # nothing writes no row twice)
            ValueMap.objects.filter(pk__in=[vm.pk for vm, _ in seen_again]).update(last_seen=now)
            moved = [vm for vm, changed in seen_again if changed]
            if moved:
                ValueMap.objects.bulk_update(moved, ["record_count", "samples"], batch_size=500)
    return outcome


def _close_review_item(vm: ValueMap, *, note: str) -> None:
    """A pending value decided by the engine after all: its review item is no longer a question."""
    if vm.review_item_id is None:
        return
    ReviewItem.objects.filter(pk=vm.review_item_id, status=ReviewItem.Status.PENDING).update(
        status=ReviewItem.Status.APPROVED, decided_at=timezone.now(), note=note[:500])
    DriftEvent.objects.filter(review_item_id=vm.review_item_id, status=DriftEvent.Status.PENDING).update(
        status=DriftEvent.Status.APPLIED, resolved_at=timezone.now())


def _engine_key(raw: Any) -> str:
    from .types import raw_key

    return raw_key(raw)


def _unit(x: Any) -> float:
    try:
        return max(0.0, min(1.0, float(x)))
    except (TypeError, ValueError):
        return 0.0


def _jsonable(raw: Any) -> Any:
    if raw is None or isinstance(raw, (bool, int, float)):
        return raw
    return str(raw)[:MAX_LABEL]


def value_map_rows() -> list[tuple]:
    """Every value map of the tenant as the views join it: (connection_id, source_object, entity,
    field, raw_key, canonical, label, status). Distinct values only: small beside the records."""
    return list(ValueMap.objects.values_list(
        "connection_id", "source_object", "entity", "field", "raw_key", "canonical", "label", "status"))


def free_text_rows() -> list[tuple]:
    """(connection_id, source_object, column) of the columns that are free text."""
    return list(ColumnMetadata.objects.filter(free_text=True).values_list("connection_id", "source_object", "column"))


__all__ = [
    "REVIEW",
    "ColumnOutcome",
    "SeenValue",
    "column_metadata_store",
    "free_text_rows",
    "metadata_clean",
    "value_column_free_text",
    "value_column_record",
    "value_map_rows",
]
