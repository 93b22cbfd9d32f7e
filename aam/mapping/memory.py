"""Mapping memory: retrieval of similar, previously decided fields.

Two sources, searched together: the tenant's own decisions (`MappingMemory` rows: approved and
rejected) and a global seed set of vendor conventions shipped as `seed_memory.json`. Retrieval is by
similarity of the normalized field name (exact compact name, exact token key, else character
trigram TF-IDF cosine), then weighed by type and sample-value signature agreement and by how close
the remembered source (vendor, object) is to this one.

An approved memory proposes its canonical field; a remembered "no counterpart" votes for leaving the
field unmapped; a rejected memory suppresses that proposal for similar fields of the tenant.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .normalize import NameParts, get_lexicon

SEED_PATH = Path(__file__).resolve().parent / "seed_memory.json"

TENANT_PRIOR = 0.99
SEED_PRIOR = 0.96
OTHER_VENDOR = 0.9
OTHER_OBJECT = 0.97
MIN_SIMILARITY = 0.78

_COMPATIBLE_TYPES = {
    frozenset({"integer", "number"}),
    frozenset({"date", "datetime"}),
    frozenset({"string", "integer"}),
    frozenset({"string", "number"}),
    frozenset({"string", "boolean"}),
    frozenset({"string", "datetime"}),
    frozenset({"string", "date"}),
    frozenset({"string", "json"}),
}


@dataclass(frozen=True)
class MemoryEntry:
    source_kind: str
    object_name: str
    field_name: str
    entity: str
    canonical_field: str | None
    approved: bool = True
    field_type: str = ""
    signature: str = ""
    origin: str = "seed"  # seed | tenant
    key: str = ""
    compact: str = ""
    # Where an object of the seed lists several fields for one canonical field, the vendor's order of
    # preference: 0 for the first (the field), 1, 2... for its alternatives (`SystemModstamp` after
    # `LastModifiedDate`). A tenant's decision is always 0.
    rank: int = 0
    # The object's other columns for this canonical field when they are filled on different records
    # (a CUR's Savings Plan ARN and its Reserved Instance ARN), by compact name: all of them feed the
    # field instead of the first alone (the seed object's `coalesce` list, docs/adr/0031).
    coalesce_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemoryHit:
    score: float
    entry: MemoryEntry
    exact: bool  # this very field: the same name, remembered for this tenant or this vendor


@dataclass
class MemoryEvidence:
    """What the memory says about one column, for the entity being mapped."""

    by_field: dict[str, MemoryHit] = field(default_factory=dict)
    null_vote: MemoryHit | None = None
    rejected: set[str] = field(default_factory=set)


def _trigrams(text: str) -> Counter[str]:
    padded = f"  {text} "
    return Counter(padded[i : i + 3] for i in range(len(padded) - 2))


def compact_of(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def object_key(name: str | None) -> str:
    if not name:
        return ""
    return " ".join(get_lexicon().tokens_of(name))


class MemoryIndex:
    """Entries indexed by exact compact name, exact token key and trigram TF-IDF."""

    def __init__(self, entries: Iterable[MemoryEntry]):
        self.entries: list[MemoryEntry] = list(entries)
        self.by_compact: dict[str, list[int]] = defaultdict(list)
        self.by_key: dict[str, list[int]] = defaultdict(list)
        for i, e in enumerate(self.entries):
            self.by_compact[e.compact].append(i)
            self.by_key[e.key].append(i)
        keys = sorted({e.key for e in self.entries if e.key})
        df: Counter[str] = Counter()
        grams = {k: _trigrams(k) for k in keys}
        for g in grams.values():
            df.update(g.keys())
        n = max(len(keys), 1)
        self.idf = {g: math.log((1 + n) / (1 + c)) + 1.0 for g, c in df.items()}
        self.postings: dict[str, list[tuple[str, float]]] = defaultdict(list)
        self.norms: dict[str, float] = {}
        for k, g in grams.items():
            vec = {t: c * self.idf[t] for t, c in g.items()}
            norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
            self.norms[k] = norm
            for t, v in vec.items():
                self.postings[t].append((k, v / norm))

    def __len__(self) -> int:
        return len(self.entries)

    def similar_keys(self, key: str, min_sim: float = MIN_SIMILARITY) -> list[tuple[str, float]]:
        if not key or not self.postings:
            return []
        g = _trigrams(key)
        vec = {t: c * self.idf.get(t, math.log(1 + len(self.norms)) + 1.0) for t, c in g.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        scores: dict[str, float] = defaultdict(float)
        for t, v in vec.items():
            for k, w in self.postings.get(t, ()):
                scores[k] += (v / norm) * w
        return sorted(((k, s) for k, s in scores.items() if s >= min_sim), key=lambda kv: -kv[1])[:8]

    def search(self, parts: NameParts) -> list[tuple[MemoryEntry, float]]:
        """Entries with a similar name and their name similarity in [0, 1]."""
        hits: dict[int, float] = {}
        for i in self.by_compact.get(parts.compact, ()):
            hits[i] = 1.0
        key = memory_key(parts)
        for i in self.by_key.get(key, ()):
            hits.setdefault(i, 0.96)
        if not hits:
            for k, sim in self.similar_keys(key):
                for i in self.by_key.get(k, ()):
                    hits[i] = max(hits.get(i, 0.0), 0.9 * sim)
        return [(self.entries[i], s) for i, s in hits.items()]


def _type_agreement(entry: MemoryEntry, effective_type: str) -> float:
    if not entry.field_type or entry.field_type == effective_type:
        return 1.0
    if frozenset({entry.field_type, effective_type}) in _COMPATIBLE_TYPES:
        return 0.93
    return 0.7


def _signature_agreement(entry: MemoryEntry, signature: str) -> float:
    if not entry.signature or not signature or entry.signature == signature:
        return 1.0
    generic = {"string", "integer", "number", "boolean", "date", "datetime", "json"}
    if entry.signature in generic or signature in generic:
        return 0.95
    if entry.signature.split(":")[0] == signature.split(":")[0]:
        return 0.9  # e.g. Salesforce ids of another object
    return 0.8


def gather_evidence(
    indexes: Sequence[MemoryIndex],
    parts: NameParts,
    *,
    effective_type: str,
    signature: str,
    entity: str,
    vendor: str,
    object_name: str,
) -> MemoryEvidence:
    """Combine every similar memory of this entity into per-field scores and an unmapped vote."""
    ev = MemoryEvidence()
    obj = object_key(object_name)
    for index in indexes:
        for entry, sim in index.search(parts):
            if entry.entity != entity:
                continue
            score = sim * _type_agreement(entry, effective_type) * _signature_agreement(entry, signature)
            if entry.origin == "seed":
                score *= SEED_PRIOR * (1.0 if entry.source_kind == vendor else OTHER_VENDOR)
            else:
                score *= TENANT_PRIOR
            if obj and entry.object_name and object_key(entry.object_name) != obj:
                score *= OTHER_OBJECT
            if not entry.approved:
                if sim >= 0.9 and entry.canonical_field:
                    ev.rejected.add(entry.canonical_field)
                continue
            exact = sim >= 0.96 and (entry.origin == "tenant" or entry.source_kind == vendor)
            hit = MemoryHit(score=score, entry=entry, exact=exact)
            if entry.canonical_field is None:
                # "no counterpart" is knowledge about one vendor's exact field: it neither transfers
                # to other vendors nor to merely similar names (`Company ID` is not `Company`)
                if not exact:
                    continue
                if ev.null_vote is None or score > ev.null_vote.score:
                    ev.null_vote = hit
                continue
            current = ev.by_field.get(entry.canonical_field)
            if current is None or score > current.score:
                ev.by_field[entry.canonical_field] = hit
    for name in ev.rejected:
        ev.by_field.pop(name, None)
    return ev


# -- the global seed set ---------------------------------------------------------------------------
def memory_key(parts: NameParts) -> str:
    """Prefix words, name words and numbers: `pricing/currency` is not the same memory as `currency`."""
    return " ".join(parts.context + parts.tokens + parts.digits)


def _entry(
    source: str,
    obj: str,
    entity: str,
    name: str,
    canonical: str | None,
    *,
    approved: bool = True,
    origin: str = "seed",
    field_type: str = "",
    signature: str = "",
    rank: int = 0,
    coalesce_with: tuple[str, ...] = (),
) -> MemoryEntry:
    parts = get_lexicon().parse(name)
    return MemoryEntry(
        source_kind=source,
        object_name=obj,
        field_name=name,
        entity=entity,
        canonical_field=canonical,
        approved=approved,
        field_type=field_type,
        signature=signature,
        origin=origin,
        key=memory_key(parts),
        compact=parts.compact,
        rank=rank,
        coalesce_with=coalesce_with,
    )


def parse_seed(data: dict) -> list[MemoryEntry]:
    """Seed entries. The order of an object's fields is meaningful where several map to one canonical
    field: the first listed is the vendor's field, the later ones are equivalent alternatives of it.
    A field the object lists in `coalesce` is fed by all of its columns, in that order (they are filled
    on different records); it must be listed for at least two of the object's columns."""
    entries: list[MemoryEntry] = []
    for source, sdata in data["sources"].items():
        for obj, odata in sdata["objects"].items():
            entity = odata["entity"]
            listed: Counter[str] = Counter(c for c in odata["fields"].values() if c)
            coalesced = set(odata.get("coalesce") or ())
            lonely = sorted(name for name in coalesced if listed[name] < 2)
            if lonely:
                raise ValueError(f"seed {source}/{obj}: coalesce names fields without two columns: {lonely}")
            groups = {
                c: [get_lexicon().parse(n).compact for n, f in odata["fields"].items() if f == c] for c in coalesced
            }
            ranks: Counter[str] = Counter()
            for name, canonical in odata["fields"].items():
                rank = ranks[canonical] if canonical else 0
                if canonical:
                    ranks[canonical] += 1
                compact = get_lexicon().parse(name).compact
                others = tuple(n for n in groups.get(canonical, ()) if n != compact)
                entries.append(_entry(source, obj, entity, name, canonical, rank=rank, coalesce_with=others))
    return entries


@lru_cache(maxsize=1)
def seed_data() -> dict:
    with open(SEED_PATH, encoding="utf-8") as fh:
        return json.load(fh)


_seed_lock = threading.Lock()
_seed_index: MemoryIndex | None = None


def seed_index() -> MemoryIndex:
    global _seed_index
    if _seed_index is None:
        with _seed_lock:
            if _seed_index is None:
                _seed_index = MemoryIndex(parse_seed(seed_data()))
    return _seed_index


def seed_object_entities() -> dict[tuple[str, str], str]:
    """(vendor, object key) → entity, from the seed (helps entity inference for known vendors)."""
    out = {}
    for source, sdata in seed_data()["sources"].items():
        for obj, odata in sdata["objects"].items():
            out[(source, object_key(obj))] = odata["entity"]
    return out


def detect_vendor(parts: Sequence[NameParts], source_kind: str | None) -> str:
    """The vendor whose conventions the columns follow: the declared kind when the seed knows it,
    else the vendor with most exactly-known column names (a CSV export of Salesforce is Salesforce)."""
    sources = seed_data()["sources"]
    if source_kind in sources:
        return source_kind
    index = seed_index()
    votes: Counter[str] = Counter()
    for p in parts:
        vendors = {index.entries[i].source_kind for i in index.by_compact.get(p.compact, ())}
        # only names one vendor uses and that are more than a plain word count (`City` says nothing)
        if len(vendors) == 1 and (len(p.tokens) + len(p.context) >= 2 or p.flags):
            votes.update(vendors)
    if votes:
        vendor, n = votes.most_common(1)[0]
        if n >= 3 and n >= 0.25 * len(parts):
            return vendor
    return source_kind or ""


# -- tenant memory ---------------------------------------------------------------------------------
_tenant_cache: dict[str, tuple[tuple, MemoryIndex]] = {}
_tenant_lock = threading.Lock()


def tenant_index(tenant) -> MemoryIndex | None:
    """The tenant's decisions as an index (rebuilt only when the rows changed). Needs the tenant's schema."""
    if tenant is None:
        return None
    from django.db.models import Count, Max

    from aam.models import MappingMemory

    stamp = MappingMemory.objects.aggregate(n=Count("id"), last=Max("id"))
    key = str(getattr(tenant, "tenant_id", tenant))
    stamp_t = (stamp["n"], stamp["last"])
    with _tenant_lock:
        cached = _tenant_cache.get(key)
        if cached and cached[0] == stamp_t:
            return cached[1]
    entries = [
        _entry(
            row.source_kind,
            row.source_object,
            row.canonical_entity,
            row.field_name,
            row.canonical_field,
            approved=row.decision == MappingMemory.Decision.APPROVED,
            origin="tenant",
            field_type=row.field_type,
            signature=row.value_signature,
        )
        for row in MappingMemory.objects.all().only(
            "source_kind",
            "source_object",
            "canonical_entity",
            "field_name",
            "canonical_field",
            "decision",
            "field_type",
            "value_signature",
        )
    ]
    index = MemoryIndex(entries)
    with _tenant_lock:
        _tenant_cache[key] = (stamp_t, index)
    return index
