"""The optional LLM step of the value engine: one batched question about the values the evidence
leaves uncertain (review or unmapped), behind the same switch as the field mapping (`LLM_BASE_URL`;
none by default).

The LLM never decides alone: agreeing with the evidence raises its confidence (capped below
certainty), a proposal of its own is a review item at most, an answer outside the value set or a
bad answer leaves the evidence's result untouched.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from autonomos.core.llm import answer_json

from .types import AUTO, REVIEW, UNMAPPED, ColumnValues, ValueDecision

logger = logging.getLogger(__name__)

PURPOSE = "value_mapping"
LLM_ONLY_CAP = 0.8
AGREEMENT_CAP = 0.95
MAX_VALUES = 60
MAX_TEXT = 80


class ValueLLM(Protocol):
    def ask(self, messages: list[dict[str, str]], *, max_tokens: int) -> str:
        """The model's text answer to a chat; raises on failure."""


class TenantLLM:
    """The project's LLM client, charged to a tenant (autonomos.core.llm)."""

    def __init__(self, client, tenant):
        self.client, self.tenant = client, tenant

    def ask(self, messages, *, max_tokens: int) -> str:
        return self.client.chat(
            messages, tenant=self.tenant, purpose=PURPOSE, max_tokens=max_tokens, json_mode=True
        ).text


def tenant_llm(tenant) -> TenantLLM | None:
    """The LLM for `tenant`'s value mapping, or None when no LLM is configured (the default)."""
    from autonomos.core.llm import get_llm_client

    client = get_llm_client()
    return TenantLLM(client, tenant) if client is not None and tenant is not None else None


class _Answer(BaseModel):
    raw: str
    canonical: str | None = None
    confidence: float = Field(ge=0.0, le=1.0)


class _Answers(BaseModel):
    values: list[_Answer]


def parse_answer(text: str) -> _Answers | None:
    data = answer_json(text)
    if data is None:
        return None
    try:
        return _Answers.model_validate(data)
    except ValidationError:
        return None


def build_messages(column: ColumnValues, vs, uncertain: list[ValueDecision]) -> list[dict[str, str]]:
    allowed = list(vs.values) if vs.kind == "enum" else f"{vs.kind} codes ({vs.description})"
    system = (
        "You map the values of a business system's column onto a canonical value set. For each raw value answer "
        "the one canonical value with the same meaning, or null when none applies. Use only the allowed values. "
        'Reply with JSON only: {"values": [{"raw": "<raw>", "canonical": "<value or null>", "confidence": <0..1>}]}'
    )
    user = json.dumps(
        {
            "source": column.source,
            "object": column.object,
            "column": column.column,
            "field": column.key,
            "allowed": allowed,
            "values": [{"raw": d.key[:MAX_TEXT], "label": (d.label or "")[:MAX_TEXT]} for d in uncertain],
        },
        ensure_ascii=False,
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _decision(conf: float, auto: float, floor: float) -> str:
    return AUTO if conf >= auto else (REVIEW if conf >= floor else UNMAPPED)


def llm_refine(
    column: ColumnValues, vs, decisions: list[ValueDecision], llm: Any, *, auto: float, floor: float, allowed
) -> tuple[list[ValueDecision], dict]:
    """The decisions with the LLM's opinion merged into the uncertain ones, and a note for `extra`."""
    uncertain = [d for d in decisions if d.decision in (REVIEW, UNMAPPED) and d.evidence != "type"][:MAX_VALUES]
    if not uncertain:
        return decisions, {"llm": "not needed"}
    try:
        text = llm.ask(build_messages(column, vs, uncertain), max_tokens=min(4000, 40 * len(uncertain) + 200))
    except Exception as exc:  # noqa: BLE001 - the LLM is optional: any failure keeps the evidence's result
        logger.warning("value LLM step failed: %s", exc.__class__.__name__)
        return decisions, {"llm": f"unavailable ({exc.__class__.__name__}); evidence kept"}
    answer = parse_answer(text)
    if answer is None:
        return decisions, {"llm": "answer was not valid JSON of the expected shape; evidence kept"}
    by_key = {a.raw: a for a in answer.values}
    out = []
    asked = {d.key[:MAX_TEXT] for d in uncertain}
    for d in decisions:
        a = by_key.get(d.key[:MAX_TEXT]) if d.key[:MAX_TEXT] in asked and d in uncertain else None
        if a is None or (a.canonical is not None and not allowed(a.canonical)):
            out.append(d)
            continue
        q = a.confidence
        if d.canonical is not None and a.canonical == d.canonical:
            conf = round(min(AGREEMENT_CAP, max(d.confidence, 0.5 * d.confidence + 0.5 * q + 0.1)), 4)
            out.append(replace(d, confidence=conf, decision=_decision(conf, auto, floor), evidence=f"{d.evidence}+llm"))
        elif d.canonical is None and a.canonical is not None and q >= 0.5:
            conf = round(min(LLM_ONLY_CAP, 0.8 * q, auto - 0.01), 4)
            dec = _decision(conf, auto, floor)
            out.append(
                replace(
                    d, canonical=a.canonical if dec != UNMAPPED else None, confidence=conf, decision=dec, evidence="llm"
                )
            )
        elif d.canonical is not None and a.canonical != d.canonical:
            conf = round(d.confidence * 0.85, 4)
            dec = _decision(conf, auto, floor)
            out.append(replace(d, confidence=conf, decision=dec, canonical=d.canonical if dec != UNMAPPED else None))
        else:
            out.append(d)
    return out, {"llm": f"asked about {len(uncertain)} value(s)"}
