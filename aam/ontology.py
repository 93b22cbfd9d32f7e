"""The canonical ontology: entities, their fields and the canonical value sets, shipped as data in
`aam/ontology.json`.

A field with a standard meaning (an opportunity's forecast category, an account's industry or
country, a cost's FOCUS service category) has a `ValueSet`: the one definition of its canonical
values, which the value-mapping engine (aam/values/), the views, the API schema, the docs and the
review pages read. An entity's `derived` fields are not mapped from a source column; the pipeline
computes them (an opportunity's status and stage_category from its stage). A mapped field may name
a `fallback` field: a source that maps no column onto it has its values read from the fallback's
column instead (a cost line's FOCUS service_category from its service_name, AmazonEC2 → Compute).

`get_ontology()` loads and validates the file once per process. Tenants may extend an entity with
custom fields later: `Ontology.with_custom_fields(...)` returns a new ontology with them merged in
(the base file is never modified and a custom field cannot redefine a canonical one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

ONTOLOGY_PATH = Path(__file__).resolve().parent / "ontology.json"
FIELD_TYPES = ("string", "integer", "decimal", "number", "boolean", "date", "datetime", "json")
VALUE_SET_KINDS = ("enum", "number", "iso4217", "iso3166-1", "iso3166-2", "region")
# What a value of each kind is (the API schema and docs/canonical-values.md say it in these words).
VALUE_SET_KIND_NOTES = {
    "enum": "one of the listed values",
    "number": "a number between the two listed bounds",
    "iso4217": "an ISO 4217 alphabetic currency code (USD, EUR)",
    "iso3166-1": "an ISO 3166-1 alpha-2 country code (US, DE)",
    "iso3166-2": "an ISO 3166-2 subdivision code (US-CA, DE-BY)",
    "region": "the provider's own region code (us-east-1, westeurope)",
}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class OntologyError(ValueError):
    """The ontology file or a custom field definition is invalid."""


@dataclass(frozen=True)
class ValueSet:
    """The canonical values of one field. `kind` enum: `values` lists them; number: `values` are the
    bounds (probability is a fraction in [0, 1]); iso4217, iso3166-1 (alpha-2), iso3166-2
    (subdivision such as US-CA) and region (the provider's own region code) are standard code lists
    whose values are not listed here."""

    key: str
    kind: str
    values: tuple = ()
    description: str = ""

    @property
    def is_enum(self) -> bool:
        return self.kind == "enum"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "values": list(self.values), "description": self.description}


@dataclass(frozen=True)
class CanonicalField:
    entity: str
    name: str
    type: str
    description: str = ""
    values: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    custom: bool = False
    value_set: ValueSet | None = None
    derived_from: str | None = None
    # a mapped field with a value set whose values, for a source that maps no column onto it, are read
    # from another field's column (a cost line's service_category from its service_name: AmazonEC2 → Compute)
    fallback: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.entity}.{self.name}"

    @property
    def is_reference(self) -> bool:
        """An identifier of a record (its own key or a link to another record)."""
        return self.name == "id" or self.name.endswith("_id")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "values": list(self.values),
            "synonyms": list(self.synonyms),
            "related": list(self.related),
            "custom": self.custom,
            **({"value_set": self.value_set.as_dict()} if self.value_set else {}),
            **({"derived_from": self.derived_from} if self.derived_from else {}),
            **({"fallback": self.fallback} if self.fallback else {}),
        }


@dataclass(frozen=True)
class CanonicalEntity:
    name: str
    label: str
    description: str
    aliases: tuple[str, ...]
    fields: Mapping[str, CanonicalField] = field(default_factory=dict)
    derived: Mapping[str, CanonicalField] = field(default_factory=dict)

    def field_names(self) -> list[str]:
        """The fields a source column maps onto (derived fields are not among them)."""
        return list(self.fields)

    def view_field_names(self) -> list[str]:
        """Every field a unified view holds: the mapped fields, then the derived ones."""
        return [*self.fields, *self.derived]

    def value_fields(self) -> list[CanonicalField]:
        """The fields with a canonical value set, mapped and derived."""
        return [f for f in (*self.fields.values(), *self.derived.values()) if f.value_set is not None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "aliases": list(self.aliases),
            "fields": [f.as_dict() for f in self.fields.values()],
            "derived": [f.as_dict() for f in self.derived.values()],
        }


@dataclass(frozen=True)
class Ontology:
    version: int
    entities: Mapping[str, CanonicalEntity]
    value_sets: Mapping[str, ValueSet] = field(default_factory=dict)

    def entity(self, name: str) -> CanonicalEntity:
        try:
            return self.entities[name]
        except KeyError:
            raise OntologyError(f"unknown entity {name!r}") from None

    def field(self, entity: str, name: str) -> CanonicalField:
        ent = self.entity(entity)
        try:
            return ent.fields[name]
        except KeyError:
            raise OntologyError(f"{entity!r} has no field {name!r}") from None

    def value_set(self, entity: str, name: str) -> ValueSet | None:
        """The canonical value set of `entity.name`, or None (no standard meaning)."""
        return self.value_sets.get(f"{entity}.{name}")

    def defines_field(self, entity: str, name: str) -> bool:
        return entity in self.entities and name in self.entities[entity].fields

    def entity_names(self) -> list[str]:
        return list(self.entities)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "entities": {n: e.as_dict() for n, e in self.entities.items()},
            "value_sets": {k: v.as_dict() for k, v in self.value_sets.items()},
        }

    def with_custom_fields(self, custom: Iterable[Mapping[str, Any]]) -> Ontology:
        """A new ontology with tenant custom fields merged in.

        Each item: `{"entity", "name", "type", "description"?, "synonyms"?, "related"?, "values"?}`.
        A custom field may not shadow a canonical field: a tenant cannot change what `amount` means.
        """
        entities = {n: dict(e.fields) for n, e in self.entities.items()}
        for item in custom:
            entity = str(item.get("entity", ""))
            if entity not in entities:
                raise OntologyError(f"custom field for unknown entity {entity!r}")
            parsed = _parse_field(entity, str(item.get("name", "")), item, custom=True)
            if parsed.name in entities[entity]:
                raise OntologyError(f"{entity}.{parsed.name} already exists; a custom field cannot redefine it")
            entities[entity][parsed.name] = parsed
        return Ontology(
            version=self.version,
            entities={
                n: CanonicalEntity(
                    name=e.name, label=e.label, description=e.description, aliases=e.aliases, fields=entities[n],
                    derived=e.derived,
                )
                for n, e in self.entities.items()
            },
            value_sets=self.value_sets,
        )


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise OntologyError(f"{where} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _parse_value_set(key: str, spec: Any) -> ValueSet:
    if not isinstance(spec, Mapping) or spec.get("kind") not in VALUE_SET_KINDS:
        raise OntologyError(f"value set {key!r}: kind must be one of {', '.join(VALUE_SET_KINDS)}")
    values = spec.get("values", [])
    if not isinstance(values, list):
        raise OntologyError(f"value set {key!r}: values must be a list")
    if spec["kind"] == "enum" and (not values or not all(isinstance(v, str) and v for v in values)):
        raise OntologyError(f"value set {key!r}: an enum lists its values as non-empty strings")
    if spec["kind"] == "enum" and len(set(values)) != len(values):
        raise OntologyError(f"value set {key!r}: repeated values")
    if spec["kind"] == "number" and (
        len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    ):
        raise OntologyError(f"value set {key!r}: a number value set lists its two bounds")
    return ValueSet(key=key, kind=spec["kind"], values=tuple(values), description=str(spec.get("description", "")))


def _parse_field(
    entity: str, name: str, spec: Mapping[str, Any], *, custom: bool = False, value_set: ValueSet | None = None,
    derived: bool = False,
) -> CanonicalField:
    if not _NAME_RE.match(name):
        raise OntologyError(f"invalid field name {name!r} in {entity!r} (snake_case, at most 63 characters)")
    if not isinstance(spec, Mapping):
        raise OntologyError(f"{entity}.{name} must be an object")
    ftype = spec.get("type")
    if ftype not in FIELD_TYPES:
        raise OntologyError(f"{entity}.{name}: type {ftype!r} is not one of {', '.join(FIELD_TYPES)}")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise OntologyError(f"{entity}.{name}: description must be a string")
    where = f"{entity}.{name}"
    return CanonicalField(
        entity=entity,
        name=name,
        type=ftype,
        description=description,
        values=_strings(spec.get("values"), f"{where}.values"),
        synonyms=_strings(spec.get("synonyms"), f"{where}.synonyms"),
        related=_strings(spec.get("related"), f"{where}.related"),
        custom=custom,
        value_set=value_set,
        derived_from=str(spec["derived_from"]) if derived and spec.get("derived_from") else None,
        fallback=str(spec["fallback"]) if not derived and spec.get("fallback") else None,
    )


def parse_ontology(data: Mapping[str, Any]) -> Ontology:
    """Validate the ontology document and build the immutable `Ontology`."""
    if not isinstance(data, Mapping) or not isinstance(data.get("entities"), Mapping) or not data["entities"]:
        raise OntologyError("the ontology needs a non-empty 'entities' object")
    raw_sets = data.get("value_sets") or {}
    if not isinstance(raw_sets, Mapping):
        raise OntologyError("'value_sets' must be an object keyed entity.field")
    value_sets = {str(k): _parse_value_set(str(k), v) for k, v in raw_sets.items()}
    entities: dict[str, CanonicalEntity] = {}
    for ename, espec in data["entities"].items():
        if not _NAME_RE.match(ename) or not isinstance(espec, Mapping):
            raise OntologyError(f"invalid entity {ename!r}")
        fspecs = espec.get("fields")
        if not isinstance(fspecs, Mapping) or not fspecs:
            raise OntologyError(f"entity {ename!r} has no fields")
        fields = {
            fname: _parse_field(ename, fname, fspec, value_set=value_sets.get(f"{ename}.{fname}"))
            for fname, fspec in fspecs.items()
        }
        for fname, f in fields.items():
            if f.fallback is not None and (f.fallback not in fields or f.fallback == fname or f.value_set is None):
                raise OntologyError(
                    f"{ename}.{fname}: a fallback names another field of {ename!r} and needs a value set"
                )
        dspecs = espec.get("derived") or {}
        if not isinstance(dspecs, Mapping):
            raise OntologyError(f"entity {ename!r}: 'derived' must be an object")
        derived = {
            dname: _parse_field(ename, dname, dspec, value_set=value_sets.get(f"{ename}.{dname}"), derived=True)
            for dname, dspec in dspecs.items()
        }
        for dname, dfield in derived.items():
            if dname in fields:
                raise OntologyError(f"{ename}.{dname} is both a field and a derived field")
            if dfield.derived_from not in fields:
                raise OntologyError(f"{ename}.{dname}: derived_from must name a field of {ename!r}")
        entities[ename] = CanonicalEntity(
            name=ename,
            label=str(espec.get("label") or ename.replace("_", " ").title()),
            description=str(espec.get("description", "")),
            aliases=_strings(espec.get("aliases"), f"{ename}.aliases") or (ename,),
            fields=fields,
            derived=derived,
        )
    version = data.get("version", 1)
    if not isinstance(version, int):
        raise OntologyError("version must be an integer")
    for key in value_sets:
        ename, _, fname = key.partition(".")
        ent = entities.get(ename)
        if ent is None or (fname not in ent.fields and fname not in ent.derived):
            raise OntologyError(f"value set {key!r} names no field of the ontology")
    return Ontology(version=version, entities=entities, value_sets=value_sets)


def load_ontology(path: Path | str = ONTOLOGY_PATH) -> Ontology:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise OntologyError(f"cannot read the ontology at {path}: {exc}") from exc
    return parse_ontology(data)


@lru_cache(maxsize=1)
def get_ontology() -> Ontology:
    """The canonical ontology, loaded once per process."""
    return load_ontology()
