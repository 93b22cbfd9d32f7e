"""The canonical ontology: entities and their fields, shipped as data in `aam/ontology.json`.

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
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class OntologyError(ValueError):
    """The ontology file or a custom field definition is invalid."""


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
        }


@dataclass(frozen=True)
class CanonicalEntity:
    name: str
    label: str
    description: str
    aliases: tuple[str, ...]
    fields: Mapping[str, CanonicalField] = field(default_factory=dict)

    def field_names(self) -> list[str]:
        return list(self.fields)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "aliases": list(self.aliases),
            "fields": [f.as_dict() for f in self.fields.values()],
        }


@dataclass(frozen=True)
class Ontology:
    version: int
    entities: Mapping[str, CanonicalEntity]

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

    def defines_field(self, entity: str, name: str) -> bool:
        return entity in self.entities and name in self.entities[entity].fields

    def entity_names(self) -> list[str]:
        return list(self.entities)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "entities": {n: e.as_dict() for n, e in self.entities.items()}}

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
                    name=e.name, label=e.label, description=e.description, aliases=e.aliases, fields=entities[n]
                )
                for n, e in self.entities.items()
            },
        )


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise OntologyError(f"{where} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _parse_field(entity: str, name: str, spec: Mapping[str, Any], *, custom: bool = False) -> CanonicalField:
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
    )


def parse_ontology(data: Mapping[str, Any]) -> Ontology:
    """Validate the ontology document and build the immutable `Ontology`."""
    if not isinstance(data, Mapping) or not isinstance(data.get("entities"), Mapping) or not data["entities"]:
        raise OntologyError("the ontology needs a non-empty 'entities' object")
    entities: dict[str, CanonicalEntity] = {}
    for ename, espec in data["entities"].items():
        if not _NAME_RE.match(ename) or not isinstance(espec, Mapping):
            raise OntologyError(f"invalid entity {ename!r}")
        fspecs = espec.get("fields")
        if not isinstance(fspecs, Mapping) or not fspecs:
            raise OntologyError(f"entity {ename!r} has no fields")
        fields = {fname: _parse_field(ename, fname, fspec) for fname, fspec in fspecs.items()}
        entities[ename] = CanonicalEntity(
            name=ename,
            label=str(espec.get("label") or ename.replace("_", " ").title()),
            description=str(espec.get("description", "")),
            aliases=_strings(espec.get("aliases"), f"{ename}.aliases") or (ename,),
            fields=fields,
        )
    version = data.get("version", 1)
    if not isinstance(version, int):
        raise OntologyError("version must be an integer")
    return Ontology(version=version, entities=entities)


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
