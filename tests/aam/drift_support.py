"""Helpers of the drift tests: source objects with keyed samples, as a connector discovers them."""

from __future__ import annotations

from connectors.base import SourceField, SourceObject

KEYS = ("0066g00000AbCdEAA1", "0066g00000AbCdFAA1", "0066g00000AbCdGAA1", "0066g00000AbCdHAA1")
OPPORTUNITY = {
    "Id": ("string", list(KEYS)),
    "Name": ("string", ["Acme renewal", "Globex expansion", "Initech pilot", "Hooli upsell"]),
    "StageName": ("string", ["Prospecting", "Closed Won", "Negotiation/Review", "Qualification"]),
    "Amount": ("number", [12000.0, 55000.5, 7300.0, 99000.0]),
    "CloseDate": ("date", ["2026-03-31", "2026-05-15", "2026-01-10", "2026-07-01"]),
    "Probability": ("integer", [10, 100, 80, 20]),
}


def source_object(
    fields: dict[str, tuple[str, list]] | None = None, *, name: str = "Opportunity", keys=KEYS, pk: str = "Id"
) -> SourceObject:
    """A SourceObject like a driver's discover(): samples plus samples keyed by the record id."""
    fields = OPPORTUNITY if fields is None else fields
    out = []
    for field_name, (ftype, values) in fields.items():
        keyed = {k: v for k, v in zip(keys, values, strict=False) if v not in (None, "")}
        out.append(SourceField(name=field_name, type=ftype, samples=list(dict.fromkeys(values)), keyed_samples=keyed))
    return SourceObject(name=name, fields=out, primary_key=pk)


OTHER_KEYS = ("0066g00000ZzZzZAA1", "0066g00000YyYyYAA1", "0066g00000XxXxXAA1", "0066g00000WwWwWAA1")


def changed(
    *,
    rename: dict | None = None,
    drop: tuple = (),
    retype: dict | None = None,
    add: dict | None = None,
    keys: tuple = KEYS,
):
    """OPPORTUNITY with renames (old → new), drops, retypes (name → (type, values)) and additions;
    `keys=OTHER_KEYS`: the samples come from other records (a later export)."""
    out: dict[str, tuple[str, list]] = {}
    for name, spec in OPPORTUNITY.items():
        if name in drop:
            continue
        spec = (retype or {}).get(name, spec)
        out[(rename or {}).get(name, name)] = spec
    out.update(add or {})
    return source_object(out, keys=keys)
