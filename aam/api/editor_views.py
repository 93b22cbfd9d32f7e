"""The mapping editor's API: a connection's field mapping, a change of one column, undo.

    GET  /api/connections/<id>/mapping/          every object's columns, the versions, the change log
    POST /api/connections/<id>/mapping/changes/  map / remap / unmap / exclude / include one column
    POST /api/connections/<id>/mapping/undo/     reverse the last change

Reads need a viewer, changes an operator. A connection of another tenant is not found (404); bad
input is a 400 that says why, a sync running or a column changed since is a 409 (aam/editor/services.py).
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from aam.editor.selectors import connection_mapping, mapping_change_list, object_mapping
from aam.editor.services import mapping_change, mapping_undo, mapping_undoable
from autonomos.core.api import TenantAPIView
from autonomos.core.roles import Role
from connectors.models import Connection
from connectors.selectors import connection_get

from .editor_serializers import (
    ConnectionMappingOutSerializer,
    MappingChangeInSerializer,
    MappingChangeResultSerializer,
    MappingUndoInSerializer,
)

_REFUSED = {
    400: OpenApiResponse(description="bad input: an unknown object, column or field, a field of another entity"),
    403: OpenApiResponse(description="a viewer cannot change mappings"),
    404: OpenApiResponse(description="no such connection in this tenant"),
    409: OpenApiResponse(description="a sync is running, a schema change awaits review, or the column changed"),
}


def _connection(pk: int) -> Connection:
    if pk > 2**63 - 1:
        raise Http404("No such connection.")
    try:
        return connection_get(connection_id=pk)
    except Connection.DoesNotExist:
        raise Http404("No such connection.") from None


def _result(connection: Connection, change) -> dict:
    return MappingChangeResultSerializer(
        {"change": change, "object": object_mapping(connection=connection, name=change.source_object)}
    ).data


class ConnectionMappingAPI(TenantAPIView):
    """Every source column of every object of the connection: the canonical field it maps onto, or
    why not, with confidence, evidence and samples; the versions and the newest changes."""

    @extend_schema(responses={200: ConnectionMappingOutSerializer, 404: _REFUSED[404]})
    def get(self, request, pk: int):
        connection = _connection(pk)
        body = {
            "connection": connection.pk,
            "connection_name": connection.name,
            "objects": connection_mapping(connection=connection),
            "changes": list(mapping_change_list(connection=connection)[:50]),
            "undo": mapping_undoable(connection=connection),
        }
        return Response(ConnectionMappingOutSerializer(body).data)


class MappingChangeAPI(TenantAPIView):
    """Change one column's mapping: a new version, applied to the views by re-reading the object."""

    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(request=MappingChangeInSerializer, responses={201: MappingChangeResultSerializer, **_REFUSED})
    def post(self, request, pk: int):
        connection = _connection(pk)
        data = MappingChangeInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        change = mapping_change(connection=connection, user=request.user, **data.validated_data)
        return Response(_result(connection, change), status=status.HTTP_201_CREATED)


class MappingUndoAPI(TenantAPIView):
    """Reverse the connection's last mapping change (an undo is itself a change, in a new version)."""

    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(request=MappingUndoInSerializer, responses={201: MappingChangeResultSerializer, **_REFUSED})
    def post(self, request, pk: int):
        connection = _connection(pk)
        data = MappingUndoInSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        change = mapping_undo(connection=connection, user=request.user, **data.validated_data)
        return Response(_result(connection, change), status=status.HTTP_201_CREATED)
