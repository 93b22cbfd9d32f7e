"""From per-column options to one decision per column.

1. fuse: heuristic candidates and memory evidence become scored options (noisy-OR when both agree);
   a remembered rejection removes an option, a remembered "no counterpart" suppresses them all.
2. assign: one-to-one, greedily by score (each canonical field at most once per object). A column
   that lost its best field to a stronger column only takes another field that is good on its own:
   losing `city` to `BillingCity` must not push `ShippingCity` into `state`. Where an exact memory
   (this vendor's convention, this tenant's decision) knows columns for a field, the one it prefers
   takes it whatever the scores: a name-similarity guess (`domain` for website) never beats a known
   column (`website`), and of two known columns the vendor's own field beats its alternative
   (`LastModifiedDate` beats `SystemModstamp`).
3. calibrate: the confidence drops when the column had a close second option, when another column
   was a close contender for the same field, and when the entity itself is uncertain. A contender
   memory settled (an alternative it ranks lower, or a column it does not know for the field) is no
   doubt and costs nothing; two columns the engine only guesses at remain a question for a human.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .matcher import Candidate
from .memory import MemoryEvidence

NULL_SUPPRESSION = 0.8
FALLBACK_MIN = 0.7
MARGIN = 0.2
# How much of a close contender's encroachment on the margin comes off the confidence. At 1.0 a
# perfect tie lands MARGIN below the score (0.99 → 0.79): two equally good readings are a question
# for a human, never an automatic decision.
TIE_PENALTY = 1.0
SWAP_GAIN = 0.3


# An exact memory weaker than this (its type disagrees) is evidence, not knowledge: it settles nothing.
KNOWN_MIN = 0.7


@dataclass
class Option:
    field: str
    score: float
    method: str  # heuristic | memory
    explanation: str
    # Set when an exact memory of this very column names the field: its strength, where it comes
    # from, and its preference (0 = this tenant's decision, 1 = the vendor's convention; then the
    # seed's order among columns of one object for the field). None: a guess.
    known: float = 0.0
    known_from: str = ""
    preference: tuple[int, int] | None = None
    # The columns (compact names) the exact memory says are filled on the records this one leaves
    # empty, for this field: beside one of them, this column feeds the field too (docs/adr/0031).
    coalesce_with: tuple[str, ...] = ()


@dataclass
class ColumnState:
    name: str
    options: list[Option] = field(default_factory=list)
    null_reason: str = ""
    memory_none: float = 0.0
    name_hints: dict[str, float] = field(default_factory=dict)  # field → name evidence before type/values
    assigned: Option | None = None
    confidence: float = 0.0
    lost_to: dict[str, str] = field(default_factory=dict)
    settled: list[str] = field(default_factory=list)  # close rival columns memory ranked below this one


def prefers(held: Option | None, other: Option) -> bool:
    """Memory settles a contest for a field in favour of `held`: it knows that column for the field,
    and the other column either not at all (a guess) or only with a lower preference (an alternative)."""
    if held is None or held.preference is None or held.field != other.field:
        return False
    return other.preference is None or held.preference < other.preference


def alternative_of(state: ColumnState, states_by_field: dict[str, ColumnState]) -> ColumnState | None:
    """The column `state` is an equivalent alternative of: memory knows both for `state`'s best field
    and prefers the one that holds it (`SystemModstamp` is an alternative of `LastModifiedDate`)."""
    if state.assigned is not None or not state.options:
        return None
    best = state.options[0]
    owner = states_by_field.get(best.field)
    if owner is None or owner is state or best.preference is None:
        return None
    return owner if prefers(owner.assigned, best) else None


def coalesces_with(state: ColumnState, holder: ColumnState) -> bool:
    """`state` is an alternative of `holder` (alternative_of) filled on the records `holder` leaves
    empty: the exact memory of `state` names `holder`'s column among the ones it complements for the
    field. Only such an alternative maps onto a field another column holds; any other pair of columns
    stays one column per field (a tenant's own decision for `holder` does not change that)."""
    best = state.options[0] if state.options else None
    held = holder.assigned
    if best is None or held is None or best.field != held.field or not best.coalesce_with:
        return False
    from .normalize import get_lexicon

    return get_lexicon().parse(holder.name).compact in best.coalesce_with


def fuse(
    candidates: Sequence[Candidate], memory: MemoryEvidence | None, gate: Callable[[str], float] | None = None
) -> tuple[list[Option], str, float]:
    """Options for one column (best first), a note and the strength with which memory says the column
    has no counterpart.

    `gate(field)` is how well this column's type and values fit a field: a memory of a merely similar
    name (or of another vendor) counts only as far as the values agree; a memory of this very field
    only needs a type that can hold it.
    """
    options: dict[str, Option] = {}
    for c in candidates:
        if c.field not in options or c.score > options[c.field].score:
            options[c.field] = Option(field=c.field, score=c.score, method="heuristic", explanation=c.explain())
    note, null_strength = "", 0.0
    if memory is not None:
        best_mem = 0.0
        for name, hit in memory.by_field.items():
            fit = gate(name) if gate is not None else 1.0
            m = hit.score * (1.0 if hit.exact and fit > 0.0 else min(1.0, fit))
            if m <= 0.0:
                continue
            best_mem = max(best_mem, m)
            entry = hit.entry
            where = "this tenant's decision" if entry.origin == "tenant" else f"{entry.source_kind} convention"
            mem_text = f"memory: {entry.field_name} → {name} ({where}, {m:.2f})"
            known = hit.exact and fit > 0.0 and m >= KNOWN_MIN
            recall = {
                "known": m if known else 0.0,
                "known_from": where if known else "",
                "preference": (0 if entry.origin == "tenant" else 1, entry.rank) if known else None,
                "coalesce_with": entry.coalesce_with if known else (),
            }
            h = options.get(name)
            if h is None:
                options[name] = Option(field=name, score=m, method="memory", explanation=mem_text, **recall)
            else:
                fused = 1.0 - (1.0 - h.score) * (1.0 - m)
                method = "memory" if m >= h.score else "heuristic"
                options[name] = Option(
                    field=name, score=fused, method=method, explanation=f"{mem_text}; {h.explanation}", **recall
                )
        for name in memory.rejected:
            options.pop(name, None)
        if memory.null_vote and memory.null_vote.score > best_mem + 0.02:
            null_strength, entry = memory.null_vote.score, memory.null_vote.entry
            origin = "this tenant's decision" if entry.origin == "tenant" else f"{entry.source_kind} convention"
            note = f"memory: {entry.field_name} has no canonical counterpart ({origin}, {null_strength:.2f})"
            for opt in options.values():
                opt.score *= 1.0 - NULL_SUPPRESSION * null_strength
    ranked = sorted(options.values(), key=lambda o: o.score, reverse=True)
    return [o for o in ranked if o.score > 0.0], note, null_strength


def assign(columns: list[ColumnState], *, min_score: float = 0.25) -> None:
    """Greedy one-to-one assignment by score; fills `assigned` and `lost_to` on each column."""
    pairs = [(opt.score, i, opt) for i, col in enumerate(columns) for opt in col.options if opt.score >= min_score]
    pairs.sort(key=lambda p: (-p[0], p[1]))
    claims = _claims(columns)
    taken: dict[str, int] = {}
    lost_best: dict[int, float] = {}
    for score, i, opt in pairs:
        col = columns[i]
        if col.assigned is not None:
            continue
        owner = claims.get(opt.field)
        if owner is not None and owner != i and opt.field not in taken and columns[owner].assigned is None:
            # memory names another column for this field: it takes it now, however well this one scores
            # (scores saturate at 1.0, and a tie would otherwise go to whichever column comes first)
            columns[owner].assigned, taken[opt.field] = columns[owner].options[0], owner
        if opt.field in taken:
            col.lost_to[opt.field] = columns[taken[opt.field]].name
            lost_best[i] = max(lost_best.get(i, 0.0), score)
            continue
        if i in lost_best and score < FALLBACK_MIN:
            continue
        col.assigned = opt
        taken[opt.field] = i
    _swap(columns, taken, claims)


def _claims(columns: list[ColumnState]) -> dict[str, int]:
    """Field → the column memory prefers for it, among the columns whose best option is that field and
    known by an exact memory: this tenant's decision before the vendor's convention, the vendor's field
    before its alternatives, then the higher score. A field no memory knows a column for is not claimed."""
    best: dict[str, tuple[tuple[int, int], float, int]] = {}
    for i, col in enumerate(columns):
        top = col.options[0] if col.options else None
        if top is None or top.preference is None or top.score < FALLBACK_MIN:
            continue
        key = (top.preference, -top.score, i)
        if top.field not in best or key < best[top.field]:
            best[top.field] = key
    return {name: key[2] for name, key in best.items()}


def _swap(columns: list[ColumnState], taken: dict[str, int], claims: dict[str, int]) -> None:
    """Undo greedy choices that cost another column its only good field: `account_id` took
    `sub_account_id` (0.99) although `billing_account_id` fits it nearly as well (0.97), leaving
    `workspace_id` (0.93) with nothing. The winner moves to its free alternative when that is good on
    its own and the pair gains clearly; one pass, so no chain of displacements."""
    for i, col in enumerate(columns):
        if not col.lost_to:
            continue
        current = col.assigned.score if col.assigned else 0.0
        for want in col.options:
            j = taken.get(want.field)
            if j is None or j == i or want.score < FALLBACK_MIN or claims.get(want.field) == j:
                continue
            other = columns[j]
            held = other.assigned
            alternative = next(
                (
                    o
                    for o in other.options
                    if o.field != want.field and o.field not in taken and o.score >= FALLBACK_MIN
                ),
                None,
            )
            if held is None or alternative is None:
                continue
            gain = (want.score + alternative.score) - (held.score + current)
            if gain < SWAP_GAIN:
                continue
            if col.assigned is not None:
                taken.pop(col.assigned.field, None)
            other.assigned, taken[alternative.field] = alternative, j
            other.lost_to[want.field] = col.name
            col.assigned, taken[want.field] = want, i
            col.lost_to.pop(want.field, None)
            break


def calibrate(columns: list[ColumnState], *, entity_confidence: float) -> None:
    contenders: dict[str, list[tuple[float, int]]] = {}
    for i, col in enumerate(columns):
        if col.options:
            top = col.options[0]
            contenders.setdefault(top.field, []).append((top.score, i))
    for i, col in enumerate(columns):
        opt = col.assigned
        if opt is None:
            col.confidence = col.options[0].score if col.options else 0.0
            continue
        conf = opt.score
        second = max((o.score for o in col.options if o.field != opt.field), default=0.0)
        top = conf
        if second > top - MARGIN:
            conf -= TIE_PENALTY * (second - (top - MARGIN))
        rival = 0.0
        col.settled = []
        for s, j in contenders.get(opt.field, ()):
            if j == i or s <= top - MARGIN:
                continue
            if prefers(opt, columns[j].options[0]):
                col.settled.append(columns[j].name)  # memory already decided between the two: no doubt
            else:
                rival = max(rival, s)
        if rival > top - MARGIN:
            conf -= TIE_PENALTY * (rival - (top - MARGIN))
        if entity_confidence < 0.75:
            conf *= entity_confidence / 0.75
        col.confidence = round(max(0.0, min(conf, 0.99)), 4)
