"""The canonical ontology as the pipeline needs it: entity → ordered {field: type name}.

The ontology itself is data shipped by the mapping engine (`aam.ontology.get_ontology()`); this
adapter only reads it, whatever container it uses (a dict of lists of field objects or dicts, or an
object with `.entities`).
"""

from __future__ import annotations

from typing import Any


def _fields_of(spec: Any) -> dict[str, str]:
    if hasattr(spec, "fields"):
        spec = spec.fields
    if isinstance(spec, dict) and "fields" in spec and isinstance(spec["fields"], list | dict):
        spec = spec["fields"]
    out: dict[str, str] = {}
    if isinstance(spec, dict):
        for name, f in spec.items():
            out[str(name)] = str(_get(f, "type") if not isinstance(f, str) else f)
    else:
        for f in spec:
            out[str(_get(f, "name"))] = str(_get(f, "type") or "string")
    return out


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def ontology_entities() -> dict[str, dict[str, str]]:
    """Every canonical entity with its fields (name → type name), in the ontology's order."""
    from aam.ontology import get_ontology

    onto = get_ontology()
    entities = getattr(onto, "entities", onto)
    if isinstance(entities, dict) and "entities" in entities:
        entities = entities["entities"]
    if isinstance(entities, dict):
        return {str(name): _fields_of(spec) for name, spec in entities.items()}
    return {str(_get(e, "name")): _fields_of(e) for e in entities}


def entity_fields(entity: str) -> dict[str, str]:
    entities = ontology_entities()
    if entity not in entities:
        raise KeyError(f"unknown canonical entity {entity!r}")
    return entities[entity]
