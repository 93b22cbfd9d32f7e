"""The repair agent: for each schema change, what the mapping should become, how sure we are, and why.

It re-runs the mapping engine (`aam.mapping.map_source`) on the current fields of the object with
the tenant's memory, and weighs the engine's opinion of each changed field against the evidence of
the diff:

- renamed: the canonical field moves to the new name. The diff's confidence (same records, same
  values, similar names) and the engine's own reading of the new name confirm each other; an engine
  that confidently reads the new name as a *different* canonical field makes it a human's call.
  The engine's agreement never lifts a rename past its own evidence (`diff.rename_ceiling`): when
  the names share nothing and no record keyed by its id proves the move, the pairing's confidence
  stands, below the auto-apply threshold.
- swapped: each field takes the other's canonical field (the data moved, the names did not).
- added: the engine maps it when its canonical field is free (never onto a field another source
  field feeds), else the field stays unmapped (its values travel with the record's unmapped fields).
- retyped: the mapping stays if the new values still fit the canonical field's type.
- removed: the canonical field loses its source. Never applied without a human when it was mapped.

A repair a reviewer rejected before (remembered in MappingMemory) is not proposed again.
Nothing here writes: services.py applies the repairs under the connection's policy.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from aam.mapping import map_source
from aam.mapping.engine import thresholds
from aam.mapping.types import Column, FieldProposal
from aam.mapping.values import profile_values
from aam.models import FieldMapping, MappingMemory, ReviewItem
from aam.ontology import get_ontology
from connectors.typeinfer import classify_text, classify_value

from .diff import SchemaChange, rename_ceiling

logger = logging.getLogger(__name__)

_CRITICAL = {"amount", "annual_revenue", "billed_cost", "effective_cost", "list_cost", "contracted_cost", "id"}
_NUMBER_NOISE = re.compile(r"[\s$€£¥₹,%_']|USD|EUR|GBP")
_FITS = {
    "integer": {"integer"},
    "decimal": {"integer", "number"},
    "number": {"integer", "number"},
    "boolean": {"boolean"},
    "date": {"date", "datetime"},
    "datetime": {"date", "datetime"},
}


@dataclass
class Repair:
    """What one change should do to the mapping. `source_field` is the field whose mapping row the
    repair writes (the new name of a rename); `canonical_field` is its target (None = unmapped)."""

    change: SchemaChange
    action: str  # move | swap | map | unmap | retype | drop
    source_field: str
    canonical_field: str | None
    previous_canonical: str | None
    confidence: float
    explanation: str
    risk: str = ReviewItem.Risk.LOW
    needs_human: str = ""  # why it is never applied without review ("" = policy decides)
    suppressed: str = ""  # a reviewer rejected this repair before (who, when)
    method: str = FieldMapping.Method.HEURISTIC
    group: str = ""  # the two halves of a swap share a group
    field_type: str = ""
    value_signature: str = ""
    engine: dict[str, Any] = field(default_factory=dict)

    @property
    def changes_mapping(self) -> bool:
        return self.canonical_field != self.previous_canonical or self.action in ("move", "swap", "drop")

    def proposal(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.change.kind,
            "source_field": self.source_field,
            "old_field": self.change.field if self.change.kind in ("renamed", "removed") else None,
            "canonical_field": self.canonical_field,
            "previous_canonical_field": self.previous_canonical,
            "field_type": self.field_type,
            "value_signature": self.value_signature,
            "swap_group": self.group or None,
        }


def _fmt(conf: float) -> str:
    return f"{conf:.2f}"


def _critical(canonical: str | None) -> bool:
    return bool(canonical) and (canonical in _CRITICAL or canonical.endswith("_id"))


def risk_of(*, canonical: str | None, confidence: float, severe: bool, auto_threshold: float) -> str:
    """High: data could be lost or mis-pointed (removals, narrowing, conflicts) or money/keys below
    0.9; medium: a mapped field below the auto threshold or any money/key field; low otherwise."""
    if severe or (_critical(canonical) and confidence < 0.9):
        return ReviewItem.Risk.HIGH
    if canonical and (confidence < auto_threshold or _critical(canonical)):
        return ReviewItem.Risk.MEDIUM
    return ReviewItem.Risk.LOW


def _kind_of(value: Any, canonical_type: str) -> str:
    if not isinstance(value, str):
        return classify_value(value)
    kind = classify_text(value)
    if kind == "string" and canonical_type in ("integer", "decimal", "number"):
        # The pipeline's coercion reads money and percentages: "USD 1,200.50", "(300)", "45 %".
        text = value.strip()
        text = text[1:-1] if text.startswith("(") and text.endswith(")") else text
        kind = classify_text(_NUMBER_NOISE.sub("", text) or "x")
    if kind == "number" and canonical_type == "integer":
        kind = "integer" if float(_NUMBER_NOISE.sub("", value) or "nan").is_integer() else kind
    if kind == "integer" and canonical_type == "boolean" and value.strip() in ("0", "1"):
        kind = "boolean"
    return kind


def fits_share(samples: list[Any], canonical_type: str) -> float:
    """Share of sample values the pipeline can read as the canonical field's type (1.0 for text)."""
    wanted = _FITS.get(canonical_type)
    values = [v for v in samples if v is not None and not (isinstance(v, str) and not v.strip())]
    if wanted is None or not values:
        return 1.0
    return sum(_kind_of(v, canonical_type) in wanted for v in values) / len(values)


@dataclass(frozen=True)
class Rejection:
    by: str
    on: Any

    def __str__(self) -> str:
        return f"rejected by {self.by or 'a reviewer'} on {self.on:%Y-%m-%d}"


def rejected_before(*, entity: str, field_name: str, canonical_field: str | None) -> Rejection | None:
    """A reviewer's earlier no to `field_name → canonical_field` (exact field name), if any: a
    rejected mapping memory, or a rejected drift repair of this tenant."""
    from aam.models import DriftEvent

    if not canonical_field:
        return None
    memory = (
        MappingMemory.objects.filter(
            decision=MappingMemory.Decision.REJECTED,
            canonical_entity=entity,
            canonical_field=canonical_field,
            field_name__iexact=field_name,
        )
        .order_by("-id")
        .first()
    )
    if memory is not None:
        return Rejection(memory.decided_by, memory.created_at)
    event = (
        DriftEvent.objects.filter(
            status=DriftEvent.Status.REJECTED,
            repair__source_field=field_name,
            repair__canonical_field=canonical_field,
        )
        .select_related("review_item__decided_by")
        .order_by("-id")
        .first()
    )
    if event is None:
        return None
    item = event.review_item
    user = item.decided_by.get_username() if item is not None and item.decided_by else ""
    return Rejection(user, (item.decided_at if item is not None and item.decided_at else event.detected_at))


def _who(rejection: Rejection) -> str:
    return str(rejection)


class RepairAgent:
    """Proposes repairs for the changes of one source object against its current mapping rows."""

    def __init__(
        self,
        *,
        connection,
        object_name: str,
        entity: str | None,
        rows: dict[str, FieldMapping],
        fields: list[Any],
        primary_key: str | None = None,
        tenant=None,
    ):
        self.connection = connection
        self.object_name = object_name
        self.entity = entity or ""
        self.rows = rows
        self.fields = {f.name: f for f in fields}
        self.primary_key = primary_key
        self.tenant = tenant
        self.auto_threshold, self.review_floor = thresholds()
        ontology = get_ontology()
        self.canonical_types = (
            {f: ontology.field(self.entity, f).type for f in ontology.entity(self.entity).field_names()}
            if self.entity in ontology.entities
            else {}
        )
        self._engine: dict[str, FieldProposal] | None = None
        # canonical fields fed by some source field (kept, held or moved): an added field never takes one
        self.taken: dict[str, str] = {
            r.canonical_field: name
            for name, r in rows.items()
            if r.canonical_field and r.status in (FieldMapping.Status.ACTIVE, FieldMapping.Status.PENDING)
        }

    # -- the engine --------------------------------------------------------------------------

    def engine(self) -> dict[str, FieldProposal]:
        """The engine's proposal for every current field (run once, lazily)."""
        if self._engine is None:
            columns = [
                Column(name=f.name, type=f.type or "string", samples=tuple(f.samples or ()))
                for f in self.fields.values()
            ]
            try:
                result = map_source(
                    columns=columns,
                    object_name=self.object_name,
                    # a CSV export says which system it came from, as in mapping_ensure
                    source_kind=(self.connection.config or {}).get("source_system") or self.connection.kind,
                    entity_hint=self.entity or None,
                    tenant=self.tenant,
                    primary_key=self.primary_key,
                )
                self._engine = {p.source_field: p for p in result.mappings}
            except Exception:  # noqa: BLE001 - the diff's evidence still stands without the engine
                logger.warning("mapping engine failed during drift repair", exc_info=True)
                self._engine = {}
        return self._engine

    def _free_for(self, p: FieldProposal) -> bool:
        """The field is free for the proposal: no column feeds it, or the one that does is the column the
        proposal feeds it with (filled on different records, docs/adr/0031)."""
        holder = self.taken.get(p.canonical_field)
        return holder is None or (p.feeds_with is not None and holder == p.feeds_with)

    def _opinion(self, name: str) -> FieldProposal | None:
        p = self.engine().get(name)
        if p is None:
            return None
        memory = rejected_before(entity=self.entity, field_name=name, canonical_field=p.canonical_field)
        if memory is not None:  # the engine may not know; the reviewer's no stands
            return FieldProposal(name, None, 0.0, "none", "unmapped", f"{p.canonical_field} was {_who(memory)}")
        return p

    def _profile(self, name: str) -> tuple[str, str]:
        f = self.fields.get(name)
        if f is None:
            return "", ""
        profile = profile_values(f.type or "string", list(f.samples or ()))
        return profile.effective, profile.signature

    def _q(self, canonical: str | None) -> str:
        return f"{self.entity}.{canonical}" if canonical else "(unmapped)"

    def _finish(self, repair: Repair, *, severe: bool = False) -> Repair:
        repair.confidence = round(max(0.0, min(1.0, repair.confidence)), 4)
        repair.field_type, repair.value_signature = self._profile(repair.source_field)
        repair.risk = risk_of(
            canonical=repair.canonical_field or repair.previous_canonical,
            confidence=repair.confidence,
            severe=severe or bool(repair.needs_human),
            auto_threshold=self.auto_threshold,
        )
        return repair

    # -- per change --------------------------------------------------------------------------

    def propose(self, changes: list[SchemaChange]) -> list[Repair]:
        """One repair per change; added fields last so they only take what renames left free."""
        order = {"renamed": 0, "retyped": 1, "removed": 2, "added": 3}
        repairs = []
        for change in sorted(changes, key=lambda c: (order[c.kind], c.field)):
            if change.kind == "renamed" and change.swap:
                repairs.append(self._swap(change))
            elif change.kind == "renamed":
                repairs.append(self._rename(change))
            elif change.kind == "retyped":
                repairs.append(self._retype(change))
            elif change.kind == "removed":
                repairs.append(self._remove(change))
            else:
                repairs.append(self._add(change, change.field))
        return repairs

    def _previous(self, name: str) -> str | None:
        row = self.rows.get(name)
        if row is None or row.status not in (FieldMapping.Status.ACTIVE, FieldMapping.Status.SUPERSEDED):
            return None
        return row.canonical_field

    def _evidence_text(self, change: SchemaChange) -> str:
        ev = change.evidence
        parts = []
        if ev.get("value_method") == "keyed":
            parts.append(
                f"{round(ev.get('value_agreement', 0) * ev.get('values_compared', 0))} of "
                f"{ev.get('values_compared')} records keyed by their id hold the same value under the new name"
            )
        elif ev.get("value_method") == "overlap" and ev.get("values_compared"):
            parts.append(f"sample values overlap {ev.get('value_agreement', 0):.0%}")
        else:
            parts.append("no sample values to compare")
        if "name_similarity" in ev:
            parts.append(f"name similarity {_fmt(ev['name_similarity'])}")
        if change.direction:
            parts.append(f"type {change.old_type} → {change.new_type} ({change.direction})")
        return ", ".join(parts)

    def _rename(self, change: SchemaChange) -> Repair:
        old, new = change.field, change.new_field or ""
        prev = self._previous(old)
        if prev is None:  # nothing was mapped: the new name is mapped like a new field
            repair = self._add(change, new)
            repair.explanation = f"`{old}` (unmapped) was renamed to `{new}`. " + repair.explanation
            return repair
        pair = change.confidence
        p = self._opinion(new)
        conf, method, needs = pair, FieldMapping.Method.HEURISTIC, ""
        story = f"`{old}` was renamed to `{new}` ({self._evidence_text(change)}; pairing {_fmt(pair)})."
        memory = rejected_before(entity=self.entity, field_name=new, canonical_field=prev)
        if p is not None and p.canonical_field == prev:
            conf = max(pair, p.confidence)
            method = p.method if p.method in FieldMapping.Method.values else method
            story += (
                f" The mapping engine maps `{new}` to {self._q(prev)} on its own ({p.method}, {_fmt(p.confidence)})."
            )
        elif p is not None and p.canonical_field and p.confidence >= self.review_floor:
            conf = min(pair, 0.6)
            needs = f"the mapping engine reads `{new}` as {self._q(p.canonical_field)} ({_fmt(p.confidence)})"
            story += f" But {needs}, not {self._q(prev)}."
        else:
            story += f" The mapping engine has no reading of its own for `{new}`."
        ceiling, why = rename_ceiling(change.evidence)
        if conf > ceiling:
            conf = ceiling
            story += f" Confidence capped at {_fmt(ceiling)}: {why}."
        if change.direction == "narrowing":
            needs = needs or f"its type narrowed ({change.old_type} → {change.new_type})"
        repair = Repair(
            change=change,
            action="move",
            source_field=new,
            canonical_field=prev,
            previous_canonical=prev,
            confidence=conf,
            explanation=story + f" Repair: {self._q(prev)} reads `{new}` from now on, its history continued.",
            needs_human=needs,
            method=method,
            engine=p.as_dict() if p else {},
        )
        if memory is not None:  # the move is not proposed again; the old field's loss still needs a human
            repair.engine["rejected_before"] = _who(memory)
            repair.explanation = (
                f"`{old}` is gone and `{new}` appeared, but `{new}` → {self._q(prev)} was {_who(memory)}: "
                f"not proposed again. {self._q(prev)} loses its source until a reviewer decides."
            )
            repair.action, repair.canonical_field, repair.confidence = "drop", None, 1.0
            repair.needs_human = f"`{old}` fed {self._q(prev)}"
        return self._finish(repair)

    def _swap(self, change: SchemaChange) -> Repair:
        a, b = change.field, change.new_field or ""
        # `a`'s values now live under the name `b`: the field named `b` takes `a`'s canonical field
        prev_b, target = self._previous(b), self._previous(a)
        group = "|".join(sorted((a, b)))
        rejected = rejected_before(entity=self.entity, field_name=b, canonical_field=target)
        repair = Repair(
            change=change,
            action="swap",
            source_field=b,
            canonical_field=target,
            previous_canonical=prev_b,
            confidence=change.confidence,
            explanation=(
                f"`{a}` and `{b}` exchanged their values ({self._evidence_text(change)}). "
                f"Repair: `{b}` feeds {self._q(target)} (was {self._q(prev_b)})."
            ),
            group=group,
        )
        if rejected is not None:  # not proposed again: the mapping stays as it is
            repair.suppressed = _who(rejected)
            repair.explanation += f" Not proposed again: `{b}` → {self._q(target)} was {_who(rejected)}."
        return self._finish(repair)

    def _retype(self, change: SchemaChange) -> Repair:
        name = change.field
        prev = self._previous(name)
        f = self.fields.get(name)
        samples = list(f.samples or ()) if f is not None else []
        direction = change.direction or "narrowing"
        story = f"`{name}` changed type {change.old_type} → {change.new_type} ({direction})."
        needs = f"its type narrowed ({change.old_type} → {change.new_type})" if direction == "narrowing" else ""
        p = self._opinion(name)
        if prev is None:
            if p is not None and p.canonical_field and self._free_for(p) and p.decision != "unmapped":
                repair = self._add(change, name)
                repair.explanation = story + " " + repair.explanation
                repair.needs_human = repair.needs_human or needs
                return self._finish(repair, severe=bool(needs))
            return self._finish(
                Repair(
                    change=change,
                    action="retype",
                    source_field=name,
                    canonical_field=None,
                    previous_canonical=None,
                    confidence=1.0,
                    explanation=story + " The field is not mapped; it stays unmapped.",
                    needs_human=needs,
                )
            )
        ctype = self.canonical_types.get(prev, "string")
        share = fits_share(samples, ctype)
        conf = share
        story += f" {share:.0%} of its sample values read as {ctype}, the type of {self._q(prev)}."
        if p is not None and p.canonical_field == prev:
            story += f" The mapping engine still maps it to {self._q(prev)} ({_fmt(p.confidence)})."
        elif p is not None and p.canonical_field and p.confidence >= self.review_floor:
            conf = min(conf, 0.6)
            needs = needs or f"the mapping engine now reads `{name}` as {self._q(p.canonical_field)}"
            story += f" But the mapping engine now reads it as {self._q(p.canonical_field)}."
        else:
            conf = min(conf, 0.9)
        repair = Repair(
            change=change,
            action="retype",
            source_field=name,
            canonical_field=prev,
            previous_canonical=prev,
            confidence=conf,
            explanation=story + f" Repair: keep {self._q(prev)} and record the new type.",
            needs_human=needs,
            engine=p.as_dict() if p else {},
        )
        return self._finish(repair)

    def _remove(self, change: SchemaChange) -> Repair:
        name = change.field
        prev = self._previous(name)
        if prev is None:
            return self._finish(
                Repair(
                    change=change,
                    action="drop",
                    source_field=name,
                    canonical_field=None,
                    previous_canonical=None,
                    confidence=1.0,
                    explanation=f"`{name}` is gone from the source; it was not mapped, nothing downstream changes.",
                )
            )
        return self._finish(
            Repair(
                change=change,
                action="drop",
                source_field=name,
                canonical_field=None,
                previous_canonical=prev,
                confidence=1.0,
                explanation=(
                    f"`{name}` is gone from the source; it fed {self._q(prev)}. A removed mapped field is never "
                    f"dropped without a human: the mapping keeps `{name}` (new records carry no value for "
                    f"{self._q(prev)}, records already ingested keep theirs) until a reviewer approves."
                ),
                needs_human=f"`{name}` fed {self._q(prev)}",
            ),
            severe=True,
        )

    def _add(self, change: SchemaChange, name: str) -> Repair:
        p = self._opinion(name)
        base = Repair(
            change=change,
            action="unmap",
            source_field=name,
            canonical_field=None,
            previous_canonical=None,
            confidence=p.confidence if p is not None else 0.0,
            explanation="",
            engine=p.as_dict() if p else {},
        )
        if p is None or not p.canonical_field or p.decision == "unmapped":
            why = (p.explanation if p is not None else "") or "no canonical field fits"
            base.explanation = (
                f"New field `{name}`: no canonical field fits ({why}). It stays unmapped; its values travel "
                "with the record's unmapped fields."
            )
            base.method = (p.method if p is not None and p.method in FieldMapping.Method.values else "none") or "none"
            return self._finish(base)
        if not self._free_for(p):
            base.confidence = 1.0
            base.explanation = (
                f"New field `{name}`: the mapping engine reads it as {self._q(p.canonical_field)} "
                f"({_fmt(p.confidence)}), which `{self.taken[p.canonical_field]}` already feeds. It stays "
                "unmapped; its values travel with the record's unmapped fields."
            )
            return self._finish(base)
        self.taken.setdefault(p.canonical_field, name)
        base.action, base.canonical_field = "map", p.canonical_field
        base.method = p.method if p.method in FieldMapping.Method.values else FieldMapping.Method.HEURISTIC
        base.explanation = (
            f"New field `{name}`: the mapping engine maps it to {self._q(p.canonical_field)} "
            f"({p.method}, {_fmt(p.confidence)}){': ' + p.explanation if p.explanation else ''}."
        )
        return self._finish(base)
