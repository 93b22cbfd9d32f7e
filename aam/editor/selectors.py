"""The mapping editor's reads: every source column of every object of a connection, what it maps onto
(or why it does not), with its confidence, evidence and samples; the versions and the change log.

The columns are the rows of each object's latest mapping version; their types and samples come from
the object's latest schema snapshot (aam/drift), so the page never asks the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from aam.mapping.engine import thresholds
from aam.models import FieldMapping, MappingChange, ReviewItem, SchemaSnapshot
from aam.ontology import get_ontology
from aam.selectors import mapping_objects, mapping_rows, mapping_versions

STATES = ("mapped", "pending", "unmapped", "excluded")


@dataclass
class ColumnRow:
    source_field: str
    state: str  # mapped, pending (a proposal awaits review), unmapped, excluded
    canonical_field: str | None  # the field it feeds (mapped) or is proposed for (pending)
    confidence: float
    method: str
    reason: str  # in words: why it maps there, or why not
    evidence: str  # the engine's or the person's explanation
    type: str = ""
    samples: list[str] = field(default_factory=list)
    hint: dict | None = None  # what an unmapped column looks like (aam/editor/meaningful.py)
    review_item_id: int | None = None
    gone: bool = False  # no longer in the source (a removal awaiting review keeps it)
    is_key: bool = False  # the object's primary key
    # Where several columns feed the column's field (docs/adr/0031): all of them, in the order the
    # pipeline reads them (the first value of a record wins); empty when this column feeds it alone.
    feeds_with: list[str] = field(default_factory=list)

    @property
    def fed_by(self) -> str:
        """`commitment_discount_id ← savingsPlan/SavingsPlanARN, then reservation/ReservationARN`."""
        if not self.feeds_with:
            return ""
        return f"{self.canonical_field} ← {', then '.join(self.feeds_with)}"


@dataclass
class ObjectMapping:
    name: str
    entity: str | None
    version: int
    primary_key: str
    columns: list[ColumnRow]
    versions: list[dict]
    counts: dict[str, int]
    fields: list[str]  # the entity's canonical fields a column may map onto


def _reason(row: FieldMapping, auto: float) -> tuple[str, str]:
    """(state, reason in words) of one row of the latest version."""
    if row.status == FieldMapping.Status.EXCLUDED:
        return "excluded", "excluded: its values are not carried"
    if row.status == FieldMapping.Status.PENDING:
        return "pending", f"awaiting review: proposed for {row.canonical_field}"
    if row.status in (FieldMapping.Status.ACTIVE, FieldMapping.Status.SUPERSEDED) and row.canonical_field:
        how = "a person's decision" if row.method == FieldMapping.Method.HUMAN else f"{row.method}"
        return "mapped", f"mapped by {how}"
    if row.status == FieldMapping.Status.REJECTED:
        return "unmapped", f"unmapped: the proposal {row.canonical_field} was rejected"
    if row.method == FieldMapping.Method.HUMAN:
        return "unmapped", "unmapped by a person's decision"
    if row.confidence >= auto:
        return "unmapped", "no counterpart in the ontology"
    return "unmapped", "unmapped: the engine was not sure enough to map it"


def _snapshot_fields(connection, name: str) -> tuple[dict[str, dict], str]:
    snap = SchemaSnapshot.objects.filter(connection=connection, source_object=name).order_by("-id").first()
    if snap is None:
        return {}, ""
    return {f.get("name"): f for f in snap.fields or [] if isinstance(f, dict)}, snap.primary_key or ""


def _pending_items(connection) -> dict[tuple[str, str], int]:
    items = ReviewItem.objects.filter(
        kind=ReviewItem.Kind.MAPPING,
        status__in=(ReviewItem.Status.PENDING, ReviewItem.Status.FLAGGED),
        connection=connection,
    ).values_list("id", "proposal")
    out: dict[tuple[str, str], int] = {}
    for pk, proposal in items:
        if isinstance(proposal, dict):
            out.setdefault((str(proposal.get("source_object")), str(proposal.get("source_field"))), pk)
    return out


def object_mapping(*, connection, name: str, items: dict | None = None) -> ObjectMapping | None:
    """One object's mapping as the editor shows it (None when it has none)."""
    rows = list(mapping_rows(connection=connection, source_object_name=name))
    if not rows:
        return None
    auto, _ = thresholds()
    items = _pending_items(connection) if items is None else items
    snapshot, primary_key = _snapshot_fields(connection, name)
    keys = {k.strip() for k in primary_key.split(",") if k.strip()}
    entity = next((r.canonical_entity for r in rows if r.canonical_entity), None)
    columns = []
    counts = dict.fromkeys(STATES, 0)
    for r in rows:
        state, reason = _reason(r, auto)
        counts[state] += 1
        seen = snapshot.get(r.source_field) or {}
        columns.append(
            ColumnRow(
                source_field=r.source_field,
                state=state,
                canonical_field=r.canonical_field if state in ("mapped", "pending") else None,
                confidence=float(r.confidence),
                method=r.method,
                reason=reason,
                evidence=r.explanation,
                type=str(seen.get("type") or r.source_type or ""),
                samples=[str(s)[:80] for s in (seen.get("samples") or [])[:3] if s is not None],
                hint=r.hint or None,
                review_item_id=items.get((name, r.source_field)),
                gone=bool(snapshot) and r.source_field not in snapshot,
                is_key=r.source_field in keys,
            )
        )
    _mark_coalesced(columns)
    ontology = get_ontology()
    fields = ontology.entity(entity).field_names() if entity and entity in ontology.entities else []
    return ObjectMapping(
        name=name,
        entity=entity,
        version=rows[0].version,
        primary_key=primary_key,
        columns=columns,
        versions=mapping_versions(connection=connection, source_object_name=name),
        counts=counts,
        fields=[f for f in fields if f != "id"],
    )


def _mark_coalesced(columns: list[ColumnRow]) -> None:
    """Each mapped column of a field several columns feed lists them all, in the mapping's row order:
    the order aam/ingest/normalize.py reads them in (the mapping's fields, built from the same rows)."""
    feeders: dict[str, list[str]] = {}
    for c in columns:
        if c.state == "mapped" and c.canonical_field:
            feeders.setdefault(c.canonical_field, []).append(c.source_field)
    for c in columns:
        names = feeders.get(c.canonical_field or "") if c.state == "mapped" else None
        if names and len(names) > 1:
            c.feeds_with = list(names)


def connection_mapping(*, connection) -> list[ObjectMapping]:
    """Every object of the connection that has a mapping, by name."""
    items = _pending_items(connection)
    out = []
    for o in mapping_objects(connection=connection):
        mapped = object_mapping(connection=connection, name=o["source_object"], items=items)
        if mapped is not None:
            out.append(mapped)
    return out


def mapping_change_list(*, connection, source_object: str | None = None) -> QuerySet[MappingChange]:
    """The connection's mapping changes, newest first."""
    qs = MappingChange.objects.filter(connection=connection)
    if source_object is not None:
        qs = qs.filter(source_object=source_object)
    return qs.select_related("undoes").order_by("-id")
