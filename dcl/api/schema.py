"""The OpenAPI description of the unified views' rows, built from the ontology when the schema is built.

`GET /api/dcl/views/{entity}/` answers with the rows of one view. Each entity gets a component
`<Entity>ViewRow` listing its canonical fields (mapped, then derived) with the JSON type the API
renders them as (decimals as exact strings, dates and timestamps as ISO strings) and, for a field
whose canonical value set is an enum, that enum: the ontology (aam/ontology.json "value_sets") is the
one place the values are defined, so nothing here lists them. A value-mapped field `F` has the
vendor's own value beside it as `F_source`. Every field is nullable (a value a source lacks, or one
awaiting review) and optional (a view holds only the fields its sources map); other columns (lineage,
tenant custom fields) may follow, so the row schemas are open.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from inflection import camelize

from aam.ingest.kinds import Kind, kind_for
from aam.ontology import VALUE_SET_KIND_NOTES, CanonicalEntity, CanonicalField, Ontology, ValueSet, get_ontology
from autonomos.core.pagination import Pagination

# The JSON each kind is rendered as (dcl/api/views.py `_render`, dcl/selectors.py `rows_json_sql`).
_JSON_TYPES: dict[Kind, dict[str, Any]] = {
    Kind.STRING: {"type": "string"},
    Kind.DECIMAL: {"type": "string", "format": "decimal"},
    Kind.INTEGER: {"type": "integer", "format": "int64"},
    Kind.BOOLEAN: {"type": "boolean"},
    Kind.DATE: {"type": "string", "format": "date"},
    Kind.DATETIME: {"type": "string", "format": "date-time"},
    Kind.JSON: {},  # any JSON value
}


def row_component_name(entity: str) -> str:
    return f"{camelize(entity)}ViewRow"


def _value_set_note(vs: ValueSet) -> str:
    if vs.is_enum:
        return "One of the canonical values."
    if vs.kind == "number":
        low, high = vs.values
        return f"A number in [{low}, {high}]."
    return f"Canonical: {VALUE_SET_KIND_NOTES[vs.kind]}."


def field_schema(f: CanonicalField) -> dict[str, Any]:
    """The OpenAPI schema of canonical field `f` in a view row."""
    schema: dict[str, Any] = {**_JSON_TYPES[kind_for(f.type)], "nullable": True}
    parts = [f.description.strip()] if f.description.strip() else []
    if f.derived_from:
        parts.append(f"Derived from `{f.derived_from}` (not mapped from a source column).")
    if f.fallback:
        parts.append(f"Read from `{f.fallback}`'s values where a source maps no column onto it.")
    vs = f.value_set
    if vs is not None:
        parts.append(_value_set_note(vs))
        if vs.description:
            parts.append(vs.description)
        if vs.is_enum:
            # JSON null is listed too: OpenAPI 3.0 needs it in the enum of a nullable field (a value
            # awaiting review is null, never a guess).
            schema = {"type": "string", "enum": [*vs.values, None], "nullable": True}
        schema["x-value-set"] = {"key": vs.key, "kind": vs.kind}
    if parts:
        schema["description"] = " ".join(parts)
    return schema


def row_schema(entity: CanonicalEntity) -> dict[str, Any]:
    """The OpenAPI schema of one row of `view_<entity>`."""
    properties: dict[str, Any] = {"unified_id": {"type": "string", "description": "The unified record's id."}}
    for f in (*entity.fields.values(), *entity.derived.values()):
        properties[f.name] = field_schema(f)
        if f.value_set is not None:
            properties[f"{f.name}_source"] = {
                "type": "string",
                "nullable": True,
                "description": f"The source's own value of `{f.name}` (a vendor's code decoded into its label).",
            }
    properties["source_count"] = {"type": "integer", "description": "How many source records were unified."}
    properties["sources"] = {
        "type": "array",
        "items": {"type": "object", "additionalProperties": {}},
        "description": "Lineage: connection_id, connection_kind, source_object and source_id of each source record.",
    }
    return {
        "type": "object",
        "description": f"A row of the unified {entity.label.lower()} view: {entity.description}".strip(),
        "required": ["unified_id"],
        "properties": properties,
        "additionalProperties": {},
    }


def row_schemas(ontology: Ontology) -> dict[str, dict[str, Any]]:
    """Component name → row schema, one per entity of the ontology."""
    return {row_component_name(name): row_schema(entity) for name, entity in ontology.entities.items()}


class ViewRowsSchema(AutoSchema):
    """The rows operation documented from the ontology: the path's `entity` is one of the ontology's
    entities and a page's `results` are rows of that entity's view (`<Entity>ViewRow`)."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        ontology = get_ontology()
        refs = []
        for name, schema in row_schemas(ontology).items():
            component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
            self.registry.register_on_missing(component)
            refs.append(component.ref)
        for param in operation.get("parameters", []):
            if param.get("in") == "path" and param.get("name") == "entity":
                param["schema"] = {"type": "string", "enum": ontology.entity_names()}
                param["description"] = "The canonical entity whose unified view is read."
        page = Pagination().get_paginated_response_schema({"type": "array", "items": {"anyOf": refs}})
        page["properties"]["results"]["description"] = "Rows of the view named in the path (`<Entity>ViewRow`)."
        operation["responses"]["200"] = {
            "description": "One page of the view's rows; with `format=csv`, every matching row as CSV.",
            "content": {"application/json": {"schema": page},
                        "text/csv": {"schema": {"type": "string", "description": "A header row, then one line per "
                                                "row (UTF-8; text a spreadsheet would read as a formula starts "
                                                "with `'`)."}}},
        }
        return operation
