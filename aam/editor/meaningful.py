"""Unmapped columns looked at again: does a column the engine left unmapped name another entity's field?

The engine maps a column onto the fields of its object's own entity. A "Company" column of a deals
export fits no field of `opportunity` (its best guess, `account_id`, stays under the review floor: the
values are names, not ids), so it was left unmapped and listed nowhere (issue 18, item 4). Read
against the *related* entities (those the object's entity links to through an `<entity>_id` field),
it is `account.name` by name; an email column of deals would be `contact.email` by its values.

`column_hints` says what each unmapped column looks like: `{}` (nothing), or `{"entity", "field",
"score", "proposal", "why"}`, where `proposal` is the object's own reference field to that entity
(`account_id`) when the column identifies a record of it (its id, name or email) and nothing feeds
that reference yet. `hint_needs_review` decides which hints become review items (aam/editor/review.py):
a proposal always (a human decides whether the deals' Company is their account), an attribute of a
related record (`Industry` on deals is `account.industry`) only when the engine was unsure the column
has no counterpart. Columns a person decided are never looked at again. Nothing here is applied: a
proposal is a pending mapping row with a review item.
"""

from __future__ import annotations

from collections.abc import Iterable

from aam.mapping.engine import field_index, thresholds
from aam.mapping.matcher import entity_candidates, value_only_candidates
from aam.mapping.types import Column
from aam.mapping.values import profile_values
from aam.ontology import Ontology, get_ontology

# Fields whose value identifies a record of their entity: a column carrying one names that record.
IDENTIFYING = ("id", "name", "email")


def related_entities(ontology: Ontology, entity: str) -> list[str]:
    """The entities `entity` links to (`opportunity.account_id` → account): a deal's "Industry" is its
    account's. The other way round (an account's `statuscode` read as a deal's stage) says nothing."""
    return [o for o in ontology.entity_names() if o != entity and ontology.defines_field(entity, f"{o}_id")]


def _best_elsewhere(index, ontology: Ontology, entity: str, column: Column):
    parts = index.lexicon.parse(column.name)
    profile = profile_values(column.type, list(column.samples))
    best = None
    for other in related_entities(ontology, entity):
        candidates = entity_candidates(index, other, parts, profile) + value_only_candidates(
            index, other, parts, profile
        )
        for candidate in candidates:
            if candidate.field == f"{entity}_id":  # another record's link back to this one's own kind
                continue
            # A field the object's own entity has too (description, created_at) says nothing about
            # another record, unless the column identifies a record this one links to (a name).
            shared = ontology.defines_field(entity, candidate.field)
            if shared and candidate.field not in IDENTIFYING:
                continue
            if best is None or candidate.score > best[1].score:
                best = (other, candidate)
    return best


def column_hints(
    *, entity: str, columns: Iterable[Column], taken: Iterable[str] = (), ontology: Ontology | None = None
) -> dict[str, dict]:
    """What each of `columns` (unmapped columns of an object of `entity`) looks like; `taken`: the
    canonical fields of `entity` that the object's mapping feeds or proposes already."""
    ontology = ontology or get_ontology()
    if entity not in ontology.entities:
        return {c.name: {} for c in columns}
    index = field_index(ontology)
    _, floor = thresholds()
    taken = set(taken)
    hints: dict[str, dict] = {}
    for column in columns:
        found = _best_elsewhere(index, ontology, entity, column)
        if found is None or found[1].score < floor:
            hints[column.name] = {}
            continue
        other, candidate = found
        reference = f"{other}_id"
        proposal = None
        if candidate.field in IDENTIFYING and ontology.defines_field(entity, reference) and reference not in taken:
            proposal = reference
        why = f"looks like {other}.{candidate.field} ({candidate.explain()})"
        if proposal:
            why += f"; {entity} records link to {other} through {proposal}, which no column feeds"
            if candidate.field != "id":
                why += f" (its values are {other} {candidate.field}s, not ids)"
        elif candidate.field in IDENTIFYING and ontology.defines_field(entity, reference):
            why += f"; {reference} is fed by another column already"
        else:
            why += f"; no field of {entity} holds it"
        hints[column.name] = {
            "entity": other,
            "field": candidate.field,
            "score": round(float(candidate.score), 3),
            "proposal": proposal,
            "why": why[:1000],
        }
        if proposal:
            taken.add(proposal)  # one column per reference field
    return hints


def hint_needs_review(hint: dict | None, *, engine_confidence: float) -> bool:
    """A hint worth a human's look: a reference it proposes, or a related record's attribute where
    the engine was not sure the column has no counterpart (its certainty is the row's confidence)."""
    if not hint:
        return False
    auto, _ = thresholds()
    return bool(hint.get("proposal")) or engine_confidence < auto
