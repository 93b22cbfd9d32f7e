"""The LLM coverage check: ask an LLM only about the columns memory and heuristics leave uncertain.

One batched call per table with a strict JSON answer validated by pydantic. The LLM never decides
alone with full authority: agreeing with a heuristic guess raises its confidence, a proposal of its
own becomes a review item at most, and a bad or failed answer leaves the heuristic result untouched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from pydantic import BaseModel, Field, ValidationError

from aam.ontology import Ontology
from autonomos.core.llm import answer_json

from .assign import ColumnState
from .types import Column, FieldProposal, MappingResult
from .values import ValueProfile

logger = logging.getLogger(__name__)

PURPOSE = "mapping"
LLM_ONLY_CAP = 0.8
AGREEMENT_CAP = 0.95
MAX_SAMPLE_CHARS = 60


class LLMFieldAnswer(BaseModel):
    source_field: str
    canonical_field: str | None = None
    confidence: float = Field(ge=0.0, le=1.0)


class LLMAnswer(BaseModel):
    mappings: list[LLMFieldAnswer]


def parse_answer(text: str) -> LLMAnswer | None:
    """The validated answer, or None for anything that is not the expected JSON."""
    data = answer_json(text)
    if data is None:
        return None
    try:
        return LLMAnswer.model_validate(data)
    except ValidationError:
        return None


def _sample_text(value) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text[:MAX_SAMPLE_CHARS]


def build_messages(
    *,
    entity: str,
    ontology: Ontology,
    columns: Sequence[tuple[Column, ValueProfile]],
    offered: Sequence[str],
    decided: dict[str, str],
) -> list[dict[str, str]]:
    ent = ontology.entity(entity)
    fields = [{"name": n, "type": ent.fields[n].type, "description": ent.fields[n].description} for n in offered]
    cols = [
        {"name": c.name, "type": prof.effective, "samples": [_sample_text(s) for s in c.samples[:3]]}
        for c, prof in columns
    ]
    system = (
        "You map columns of a business data source onto a canonical schema. For each column, answer the one "
        "canonical field that holds the same information, or null when none does. Never map a derived or "
        "different quantity (weighted or expected amounts, secondary addresses, other people's names) to a field: "
        "null is better than a wrong field. Use each canonical field at most once. Reply with JSON only: "
        '{"mappings": [{"source_field": "<column>", "canonical_field": "<field or null>", "confidence": <0..1>}]}'
    )
    user = json.dumps(
        {
            "entity": entity,
            "entity_description": ent.description,
            "canonical_fields": fields,
            "already_mapped": decided,
            "columns": cols,
        },
        ensure_ascii=False,
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _is_uncertain(proposal: FieldProposal) -> bool:
    return proposal.decision != "auto"


def llm_refine(
    result: MappingResult,
    *,
    cols: Sequence[Column],
    profiles: Sequence[ValueProfile],
    states: Sequence[ColumnState],
    ontology: Ontology,
    tenant,
    auto_threshold: float,
    review_floor: float,
    force: bool = False,
) -> None:
    """Refine `result` in place with one LLM call about its uncertain columns (no-op without an LLM)."""
    from autonomos.core.llm import LLMError, get_llm_client

    if result.entity is None:
        return
    client = get_llm_client()
    if client is None:
        if force:
            result.notes.append("LLM requested but not configured")
        return
    if tenant is None:
        result.notes.append("LLM skipped: no tenant to charge")
        return
    by_name = {m.source_field: m for m in result.mappings}
    index_of = {c.name: i for i, c in enumerate(cols)}
    uncertain = [c.name for c in cols if c.name in by_name and _is_uncertain(by_name[c.name])]
    if not uncertain:
        result.notes.append("LLM not needed: every column is decided")
        return
    decided = {m.source_field: m.canonical_field for m in result.mappings if m.decision == "auto" and m.canonical_field}
    offered = [f for f in ontology.entity(result.entity).fields if f not in decided.values()]
    messages = build_messages(
        entity=result.entity,
        ontology=ontology,
        columns=[(cols[index_of[n]], profiles[index_of[n]]) for n in uncertain],
        offered=offered,
        decided=decided,
    )
    try:
        reply = client.chat(
            messages, tenant=tenant, purpose=PURPOSE, max_tokens=min(4000, 60 * len(uncertain) + 200), json_mode=True
        )
    except LLMError as exc:
        result.notes.append(f"LLM unavailable, heuristics kept ({exc})")
        return
    answer = parse_answer(reply.text)
    if answer is None:
        result.notes.append("LLM answer was not valid JSON of the expected shape; heuristics kept")
        return
    result.llm_used = True
    offered_set = set(offered)
    answers = {a.source_field: a for a in answer.mappings if a.source_field in uncertain}
    for name in uncertain:
        a = answers.get(name)
        if a is None:
            continue
        target = a.canonical_field if a.canonical_field in offered_set else None
        if a.canonical_field and target is None:
            continue  # an answer outside the offered fields is ignored, not trusted
        _merge(by_name[name], states[index_of[name]], target, a.confidence, auto_threshold, review_floor)
    _enforce_one_to_one(result)
    result.notes.append(f"LLM asked about {len(uncertain)} column(s)")


def _decision(conf: float, auto_threshold: float, review_floor: float) -> str:
    if conf >= auto_threshold:
        return "auto"
    return "review" if conf >= review_floor else "unmapped"


def _merge(
    p: FieldProposal, state: ColumnState, target: str | None, q: float, auto_threshold: float, review_floor: float
) -> None:
    option_scores = {o.field: o.score for o in state.options}
    if p.canonical_field is not None:  # a review proposal
        if target == p.canonical_field:
            p.confidence = round(min(AGREEMENT_CAP, max(p.confidence, 0.5 * p.confidence + 0.5 * q + 0.1)), 4)
            p.method = "llm"
            p.explanation = f"LLM agrees ({q:.2f}); {p.explanation}"
        elif target is None:
            p.confidence = round(p.confidence * (1.0 - 0.5 * q), 4)
            p.explanation = f"LLM sees no counterpart ({q:.2f}); {p.explanation}"
        elif q >= 0.8 and min(LLM_ONLY_CAP, 0.8 * q) > p.confidence:
            p.canonical_field, p.method = target, "llm"
            p.confidence = round(min(LLM_ONLY_CAP, 0.8 * q), 4)
            p.explanation = f"LLM proposes {target} ({q:.2f}) over the heuristic guess"
        else:
            p.confidence = round(p.confidence * 0.85, 4)
            p.explanation = f"LLM disagrees ({target}, {q:.2f}); {p.explanation}"
        p.decision = _decision(p.confidence, auto_threshold, review_floor)
        if p.decision == "unmapped":
            p.canonical_field, p.method = None, "none"
        return
    # an unmapped column
    if target is None:
        p.confidence = round(min(0.95, 1.0 - (1.0 - p.confidence) * (1.0 - 0.8 * q)), 4)
        p.explanation = f"LLM confirms no counterpart ({q:.2f}); {p.explanation}"
        p.decision = "auto" if p.confidence >= auto_threshold else "unmapped"
        return
    s = option_scores.get(target, 0.0)
    conf = min(0.9, 0.5 * q + 0.5 * s + 0.15) if s >= 0.3 else min(LLM_ONLY_CAP, 0.8 * q)
    if conf < review_floor:
        return
    p.canonical_field, p.confidence, p.method = target, round(conf, 4), "llm"
    p.decision = _decision(conf, auto_threshold, review_floor)
    p.explanation = f"LLM proposes {target} ({q:.2f})" + (f", heuristics agree weakly ({s:.2f})" if s >= 0.3 else "")


def _enforce_one_to_one(result: MappingResult) -> None:
    owner: dict[str, FieldProposal] = {}
    for p in sorted(result.mappings, key=lambda m: m.confidence, reverse=True):
        if p.canonical_field is None:
            continue
        if p.canonical_field in owner:
            other = owner[p.canonical_field]
            p.explanation = f"{p.canonical_field} went to {other.source_field}; {p.explanation}"
            p.canonical_field, p.method, p.decision = None, "none", "unmapped"
            p.confidence = 0.0
            continue
        owner[p.canonical_field] = p
