"""Is a value canonical for a field? One check for the review (a person's choice), the views' test
and the demo check. The ontology's value sets are the one definition (aam/ontology.json)."""

from __future__ import annotations

import math
import re

from aam.ontology import ValueSet, get_ontology

_REGION_RE = re.compile(r"^[a-z][a-z0-9-]{1,40}[a-z0-9]$")


class NotCanonical(ValueError):
    """The value is not one of the field's canonical values."""


def value_set_of(entity: str, field: str) -> ValueSet:
    vs = get_ontology().value_set(entity, field)
    if vs is None:
        raise NotCanonical(f"{entity}.{field} has no canonical value set")
    return vs


def canonical_text(entity: str, field: str, value) -> str:
    """`value` as the text a value map stores, when it is canonical for `entity.field`; raises
    NotCanonical with a message a person can act on otherwise."""
    vs = value_set_of(entity, field)
    if vs.kind == "number":
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise NotCanonical(f"{entity}.{field} takes a number between {vs.values[0]} and {vs.values[1]}") from None
        if math.isnan(number) or not vs.values[0] <= number <= vs.values[1]:
            raise NotCanonical(f"{entity}.{field} takes a number between {vs.values[0]} and {vs.values[1]}")
        return repr(round(number, 10))
    text = value if isinstance(value, str) else ""
    if vs.kind == "enum":
        if text in vs.values:
            return text
        raise NotCanonical(f"{text[:80]!r} is not a value of {entity}.{field} ({', '.join(vs.values)})")
    if vs.kind == "region":
        if _REGION_RE.match(text):
            return text
        raise NotCanonical(f"{text[:80]!r} is not a region code (lower-case letters, digits and hyphens)")
    import pycountry

    lookups = {
        "iso4217": lambda t: pycountry.currencies.get(alpha_3=t),
        "iso3166-1": lambda t: pycountry.countries.get(alpha_2=t),
        "iso3166-2": lambda t: pycountry.subdivisions.get(code=t),
    }
    found = lookups[vs.kind](text) if text and len(text) <= 10 else None
    if found is None:
        raise NotCanonical(f"{text[:80]!r} is not an {vs.kind.upper()} code")
    return text


def is_canonical(entity: str, field: str, value) -> bool:
    try:
        canonical_text(entity, field, value)
    except NotCanonical:
        return False
    return True


def choices(entity: str, field: str) -> list[str]:
    """The values a person picks from on the review page (enumerations); [] for code lists and numbers."""
    vs = get_ontology().value_set(entity, field)
    return list(vs.values) if vs is not None and vs.is_enum else []
