"""REST for the history of unified entities (docs/adr/0020-history.md).

- `GET /api/dcl/history/<entity>/<unified_id>/`: the entity's versions, newest first, paged.
- `GET /api/dcl/history/<entity>/?as_of=<date or date-time>`: the view as it was then (unified_id
  and the tracked columns of every entity not deleted at that time), ordered by unified_id, paged.

Both read the tenant's own schema, like every view endpoint (viewers may read). The row schemas
are built from the history models and the ontology when the OpenAPI schema is built.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from inflection import camelize
from rest_framework.response import Response

from aam.ontology import get_ontology
from autonomos.core.api import TenantAPIView
from autonomos.core.pagination import Pagination

from ..history import HISTORY_MODELS, tracked_columns
from ..history.selectors import as_of_parse, entity_versions, history_model, view_as_of
from .schema import field_schema
from .views import _render

_BASE_SCHEMAS: dict[str, dict[str, Any]] = {
    "unified_id": {"type": "string", "description": "The unified entity's id (as in its view)."},
    "version": {"type": "integer", "description": "1 for the first version, then one more per change."},
    "valid_from": {"type": "string", "format": "date-time",
                   "description": "When the platform learned these values (the materialization that saw them)."},
    "valid_to": {"type": "string", "format": "date-time", "nullable": True,
                 "description": "When the next version replaced them; null for the current version."},
    "deleted": {"type": "boolean", "description": "The entity's source records had all left: this version closes "
                                                  "it (with its last values)."},
    "source_updated_at": {"type": "string", "format": "date-time", "nullable": True,
                          "description": "The source's own modification time of the record, where it has one."},
}


def _tracked_schemas(entity: str) -> dict[str, dict[str, Any]]:
    canonical = get_ontology().entities[entity]
    known = {**canonical.fields, **canonical.derived}
    out = {}
    for name in tracked_columns(entity):
        if name in known:
            # The enum is left to the view's row schema: listed here too, the schema generator would
            # rename that component's enum (its name is part of the API).
            out[name] = {k: v for k, v in field_schema(known[name]).items() if k != "enum"}
        else:  # F_source: the vendor's own value beside canonical F
            out[name] = {"type": "string", "nullable": True,
                         "description": f"The source's own value of `{name.removesuffix('_source')}`."}
    return out


def version_schema(entity: str) -> dict[str, Any]:
    return {"type": "object", "description": f"One version of a unified {entity}.",
            "required": list(_BASE_SCHEMAS),
            "properties": {**_BASE_SCHEMAS, **_tracked_schemas(entity)}}


def as_of_row_schema(entity: str) -> dict[str, Any]:
    return {"type": "object", "description": f"A unified {entity} as it was at the time asked.",
            "required": ["unified_id"],
            "properties": {"unified_id": _BASE_SCHEMAS["unified_id"], **_tracked_schemas(entity)}}


class _HistorySchema(AutoSchema):
    """A page of `<Entity><row>`, one component per entity with history; the path's `entity` is one
    of them."""

    row = ""
    build = staticmethod(version_schema)

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        refs = []
        for entity in sorted(HISTORY_MODELS):
            name = f"{camelize(entity)}{self.row}"
            component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name,
                                          schema=self.build(entity))
            self.registry.register_on_missing(component)
            refs.append(component.ref)
        for param in operation.get("parameters", []):
            if param.get("in") == "path" and param.get("name") == "entity":
                param["schema"] = {"type": "string", "enum": sorted(HISTORY_MODELS)}
                param["description"] = "The canonical entity whose history is read."
        page = Pagination().get_paginated_response_schema({"type": "array", "items": {"anyOf": refs}})
        operation["responses"]["200"] = {"description": "One page.", "content": {"application/json": {"schema": page}}}
        return operation


class VersionsSchema(_HistorySchema):
    row = "HistoryVersion"
    build = staticmethod(version_schema)


class AsOfSchema(_HistorySchema):
    row = "AsOfRow"
    build = staticmethod(as_of_row_schema)


def _page(view: TenantAPIView, request, rows) -> Response:
    paginator = Pagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response([_render(row) for row in page])


class EntityHistoryAPI(TenantAPIView):
    """The versions of one unified entity, newest first: each with valid_from (when the platform
    learned it), valid_to (null: current), deleted (its source records had all left), the source's
    own modification time and the tracked columns. 404 for an entity without history or an unknown
    unified_id. `?page=` / `?page_size=` (≤ 1000)."""

    pagination_class = Pagination
    schema = VersionsSchema()

    @extend_schema(operation_id="dcl_entity_history", responses=OpenApiTypes.OBJECT,
                   parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)])
    def get(self, request, entity: str, unified_id: str):
        return _page(self, request, entity_versions(entity=entity, unified_id=unified_id))


class ViewAsOfAPI(TenantAPIView):
    """A unified view as it was at `as_of` (an ISO 8601 date-time, UTC when it has no offset, or a
    date: its start in UTC): unified_id and the tracked columns of every entity that existed and was
    not deleted then, ordered by unified_id. 400 for a missing or malformed `as_of`, 404 for an entity
    without history. `?page=` / `?page_size=` (≤ 1000)."""

    pagination_class = Pagination
    schema = AsOfSchema()

    @extend_schema(operation_id="dcl_view_as_of", responses=OpenApiTypes.OBJECT,
                   parameters=[OpenApiParameter("as_of", str, required=True,
                                                description="2026-01-31 or 2026-01-31T12:00:00Z"),
                               OpenApiParameter("page", int), OpenApiParameter("page_size", int)])
    def get(self, request, entity: str):
        history_model(entity)  # an unknown entity is a 404 before a bad as_of is a 400
        at = as_of_parse(request.query_params.get("as_of"))
        return _page(self, request, view_as_of(entity=entity, at=at))
