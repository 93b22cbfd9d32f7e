"""The mapping engine: source columns in, one canonical-field decision per column out.

Steps (see DESIGN.md, Mapping intelligence):
1. profile every column (name tokens, value kinds, effective type);
2. score every column against every entity's fields (heuristics) and infer the table's entity;
3. memory: the tenant's decisions, then the global seed set, retrieved by name, type and values;
4. fuse, assign one-to-one, calibrate, decide (auto ≥ threshold, review ≥ floor, else unmapped);
5. LLM, only when configured and only for the columns the first steps leave uncertain.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from aam.ontology import Ontology, get_ontology

from .assign import ColumnState, alternative_of, assign, calibrate, coalesces_with, fuse, prefers
from .entity import infer_entity
from .matcher import FieldIndex, entity_candidates, value_only_candidates
from .memory import (
    MemoryIndex,
    detect_vendor,
    gather_evidence,
    object_key,
    seed_index,
    seed_object_entities,
    tenant_index,
)
from .normalize import get_lexicon
from .types import Column, FieldProposal, MappingResult
from .values import profile_values

logger = logging.getLogger(__name__)

DEFAULT_AUTO_THRESHOLD = 0.85
DEFAULT_REVIEW_FLOOR = 0.5
NAME_HINT = 0.5
# Sample kinds specific enough that a column carrying them while a field expecting them is still
# open should not be declared "no counterpart" without a second opinion.
_TELLING_KINDS = (
    "date",
    "datetime",
    "epoch",
    "email",
    "phone",
    "url",
    "domain",
    "currency_code",
    "cloud_region",
    "cloud_az",
    "country",
    "free_text",
    "money",
)

# value kinds of the fields a column of small integer codes may stand for
_CODED_VALUES = frozenset({"option_set", "boolean", "deal_outcome", "probability"})

_indexes: dict[int, FieldIndex] = {}


def field_index(ontology: Ontology) -> FieldIndex:
    key = id(ontology)
    index = _indexes.get(key)
    if index is None or index.ontology is not ontology:
        index = FieldIndex(ontology, get_lexicon())
        _indexes[key] = index
    return index


def thresholds() -> tuple[float, float]:
    try:
        from django.conf import settings

        auto = float(getattr(settings, "AAM_AUTO_APPLY_THRESHOLD", DEFAULT_AUTO_THRESHOLD))
        floor = float(getattr(settings, "AAM_REVIEW_FLOOR", DEFAULT_REVIEW_FLOOR))
    except Exception:  # noqa: BLE001 - usable without configured Django settings
        auto, floor = DEFAULT_AUTO_THRESHOLD, DEFAULT_REVIEW_FLOOR
    return auto, min(floor, auto)


def _max_samples() -> int:
    try:
        from django.conf import settings

        return int(getattr(settings, "AAM_MAX_SAMPLES_PER_TABLE", 8))
    except Exception:  # noqa: BLE001
        return 8


def map_source(
    *,
    columns: Iterable[Any],
    object_name: str | None = None,
    source_kind: str | None = None,
    entity_hint: str | None = None,
    tenant=None,
    use_llm: bool | None = None,
    primary_key: str | None = None,
    ontology: Ontology | None = None,
    use_memory: bool = True,
    seed: MemoryIndex | None = None,
) -> MappingResult:
    """Propose a canonical field (or none) for every column of one source object.

    `columns`: dicts `{"name", "type", "samples"}` or SourceField-like objects. `tenant`: searched for
    the tenant's own memory (needs the tenant's schema to be active) and charged for LLM calls.
    `use_llm`: None = when configured, False = never. `use_memory=False` disables retrieval (used by
    the benchmark to measure the heuristics alone).
    """
    ontology = ontology or get_ontology()
    index = field_index(ontology)
    lexicon = index.lexicon
    auto_threshold, review_floor = thresholds()
    max_samples = _max_samples()

    cols: list[Column] = []
    duplicates: list[str] = []
    seen: set[str] = set()
    for raw in columns:
        col = Column.coerce(raw, max_samples=max_samples)
        if col.name in seen:
            duplicates.append(col.name)
            continue
        seen.add(col.name)
        cols.append(col)
    parts = [lexicon.parse(c.name) for c in cols]
    profiles = [profile_values(c.type, list(c.samples)) for c in cols]

    # Heuristic candidates for every entity (entity inference needs them all).
    per_entity = {
        e: [entity_candidates(index, e, p, prof) for p, prof in zip(parts, profiles, strict=True)]
        for e in ontology.entity_names()
    }

    vendor = detect_vendor(parts, source_kind) if use_memory else (source_kind or "")
    indexes: list[MemoryIndex] = []
    if use_memory:
        t_index = None
        if tenant is not None:
            try:
                t_index = tenant_index(tenant)
            except Exception:  # noqa: BLE001 - memory is an aid; mapping works without it
                logger.warning("tenant memory unavailable", exc_info=True)
        if t_index is not None and len(t_index):
            indexes.append(t_index)
        indexes.append(seed or seed_index())
    seed_entity = seed_object_entities().get((vendor, object_key(object_name))) if use_memory and object_name else None

    if entity_hint and entity_hint in ontology.entities:
        entity, entity_conf = entity_hint, 1.0
        guess = infer_entity(index, parts, profiles, per_entity, object_name=object_name, seed_entity=seed_entity)
        entity_scores = guess.scores
    else:
        guess = infer_entity(index, parts, profiles, per_entity, object_name=object_name, seed_entity=seed_entity)
        entity, entity_conf, entity_scores = guess.entity, guess.confidence, guess.scores

    result = MappingResult(
        entity=entity,
        entity_confidence=round(entity_conf, 4),
        entity_scores={k: round(v, 4) for k, v in entity_scores.items()},
    )
    if entity is None:
        result.mappings = [
            FieldProposal(c.name, None, 0.0, "none", "unmapped", "no canonical entity fits this table") for c in cols
        ]
        result.mappings += [
            FieldProposal(n, None, 0.0, "none", "unmapped", "duplicate column name") for n in duplicates
        ]
        return result

    states: list[ColumnState] = []
    for i, col in enumerate(cols):
        cands = list(per_entity[entity][i])
        if primary_key and col.name == primary_key and ontology.defines_field(entity, "id"):
            cands = [c for c in cands if c.field != "id"]
            from .matcher import Candidate

            cands.insert(
                0,
                Candidate(
                    field="id",
                    score=0.99,
                    name_score=1.0,
                    type_factor=1.0,
                    value_factor=1.0,
                    phrase="(declared primary key)",
                ),
            )
        if not cands or cands[0].score < 0.5:
            cands += value_only_candidates(index, entity, parts[i], profiles[i])
        evidence = None
        if indexes and not parts[i].flags & {"system"}:
            evidence = gather_evidence(
                indexes,
                parts[i],
                effective_type=profiles[i].effective,
                signature=profiles[i].signature,
                entity=entity,
                vendor=vendor,
                object_name=object_name or "",
            )
        options, note, memory_none = fuse(cands, evidence, gate=_gate(ontology, entity, profiles[i]))
        state = ColumnState(
            name=col.name,
            options=options,
            null_reason=note,
            memory_none=memory_none,
            name_hints={c.field: c.name_score for c in cands if c.name_score >= NAME_HINT},
        )
        if parts[i].flags & {"system"}:
            state.options, state.null_reason = [], "system field"
        elif "tag" in parts[i].flags:
            state.options, state.null_reason = [], "a single tag column (tags are collected, not mapped one by one)"
        states.append(state)

    assign(states)
    calibrate(states, entity_confidence=entity_conf)
    if ontology.defines_field(entity, "id"):
        _key_fallback(states, parts, profiles, index, entity, review_floor)
    if ontology.defines_field(entity, "name") and object_name:
        _title_fallback(states, parts, profiles, index, entity, object_name, review_floor)

    states_by_field = {st.assigned.field: st for st in states if st.assigned is not None}
    reference_fields = [f.name for f in ontology.entity(entity).fields.values() if f.is_reference]
    for state, p, prof in zip(states, parts, profiles, strict=True):
        result.mappings.append(
            _decide(
                state,
                p,
                prof,
                lexicon,
                states_by_field,
                auto_threshold,
                review_floor,
                reference_fields,
                ontology.entity(entity).fields,
            )
        )
    result.mappings += [FieldProposal(n, None, 0.0, "none", "unmapped", "duplicate column name") for n in duplicates]

    if use_llm is not False:
        from .llm_step import llm_refine

        llm_refine(
            result,
            cols=cols,
            profiles=profiles,
            states=states,
            ontology=ontology,
            tenant=tenant,
            auto_threshold=auto_threshold,
            review_floor=review_floor,
            force=use_llm is True,
        )
    return result


KEY_FALLBACK_CONFIDENCE = 0.6
# A column whose best field another column holds surely (decided auto) and with a clearly better fit
# is most likely a second view of that field (`Owner.name` beside `Owner.id`): its claim counts little.
OWNED_CONFIDENCE = DEFAULT_AUTO_THRESHOLD
OWNED_MARGIN = 0.1
OWNED_FACTOR = 0.25
# How much a weak best guess keeps a fully understood column from "no counterpart": a guess at 0.2
# costs 9% of the certainty, at 0.5 35%, at 0.8 72% (a plain 1 - score cost 20% already at 0.2 and
# left most understood leftovers of real exports to a human).
NONE_EXPONENT = 1.5


def _key_fallback(states, parts, profiles, index, entity: str, review_floor: float) -> None:
    """A table whose key no name gave away (`Badge ID`, `Item ID`): the first column named as an id,
    with distinct key-like values, whose qualifier names no other record (`Company ID`, `Owner ID`,
    `External ID` are links, not the key). Proposed for review only: a guess from shape, not meaning."""
    if any(st.assigned is not None and st.assigned.field == "id" and st.confidence >= review_floor for st in states):
        return
    lex = index.lexicon
    foreign: set[str] = set(lex.negative) | {"owner", "user", "parent", "lead"}
    for other in index.ontology.entity_names():
        if other != entity:
            foreign |= index.alias_tokens[other]
    for targets in lex.reference_aliases.values():
        foreign |= targets
    foreign |= set(lex.reference_aliases)
    foreign -= index.alias_tokens[entity]
    for st, p, prof in zip(states, parts, profiles, strict=True):
        if st.assigned is not None and st.confidence >= review_floor:
            continue
        # `Badge ID`, and `Customer No.` in a customers table: a number named for the table's own record
        own_number = p.tokens[-1:] == ("number",) and set(p.tokens[:-1]) <= index.alias_tokens[entity]
        if not p.tokens or not (p.tokens[-1] in lex.identifier_tokens or own_number):
            continue
        if p.flags & {"system", "tag", "lookup"}:
            continue
        if set(p.tokens[:-1]) & foreign or set(p.context) & foreign:
            continue
        if prof.n < 2 or prof.distinct != prof.n or prof.share("identifier") < 0.8:
            continue
        from .assign import Option

        st.assigned = Option(
            field="id",
            score=KEY_FALLBACK_CONFIDENCE,
            method="heuristic",
            explanation="the first id-named column with distinct key-like values, and no other key in the table",
        )
        st.confidence = KEY_FALLBACK_CONFIDENCE
        return


TITLE_FALLBACK_CONFIDENCE = 0.65


def _title_fallback(states, parts, profiles, index, entity: str, object_name: str, review_floor: float) -> None:
    """A table whose name no column gave away, with a column named after the table's own object
    (`Renewal` in "Renewals tracker", `Project` in "projects.csv"): a column of distinct phrases named
    for what each row is, is the row's title. Proposed for review only: a guess from shape."""
    if any(st.assigned is not None and st.assigned.field == "name" and st.confidence >= review_floor for st in states):
        return
    lex = index.lexicon
    object_tokens = set(lex.tokens_of(object_name))
    foreign: set[str] = set()
    for other in index.ontology.entity_names():
        if other != entity:
            foreign |= index.alias_tokens[other]
    for st, p, prof in zip(states, parts, profiles, strict=True):
        if st.assigned is not None and st.confidence >= review_floor:
            continue
        if not p.tokens or not set(p.tokens) <= object_tokens or set(p.tokens) & foreign:
            continue
        if p.flags & {"system", "tag", "lookup", "count", "money", "percent"} or p.tokens[-1] in lex.identifier_tokens:
            continue
        if prof.effective != "string" or prof.n < 2 or prof.distinct != prof.n or prof.share("textual") < 0.8:
            continue
        if prof.any_share(["email", "url", "domain", "phone", "identifier", "date", "datetime"]) >= 0.5:
            continue
        from .assign import Option

        st.assigned = Option(
            field="name",
            score=TITLE_FALLBACK_CONFIDENCE,
            method="heuristic",
            explanation=f"named after the table's own object ({object_name}), a distinct phrase per row: its title",
        )
        st.confidence = TITLE_FALLBACK_CONFIDENCE
        return


def _reference_like(parts, profile, lexicon) -> bool:
    named = bool(parts.tokens) and parts.tokens[-1] in lexicon.identifier_tokens or "lookup" in parts.flags
    return named or profile.any_share(["sf_id", "guid", "cloud_resource_id", "arn"]) >= 0.8


def _gate(ontology: Ontology, entity: str, profile):
    """How well a column's type and values fit each field of the entity (memoized per column)."""
    from .matcher import type_factor, value_factor

    cache: dict[str, float] = {}

    def fit(name: str) -> float:
        if name not in cache:
            if not ontology.defines_field(entity, name):
                cache[name] = 0.0
            else:
                f = ontology.field(entity, name)
                cache[name] = type_factor(f, profile) * value_factor(f, profile, entity)[0]
        return cache[name]

    return fit


def _expected_kinds(name: str, entity_fields) -> set[str]:
    from .matcher import _KIND_GROUPS

    kinds: set[str] = set()
    for kind in entity_fields[name].values:
        kinds |= _KIND_GROUPS.get(kind, {kind})
    return kinds


def _none_confidence(
    state: ColumnState,
    parts,
    profile,
    lexicon,
    states_by_field: dict[str, ColumnState],
    reference_fields=(),
    entity_fields=None,
) -> tuple[float, str]:
    """How sure the engine is that the column has no canonical counterpart, and why.

    Sure when memory remembers it so, when it is a system or tag column, or when the name was fully
    understood (every word known) and nothing in the entity fits it. A name with words the engine
    does not know stays uncertain: that is what the LLM coverage check is for.
    """
    if "system" in parts.flags:
        return 0.95, "system field"
    if "tag" in parts.flags:
        return 0.95, state.null_reason
    memory_none = state.memory_none
    best_eff = 0.0
    for opt in state.options:
        eff = opt.score
        owner = states_by_field.get(opt.field)
        if owner is not None and owner is not state and owner.assigned:
            if owner.confidence >= OWNED_CONFIDENCE and owner.assigned.score >= opt.score + OWNED_MARGIN:
                eff *= OWNED_FACTOR  # another column holds that field, surely and with a better fit
            elif owner.assigned.score >= opt.score + 0.25:
                eff *= 0.5  # another column clearly owns that field
        best_eff = max(best_eff, eff)
    # understood: every word known, and one of them says what the column is (`HQ`, `Primary` or
    # `Secondary` alone only qualify a head that is not there)
    understood = (
        bool(parts.tokens)
        and all(t in lexicon.known or t in lexicon.generic for t in parts.tokens)
        and any(t not in lexicon.primary and t not in lexicon.secondary for t in parts.tokens)
    )
    sure = 0.92 if understood else 0.6
    negated = any(t in lexicon.negative for t in parts.tokens)
    if (
        profile.share("option_set") >= 0.8
        and not ("count" in parts.flags or negated)
        and any(f not in states_by_field and set(entity_fields[f].values) & _CODED_VALUES for f in entity_fields)
    ):
        # coded values hide their meaning (a status code may well be "won"), as long as a field that
        # takes codes is still open; a count or a duration (`numberofemployees`, `Sales_Cycle_Duration`)
        # is a measure, whatever its small integers look like
        sure = min(sure, 0.8)
    if _reference_like(parts, profile, lexicon) and any(f not in states_by_field for f in reference_fields):
        sure = min(sure, 0.8)  # an unexplained reference may well be one of the links still open
    for name in state.name_hints:
        owner = states_by_field.get(name)
        if owner is None or owner is state:
            sure = min(sure, 0.75)  # the name points to an open field, only its type or values disagree
            break
    # values of a kind an open field expects, unless the name says why they are not that field
    # (`Budget ($)`, `Lost Reason`: a meaning-changing word)
    telling = [] if negated else [k for k in _TELLING_KINDS if profile.share(k) >= 0.8]
    if telling and any(
        f not in states_by_field and set(telling) & _expected_kinds(f, entity_fields) for f in entity_fields
    ):
        sure = min(sure, 0.8)
    heuristic_none = sure * (1.0 - best_eff**NONE_EXPONENT)
    if memory_none >= heuristic_none:
        return memory_none, state.null_reason
    if not state.options:
        return (
            heuristic_none,
            "no canonical field matches"
            if understood
            else "no canonical field matches a name the engine does not fully understand",
        )
    return heuristic_none, ""


def _decide(
    state: ColumnState,
    parts,
    profile,
    lexicon,
    states_by_field: dict[str, ColumnState],
    auto_threshold: float,
    review_floor: float,
    reference_fields: Sequence[str] = (),
    entity_fields=None,
) -> FieldProposal:
    opt = state.assigned
    if opt is not None and state.confidence >= review_floor:
        decision = "auto" if state.confidence >= auto_threshold else "review"
        explanation = opt.explanation
        if state.settled:
            explanation += f"; memory prefers it to {', '.join(state.settled)} for {opt.field}"
        return FieldProposal(state.name, opt.field, state.confidence, opt.method, decision, explanation)
    alternative = alternative_of(state, states_by_field)
    if alternative is not None:
        # Memory knows this column and the one holding the field as that field and prefers the other:
        # an equivalent the canonical record does not need, as sure as the memory that says so.
        best = state.options[0]
        conf = round(min(best.known, 0.99), 4)
        if coalesces_with(state, alternative):
            return _fallback_proposal(state, alternative, conf, auto_threshold, review_floor)
        held_by = alternative.assigned.known_from
        why = (
            f"{state.name} is an alternative of {alternative.name} for {best.field} ({best.known_from}, "
            f"{best.known:.2f}{'' if held_by == best.known_from else f'; {alternative.name} is {held_by}'})"
        )
        if conf >= auto_threshold:
            return FieldProposal(state.name, None, conf, "memory", "auto", why)
        return FieldProposal(state.name, None, conf, "none", "unmapped", why)
    none_conf, why = _none_confidence(
        state, parts, profile, lexicon, states_by_field, reference_fields, entity_fields or {}
    )
    reasons = [why] if why else []
    if opt is not None:
        reasons.append(f"best guess {opt.field} at {state.confidence:.2f} is below the review floor")
    elif state.options:
        best = state.options[0]
        taken_by = state.lost_to.get(best.field)
        owner = states_by_field.get(best.field)
        if taken_by and owner is not None and prefers(owner.assigned, best):
            reasons.append(f"{best.field} goes to {owner.name} ({owner.assigned.known_from})")
        elif taken_by:
            reasons.append(f"{best.field} fits {taken_by} better")
        else:
            reasons.append(f"best guess {best.field} at {best.score:.2f} is too weak")
    method = "memory" if why.startswith("memory:") else "heuristic"
    none_conf = round(min(none_conf, 0.99), 4)
    if none_conf >= auto_threshold:
        # Confidently no counterpart: applied without a human, like a confident mapping.
        return FieldProposal(state.name, None, none_conf, method, "auto", "; ".join(reasons))
    return FieldProposal(
        state.name, None, none_conf, "none", "unmapped", "; ".join(reasons) or "no canonical field matches"
    )


def _fallback_proposal(
    state: ColumnState, holder: ColumnState, conf: float, auto_threshold: float, review_floor: float
) -> FieldProposal:
    """A column filled on the records its field's holder leaves empty (a CUR's RI ARN beside its
    Savings Plan ARN): mapped onto the same field, which both then feed (aam/ingest/normalize.py)."""
    best = state.options[0]
    why = (
        f"{state.name} feeds {best.field} with {holder.name}: the two are filled on different records, "
        f"the first value of a record wins ({best.known_from}, {best.known:.2f})"
    )
    if conf >= review_floor:
        decision = "auto" if conf >= auto_threshold else "review"
        return FieldProposal(state.name, best.field, conf, "memory", decision, why, feeds_with=holder.name)
    return FieldProposal(state.name, None, conf, "none", "unmapped", why)


def proposals_by_field(result: MappingResult) -> dict[str, FieldProposal]:
    return {m.source_field: m for m in result.mappings}


def columns_from_case(case: dict) -> Sequence[dict]:
    return case.get("columns", [])
