"""Which canonical entity a source table is.

Four kinds of evidence, combined into a score per entity and a softmax confidence:
- the object name against the entity's aliases (`companies` → account, `cost_and_usage_report` → cost);
- the field set: how well the columns match fields only that entity has (first_name, stage, billed_cost...)
  weigh more than fields every entity has (id, name, created_at);
- record keys: Salesforce key prefixes of the id column (001 account, 003 contact, 006 opportunity)
  and a leading `<entity>id` key column (Dynamics `accountid`);
- the seed memory's knowledge of the vendor's standard objects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .matcher import Candidate, FieldIndex
from .normalize import NameParts
from .values import ValueProfile, sf_prefix_entity

TEMPERATURE = 9.0


@dataclass
class EntityGuess:
    entity: str | None
    confidence: float
    scores: dict[str, float]
    reasons: list[str]


def _object_name_score(index: FieldIndex, entity: str, object_tokens: Sequence[str]) -> float:
    if not object_tokens:
        return 0.0
    toks = set(object_tokens)
    best = 0.0
    for alias in (entity, *index.ontology.entity(entity).aliases):
        alias_tokens = set(index.lexicon.tokens_of(alias.replace("_", " ")))
        if not alias_tokens:
            continue
        common = toks & alias_tokens
        if not common:
            continue
        score = 2 * len(common) / (len(toks) + len(alias_tokens))
        if alias_tokens <= toks:  # `hubspot_deals` contains the whole alias `deal`
            score = max(score, 0.85)
        best = max(best, score)
    return best


def infer_entity(
    index: FieldIndex,
    parts: Sequence[NameParts],
    profiles: Sequence[ValueProfile],
    candidates: dict[str, list[list[Candidate]]],
    *,
    object_name: str | None,
    seed_entity: str | None = None,
) -> EntityGuess:
    entities = index.ontology.entity_names()
    object_tokens = index.lexicon.tokens_of(object_name) if object_name else []
    n = max(len(parts), 1)
    raw: dict[str, float] = {}
    reasons: dict[str, list[str]] = {e: [] for e in entities}
    for e in entities:
        name_score = _object_name_score(index, e, object_tokens)
        # field-set evidence: distinctive fields count fully, shared ones by 1/spread
        used: dict[str, float] = {}
        for cands in candidates[e]:
            if not cands:
                continue
            best = cands[0]
            if best.score < 0.5:
                continue
            weight = 1.0 / index.field_spread.get(best.field, 1)
            used[best.field] = max(used.get(best.field, 0.0), best.score * weight)
        field_score = sum(used.values())
        distinct_fields = sum(1 for f in index.ontology.entity(e).fields if index.field_spread.get(f, 1) == 1)
        coverage = field_score / max(3.0, min(n, distinct_fields + 2) * 0.6)
        key_score = 0.0
        for p, prof in zip(parts, profiles, strict=True):
            if p.tokens in (("id",),) and prof.sf_prefixes and prof.share("sf_id") >= 0.6:
                if sf_prefix_entity(prof.sf_prefixes[0]) == e:
                    key_score = 1.0
                    reasons[e].append(f"record ids carry the {e} key prefix")
        if (
            parts
            and "lookup" not in parts[0].flags
            and len(parts[0].tokens) == 2
            and parts[0].tokens[1] == "id"
            and parts[0].tokens[0] in index.alias_tokens[e]
        ):
            key_score = max(key_score, 0.8)
            reasons[e].append(f"leading key column {parts[0].raw}")
        memory_score = 1.0 if seed_entity == e else 0.0
        if name_score:
            reasons[e].append(f"object name {name_score:.2f}")
        if coverage:
            reasons[e].append(f"field coverage {min(coverage, 1.0):.2f}")
        raw[e] = 0.9 * name_score + 1.0 * min(coverage, 1.2) + 0.6 * key_score + 0.6 * memory_score
    best = max(raw, key=raw.get)
    if raw[best] <= 0.15:
        return EntityGuess(entity=None, confidence=0.0, scores=raw, reasons=["no entity fits"])
    exps = {e: math.exp(TEMPERATURE * (s - raw[best])) for e, s in raw.items()}
    total = sum(exps.values())
    confidence = exps[best] / total
    # Weak absolute evidence caps the confidence even without a competitor.
    confidence *= min(1.0, 0.4 + raw[best])
    return EntityGuess(entity=best, confidence=round(min(confidence, 0.99), 4), scores=raw, reasons=reasons[best])
