"""The value-mapping engine: one decision per distinct source value of a column (docs/adr/0014).

`map_column(column, memory=..., llm=..., thresholds=...)` is pure: no database, no network unless an
LLM is passed. Evidence, strongest first (aam/values/evidence/): the vendor's metadata (option labels,
stage flags), the tenant's memory of approved maps, standard code lists (ISO 3166-1/-2, ISO 4217,
provider region catalogs, the FOCUS service crosswalks), lexical similarity; then the optional LLM
for what stays uncertain. Decisions: `auto` at or above the auto threshold, `review` between the
floor and the threshold, `unmapped` below; placeholders (empty, N/A, -, none, null, unknown) are
`null`. A column with more distinct values than `AAM_VALUE_MAX_DISTINCT` (500) is free text and
gets no decisions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from aam.ontology import ValueSet, get_ontology

from .evidence import Candidate, codes, focus, metadata, probability, regions
from .evidence.lexical import lexical_match, lexicon_for, vendor_value
from .evidence.memory import ValueMemory, from_memory
from .normalize import MAX_TEXT, compact, is_placeholder
from .types import AUTO, NULL, REVIEW, UNMAPPED, ColumnResult, ColumnValues, ValueDecision, raw_key

DEFAULT_MAX_DISTINCT = 500
AGREEMENT_BONUS = 0.02
CONFLICT_CAP = 0.8  # two pieces of evidence of like strength disagree: a human decides
PLACEHOLDER_CONFIDENCE = 0.99
VOCABULARY = 0.99  # the value is spelled as a canonical one
DOCUMENTED = 0.9  # a code-list answer at least this sure is the vendor's documented list


def default_thresholds() -> tuple[float, float]:
    """(auto threshold, review floor): the field mapping's settings, so one switch governs both."""
    from aam.mapping.engine import thresholds

    return thresholds()


def max_distinct() -> int:
    try:
        from django.conf import settings

        return int(getattr(settings, "AAM_VALUE_MAX_DISTINCT", DEFAULT_MAX_DISTINCT))
    except Exception:  # noqa: BLE001 - usable without configured Django settings
        return DEFAULT_MAX_DISTINCT


def _distinct(values) -> list[tuple[Any, int]]:
    """The distinct values (by raw key) with their summed counts, in first-seen order."""
    seen: dict[str, list] = {}
    for item in values or ():
        if isinstance(item, (tuple, list)) and len(item) == 2:
            raw, count = item
        else:
            raw, count = item, 1
        try:
            n = int(count) if not isinstance(count, bool) else 1
        except (TypeError, ValueError):
            n = 1
        key = raw_key(raw)
        if key in seen:
            seen[key][1] += n
        else:
            seen[key] = [raw, n]
    return [(r, n) for r, n in seen.values()]


class _Column:
    """What the evidence needs to know about the whole column (computed once)."""

    def __init__(self, column: ColumnValues, vs: ValueSet, distinct: list[tuple[Any, int]]):
        self.column = column
        self.vs = vs
        self.allowed_values = set(vs.values) if vs.kind == "enum" else set()
        # a value (or its vendor label) spelled as a canonical value is that value: 'Compute', 'Best Case'
        self.vocabulary = {compact(v): v for v in self.allowed_values}
        self.labels, self.stages = metadata.parse(column.metadata)
        raws = [r for r, _ in distinct]
        self.percent = vs.kind == "number" and probability.column_is_percent(raws)
        self.subdivisions: dict[str, Candidate | None] = {}
        if vs.kind == "iso3166-2":
            texts = [r[:MAX_TEXT] for r in raws if isinstance(r, str) and not is_placeholder(r)]
            texts += [lab for lab in self.labels.values()]
            self.subdivisions = codes.subdivisions(texts)
        self.lex = lexicon_for(vs.key, tuple(vs.values)) if vs.kind == "enum" else None

    def allowed(self, canonical) -> bool:
        if canonical is None:
            return True
        kind = self.vs.kind
        if kind == "enum":
            return canonical in self.allowed_values
        if kind == "number":
            return isinstance(canonical, (int, float)) and not isinstance(canonical, bool) and 0.0 <= canonical <= 1.0
        if kind == "iso4217":
            return isinstance(canonical, str) and codes.currency(canonical) is not None
        if kind == "iso3166-1":
            return isinstance(canonical, str) and len(canonical) == 2 and canonical.isupper()
        if kind == "iso3166-2":
            return isinstance(canonical, str) and canonical in codes.subdivision_index()[2]
        if kind == "region":
            return isinstance(canonical, str) and bool(regions.VALID_CODE.match(canonical))
        return False


def _texts(raw, label: str | None) -> list[str]:
    out = []
    if isinstance(raw, str) and raw.strip():
        out.append(raw[:MAX_TEXT])
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool) and label is None:
        out.append(str(raw))
    if label:
        out.append(label[:MAX_TEXT])
    return out


def _code_list(ctx: _Column, text: str) -> Candidate | None:
    kind = ctx.vs.kind
    if kind == "iso4217":
        return codes.currency(text)
    if kind == "iso3166-1":
        return codes.country(text)
    if kind == "iso3166-2":
        return ctx.subdivisions.get(text)
    if kind == "region":
        return regions.region(text, source=ctx.column.source)
    if ctx.vs.key.endswith(".service_category"):
        return focus.service_category(text, ctx.allowed_values, source=ctx.column.source)
    return None


def _evidence(ctx: _Column, raw, key: str, label: str | None, memory: ValueMemory | None) -> list[Candidate]:
    col = ctx.column
    found: list[Candidate] = []
    remembered = from_memory(
        memory, source=col.source, entity=col.entity, field=col.field, key=key, allowed=ctx.allowed
    )
    if remembered is not None:
        found.append(remembered)
    if ctx.vs.kind == "number":
        hit = probability.probability(raw, percent_column=ctx.percent)
        if hit is not None:
            found.append(hit)
        return found
    texts = _texts(raw, label)
    stage = ctx.stages.get(key)
    field = col.field
    vendor = vendor_value(ctx.vs.key, col.source, texts[0] if texts else "")
    if stage is None and vendor is None and ctx.vocabulary:
        own = next((ctx.vocabulary[k] for t in texts if (k := compact(t)) in ctx.vocabulary), None)
        if own is not None:
            # the source already speaks the vocabulary (and its vendor gives the word no meaning of its
            # own, as GCP's TERMINATED = stopped): no crosswalk second-guesses it (focus_converters
            # lists an AWS product code 'Compute' as Business Applications)
            return [*found, Candidate(own, VOCABULARY, "vocabulary", "the canonical value itself")]
    if stage is not None and ctx.vs.kind == "enum":
        words = None
        if stage.label or isinstance(raw, str):
            words = _best([c for t in _texts(raw, stage.label) if (c := lexical_match(t, ctx.lex)) is not None])
        if field == "status":
            hit = metadata.status_from_stage(stage)
        elif field == "stage_category":
            hit = metadata.stage_category_from_stage(stage, words)
        elif field == "forecast_category":
            hit = metadata.forecast_from_stage(stage, lambda t: lexical_match(t, ctx.lex))
        else:
            hit = None
        if hit is not None:
            found.append(hit)
    if vendor is not None:
        found.append(vendor)
    for text in texts:
        hit = _code_list(ctx, text)
        if hit is not None:
            found.append(hit)
        if ctx.lex is not None:
            hit = lexical_match(text, ctx.lex)
            if hit is not None:
                found.append(hit)
    return found


def _best(cands: list[Candidate]) -> Candidate | None:
    return max(cands, key=lambda c: c.confidence) if cands else None


def _fuse(cands: list[Candidate]) -> Candidate | None:
    """The strongest candidate; raised a little when other evidence agrees, capped when evidence of
    like strength disagrees."""
    if not cands:
        return None
    if any(c.evidence == "memory" for c in cands):
        return next(c for c in cands if c.evidence == "memory")
    best = max(cands, key=lambda c: c.confidence)
    agree = {c.evidence for c in cands if c.canonical == best.canonical and c is not best}
    rivals = [c for c in cands if c.canonical != best.canonical]
    conf = best.confidence
    note = best.note
    if agree - {best.evidence}:
        conf = min(0.99, conf + AGREEMENT_BONUS)
    if rivals:
        rival = max(rivals, key=lambda c: c.confidence)
        if best.evidence == "metadata" and rival.evidence != "metadata":
            pass  # the vendor's own flags outrank words
        elif best.evidence == "lexical" and rival.evidence == "code_list" and rival.confidence >= DOCUMENTED:
            # a vendor's documented list (a crosswalk, a catalog) outranks generic words
            best, conf, note = rival, rival.confidence, f"{rival.note}; words say {best.canonical!r}"
        elif rival.confidence >= best.confidence - 0.08 and rival.confidence >= 0.7:
            conf = min(conf, CONFLICT_CAP)
            note = f"{note}; but {rival.evidence} says {rival.canonical!r}"
    return Candidate(best.canonical, conf, best.evidence, note)


def _decide(raw, count: int, ctx: _Column, memory, auto: float, floor: float) -> ValueDecision:
    if (
        isinstance(raw, (dict, list, tuple, set))
        or isinstance(raw, bool)
        or (isinstance(raw, float) and not math.isfinite(raw))
    ):
        return ValueDecision(raw, None, 0.0, UNMAPPED, "type", None, count)
    key = raw_key(raw)
    label = ctx.labels.get(key)
    if is_placeholder(raw) and label is None:
        return ValueDecision(raw, None, PLACEHOLDER_CONFIDENCE, NULL, "placeholder", None, count)
    if not isinstance(raw, (str, int, float)):
        return ValueDecision(raw, None, 0.0, UNMAPPED, "type", label, count)
    best = _fuse(_evidence(ctx, raw, key, label, memory))
    if best is None:
        return ValueDecision(raw, None, 0.0, UNMAPPED, "none", label, count)
    conf = round(max(0.0, min(1.0, best.confidence)), 4)
    if best.canonical is None:
        decision = NULL if conf >= auto else (REVIEW if conf >= floor else UNMAPPED)
        return ValueDecision(raw, None, conf, decision, best.evidence, label, count)
    if conf >= auto:
        decision = AUTO
    elif conf >= floor:
        decision = REVIEW
    else:
        return ValueDecision(raw, None, conf, UNMAPPED, best.evidence, label, count)
    return ValueDecision(raw, best.canonical, conf, decision, best.evidence, label, count)


def map_column(
    column: ColumnValues,
    *,
    memory: ValueMemory | None = None,
    llm: Callable | Any | None = None,
    thresholds: tuple[float, float] | None = None,
) -> ColumnResult:
    """One `ValueDecision` per distinct value of `column` (see the module docstring)."""
    vs = get_ontology().value_set(column.entity, column.field)
    if vs is None:
        return ColumnResult(column, note=f"{column.entity}.{column.field} has no value set: nothing to map")
    auto, floor = thresholds or default_thresholds()
    floor = min(floor, auto)
    distinct = _distinct(column.values)
    limit = max_distinct()
    if len(distinct) > limit:
        return ColumnResult(
            column,
            free_text=True,
            note=f"{len(distinct)} distinct values (more than {limit}): free text, not a picklist; not value-mapped",
        )
    ctx = _Column(column, vs, distinct)
    decisions = [_decide(raw, count, ctx, memory, auto, floor) for raw, count in distinct]
    extra: dict = {}
    if llm is not None:
        from .llm_step import llm_refine

        decisions, extra = llm_refine(column, vs, decisions, llm, auto=auto, floor=floor, allowed=ctx.allowed)
    return ColumnResult(column, tuple(decisions), extra=extra)
