"""The diff between two schema snapshots of one source object.

A change is one of: `added`, `removed`, `retyped` (with direction widening / narrowing) and
`renamed`. A removed and an added field are paired as one rename when their names, types and
values agree — a rename treated as drop + add loses the field's history, the most common complaint
about integration tools. Two fields that exchanged names (same schema fingerprint!) are found from
their values and reported as two renames marked `swap`.

Values are compared two ways: by record key when both snapshots carry samples keyed by the source
record's primary key (exact evidence: the same record now has the old value under the new name),
else by the overlap of sample value sets. Samples from different pages of a source share no keys
and few values: they give no value evidence, and nothing is reported on them alone. Values with
fewer than three distinct members (flags, a single currency) are weak evidence: `IsClosed` and
`IsWon` agree on most records without being the same field.

Types of sources that infer them from values (CSV files, MongoDB) depend on which rows were sampled:
with `inferred_types`, a type change is not reported when one side had no values to infer from, nor
when numbers that happened to be whole read as integers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aam.sources import schema_fingerprint as pipeline_fingerprint

# Types from narrowest to widest along each widening path. A change along a path toward the end
# is widening (no value is lost); anything else is narrowing.
_WIDENING = {
    ("boolean", "integer"),
    ("boolean", "string"),
    ("integer", "number"),
    ("integer", "string"),
    ("number", "string"),
    ("date", "datetime"),
    ("date", "string"),
    ("datetime", "string"),
    ("boolean", "json"),
    ("integer", "json"),
    ("number", "json"),
    ("string", "json"),
    ("date", "json"),
    ("datetime", "json"),
}
RENAME_MIN_SCORE = 0.55
# Below this name similarity, values alone never make a rename confident enough to apply unseen.
VALUES_ONLY_NAME_FLOOR = 0.3
MIN_DISTINCT = 3


@dataclass(frozen=True)
class FieldSnapshot:
    """One field of a source object as seen by a sync: name, type, and a few sample values.

    `keyed_samples` maps a source record key (primary key) to the value, when the connector knows it.
    """

    name: str
    type: str
    samples: tuple[Any, ...] = ()
    keyed_samples: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, name: str, type: str, samples=(), keyed: dict | None = None) -> FieldSnapshot:
        return cls(
            name=name,
            type=type,
            samples=tuple(_norm(v) for v in samples if not _empty(v)),
            keyed_samples=tuple(sorted((str(k), _norm(v)) for k, v in (keyed or {}).items() if not _empty(v))),
        )

    @classmethod
    def from_source_field(cls, f: Any) -> FieldSnapshot:
        """From a connectors SourceField (or anything with name, type, samples, keyed_samples)."""
        return cls.of(
            f.name,
            f.type or "string",
            getattr(f, "samples", None) or (),
            keyed=getattr(f, "keyed_samples", None) or None,
        )

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "samples": list(self.samples), "keyed": dict(self.keyed_samples)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FieldSnapshot:
        return cls(
            name=data["name"],
            type=data.get("type") or "string",
            samples=tuple(data.get("samples") or ()),
            keyed_samples=tuple(sorted((str(k), v) for k, v in (data.get("keyed") or {}).items())),
        )


@dataclass
class SchemaChange:
    kind: str  # added | removed | retyped | renamed
    field: str  # the field's name before the change (the new name for `added`)
    new_field: str | None = None  # for renamed
    old_type: str | None = None
    new_type: str | None = None
    direction: str | None = None  # widening | narrowing, for type changes
    confidence: float = 1.0
    swap: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "field": self.field,
            "new_field": self.new_field,
            "old_type": self.old_type,
            "new_type": self.new_type,
            "direction": self.direction,
            "confidence": round(self.confidence, 3),
            "swap": self.swap,
            "evidence": self.evidence,
        }


def schema_fingerprint(fields: list[FieldSnapshot] | list[tuple[str, str]]) -> str:
    """Stable hash of the (field, type) set: order of fields does not matter, samples do not count.

    The pipeline's own formula (each stream batch carries it), so a snapshot and the batches read
    under it carry the same fingerprint.
    """
    pairs = {(f.name, f.type) if isinstance(f, FieldSnapshot) else (str(f[0]), str(f[1])) for f in fields}
    return pipeline_fingerprint(sorted(pairs))


def type_change_direction(old: str, new: str) -> str:
    if old == new:
        return "same"
    return "widening" if (old, new) in _WIDENING else "narrowing"


def _sampling_artifact(o: FieldSnapshot, n: FieldSnapshot) -> bool:
    """A type change that only says which rows a value-inferring source happened to sample."""
    if not o.samples or not n.samples:
        return True  # no values on one side: its type was a default, not an observation
    return (o.type, n.type) == ("number", "integer")  # whole numbers are numbers too


def diff_schemas(
    old: list[FieldSnapshot], new: list[FieldSnapshot], *, inferred_types: bool = False
) -> list[SchemaChange]:
    """All changes from `old` to `new`, renames paired, swaps found; empty when nothing changed.

    `inferred_types`: the source infers types from values (see the module docstring)."""
    old_by, new_by = {f.name: f for f in old}, {f.name: f for f in new}
    changes: list[SchemaChange] = []

    swapped = _find_swaps(old_by, new_by)
    for a, b, evidence in swapped:
        for src, dst in ((a, b), (b, a)):
            changes.append(
                SchemaChange(
                    kind="renamed",
                    field=src,
                    new_field=dst,
                    old_type=old_by[src].type,
                    new_type=new_by[dst].type,
                    confidence=evidence["confidence"],
                    swap=True,
                    evidence=evidence,
                )
            )
    in_swap = {n for a, b, _ in swapped for n in (a, b)}

    for name in sorted(set(old_by) & set(new_by) - in_swap):
        o, n = old_by[name], new_by[name]
        if o.type != n.type and not (inferred_types and _sampling_artifact(o, n)):
            direction = type_change_direction(o.type, n.type)
            changes.append(
                SchemaChange(
                    kind="retyped",
                    field=name,
                    old_type=o.type,
                    new_type=n.type,
                    direction=direction,
                    confidence=1.0,
                    evidence={"old_samples": list(o.samples[:5]), "new_samples": list(n.samples[:5])},
                )
            )

    removed = [old_by[n] for n in sorted(set(old_by) - set(new_by))]
    added = [new_by[n] for n in sorted(set(new_by) - set(old_by))]
    pairs = _pair_renames(removed, added)
    paired_old = {o.name for o, _, _ in pairs}
    paired_new = {n.name for _, n, _ in pairs}
    for o, n, evidence in pairs:
        direction = type_change_direction(o.type, n.type)
        changes.append(
            SchemaChange(
                kind="renamed",
                field=o.name,
                new_field=n.name,
                old_type=o.type,
                new_type=n.type,
                direction=None if direction == "same" else direction,
                confidence=evidence["confidence"],
                evidence=evidence,
            )
        )
    for o in removed:
        if o.name not in paired_old:
            changes.append(
                SchemaChange(
                    kind="removed", field=o.name, old_type=o.type, evidence={"old_samples": list(o.samples[:5])}
                )
            )
    for n in added:
        if n.name not in paired_new:
            changes.append(
                SchemaChange(kind="added", field=n.name, new_type=n.type, evidence={"new_samples": list(n.samples[:5])})
            )
    return changes


# --- scoring ---------------------------------------------------------------------------------

_VENDOR_AFFIXES = re.compile(r"(__c|__pc|_c)$|^(hs_|lineitem/|product/|pricing/|cf_|custom_|x_|new_)", re.I)
_VENDOR_SUFFIXES = re.compile(r"(__c|__pc)$", re.I)


def name_tokens(name: str, *, full: bool = False) -> list[str]:
    """Tokens of a field name across naming conventions (camelCase, snake_case, paths, vendor affixes).

    The last segment of a path (`lineItem/UnblendedCost`, `address.city`) unless `full`."""
    if full:
        base = _VENDOR_SUFFIXES.sub("", name)
    else:
        base = name.rsplit(".", 1)[-1] if "/" not in name else name.rsplit("/", 1)[-1]
        base = _VENDOR_AFFIXES.sub("", base)
    base = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", base)
    return [t for t in re.split(r"[^A-Za-z0-9]+", base.lower()) if t]


def name_similarity(a: str, b: str) -> float:
    """In [0, 1]: the same words in any convention = 1 (`lineItem/UnblendedCost` ~ `line_item_unblended_cost`)."""
    if name_tokens(a, full=True) == name_tokens(b, full=True) and name_tokens(a, full=True):
        return 1.0
    ta, tb = name_tokens(a), name_tokens(b)
    if not ta or not tb:
        return 0.0
    if ta == tb:
        return 1.0
    sa, sb = set(ta), set(tb)
    jaccard = len(sa & sb) / len(sa | sb)
    ja, jb = "".join(ta), "".join(tb)
    grams = lambda s: {s[i : i + 3] for i in range(max(1, len(s) - 2))}  # noqa: E731
    ga, gb = grams(ja), grams(jb)
    trigram = len(ga & gb) / len(ga | gb)
    contained = 0.8 if (ja in jb or jb in ja) and min(len(ja), len(jb)) >= 4 else 0.0
    return max(jaccard, trigram, contained)


_NUMERIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _norm(value: Any) -> Any:
    """One text form per value, so the same value read as a string, an int or a float compares equal
    ("12000.00", 12000 and 12000.0 are one value; "TRUE" and True too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)) or (isinstance(value, str) and _NUMERIC.match(value.strip())):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return str(value).strip().lower()
        if number.is_finite():
            text = format(number.normalize(), "f")
            return "0" if text in ("-0", "0") else text
    if isinstance(value, str):
        return value.strip().lower()
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else str(value)


def value_agreement(a: FieldSnapshot, b: FieldSnapshot) -> tuple[float, str, int, int]:
    """(agreement in [0,1], how it was measured, values compared, distinct values among them).

    0 compared = no evidence; few distinct values = weak evidence (see MIN_DISTINCT)."""
    ka, kb = dict(a.keyed_samples), dict(b.keyed_samples)
    common = set(ka) & set(kb)
    if common:
        same = sum(1 for k in common if _norm(ka[k]) == _norm(kb[k]))
        distinct = len({_norm(ka[k]) for k in common} | {_norm(kb[k]) for k in common})
        return same / len(common), "keyed", len(common), distinct
    ta, tb = {_norm(v) for v in a.samples}, {_norm(v) for v in b.samples}
    if not ta or not tb:
        return 0.0, "none", 0, 0
    overlap = len(ta & tb) / min(len(ta), len(tb))
    return overlap, "overlap", min(len(ta), len(tb)), len(ta | tb)


def _type_score(old: str, new: str) -> float:
    direction = type_change_direction(old, new)
    return 1.0 if direction == "same" else 0.6 if direction == "widening" else 0.35


def rename_score(o: FieldSnapshot, n: FieldSnapshot) -> tuple[float, dict[str, Any]]:
    """How sure we are that `o` became `n`: names, values and types together.

    Names alone never reach auto-apply confidence (0.8 at most), nor do values alone when the names
    have nothing in common: the repair agent may still confirm such a pair with the mapping engine.
    Keyed values that differ are evidence against a rename (the same record, another value);
    unkeyed samples that do not overlap are no evidence at all (they may be other records).
    """
    names = name_similarity(o.name, n.name)
    values, method, compared, distinct = value_agreement(o, n)
    types = _type_score(o.type, n.type)
    weight = 1.0 if distinct >= MIN_DISTINCT else 0.5  # flags and constants agree by chance
    if method == "overlap" and values < 0.2:
        compared = 0  # other records' values: say nothing
    if compared:
        score = 0.45 * values * weight + 0.35 * names + 0.20 * types
        if values >= 0.8 and compared >= 3 and distinct >= MIN_DISTINCT:
            strong = types >= 0.6 and names >= VALUES_ONLY_NAME_FLOOR
            score = max(score, 0.9 if strong else 0.75 if types < 0.6 else 0.8)
            if not strong:
                score = min(score, 0.8)
    else:
        score = 0.75 * names + 0.25 * types
        score = min(score, 0.8)  # names alone never reach auto-apply confidence
    evidence = {
        "name_similarity": round(names, 3),
        "value_agreement": round(values, 3),
        "value_method": method,
        "values_compared": compared,
        "distinct_values": distinct,
        "type_compatibility": round(types, 3),
        "confidence": round(score, 3),
    }
    return score, evidence


def rename_ceiling(evidence: dict[str, Any]) -> tuple[float, str]:
    """The most confidence a rename's own evidence supports, and why it is capped ("" when it is not).

    Other readings may confirm a rename (the repair agent asks the mapping engine what the new name
    means), but they say what the new field *is*, not that the old field *became* it. So when the
    names share nothing (similarity below VALUES_ONLY_NAME_FLOOR) and no record proves the move (the
    same records keyed by their id holding the same values under the new name), the rename keeps the
    confidence of its pairing: sample values that overlap, at most 0.8, below the auto-apply
    threshold, so a person decides (issue 18: "Amount (USD)" → "Deal Value" applied at 0.99 with a
    name similarity of 0.00). Names that are alike, or keyed proof, leave it uncapped."""
    names = float(evidence.get("name_similarity", 0.0) or 0.0)
    keyed = (
        evidence.get("value_method") == "keyed"
        and float(evidence.get("value_agreement", 0.0) or 0.0) >= 0.8
        and int(evidence.get("values_compared", 0) or 0) >= 3
        and int(evidence.get("distinct_values", 0) or 0) >= MIN_DISTINCT
    )
    if keyed or names >= VALUES_ONLY_NAME_FLOOR:
        return 1.0, ""
    pairing = min(float(evidence.get("confidence", 0.0) or 0.0), 0.8)
    if evidence.get("value_method") == "overlap" and int(evidence.get("values_compared", 0) or 0):
        why = (f"the names share nothing (similarity {names:.2f}) and only sample values overlap, "
               "with no record keyed by its id to prove the move")
    else:
        why = f"the names share nothing (similarity {names:.2f}) and no values prove the move"
    return pairing, why


def _pair_renames(removed: list[FieldSnapshot], added: list[FieldSnapshot]):
    """Greedy one-to-one pairing by score, best pairs first."""
    scored = []
    for o in removed:
        for n in added:
            score, evidence = rename_score(o, n)
            if score >= RENAME_MIN_SCORE:
                scored.append((score, o.name, n.name, o, n, evidence))
    scored.sort(key=lambda s: (-s[0], s[1], s[2]))
    used_o, used_n, pairs = set(), set(), []
    for _score, _, _, o, n, evidence in scored:
        if o.name in used_o or n.name in used_n:
            continue
        used_o.add(o.name)
        used_n.add(n.name)
        pairs.append((o, n, evidence))
    return pairs


def _find_swaps(old_by: dict[str, FieldSnapshot], new_by: dict[str, FieldSnapshot]):
    """Pairs of fields present in both snapshots whose values moved to each other's name."""
    common = sorted(set(old_by) & set(new_by))
    moved = {}
    for name in common:
        self_agree, _, self_n, _ = value_agreement(old_by[name], new_by[name])
        if self_n == 0 or self_agree > 0.2:
            continue
        for other in common:
            if other == name:
                continue
            cross, method, cross_n, distinct = value_agreement(old_by[name], new_by[other])
            if cross_n >= 3 and cross >= 0.8 and distinct >= MIN_DISTINCT:
                moved[name] = (other, cross, method, cross_n)
                break
    swaps, seen = [], set()
    for a, (b, cross, method, n) in moved.items():
        if b in moved and moved[b][0] == a and a not in seen:
            seen |= {a, b}
            # The same records with their values crossed over is proof; overlapping value sets of
            # different records are a strong hint that a human should confirm.
            confidence = 0.95 if method == "keyed" and moved[b][2] == "keyed" else 0.8
            swaps.append(
                (
                    min(a, b),
                    max(a, b),
                    {
                        "value_agreement": round(cross, 3),
                        "value_method": method,
                        "values_compared": n,
                        "confidence": confidence,
                    },
                )
            )
    return swaps
