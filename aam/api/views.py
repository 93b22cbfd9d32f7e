"""AAM REST endpoints: the canonical ontology and the field mappings (current and history)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from aam.models import FieldMapping
from aam.ontology import get_ontology
from aam.selectors import (
    active_mapping_from_rows,
    mapping_latest_version,
    mapping_objects,
    mapping_rows,
    mapping_versions,
)
from autonomos.core.api import TenantAPIView, TenantGenericAPIView
from connectors.models import Connection

from .serializers import (
    FieldMappingOutSerializer,
    MappingFilterSerializer,
    MappingObjectSerializer,
    MappingVersionSerializer,
    ObjectMappingOutSerializer,
    OntologyOutSerializer,
)


class OntologyView(TenantAPIView):
    """The canonical entities, their fields (name, type, description, synonyms) and derived fields, and
    the canonical value sets (per field and keyed entity.field), as aam/ontology.json defines them."""

    @extend_schema(responses=OntologyOutSerializer)
    def get(self, request):
        return Response(OntologyOutSerializer(get_ontology().as_dict()).data)


def _object_payload(
    connection: Connection, source_object: str, rows: list[FieldMapping], latest: int, versions: list[dict]
) -> dict:
    active = active_mapping_from_rows(rows)
    return ObjectMappingOutSerializer(
        {
            "connection": connection.pk,
            "connection_name": connection.name,
            "source_object": source_object,
            "entity": active.entity if active else None,
            "version": rows[0].version if rows else 0,
            "latest_version": latest,
            "active": active.fields if active else {},
            "pending": active.pending if active else {},
            "fields": FieldMappingOutSerializer(rows, many=True).data,
            "versions": versions,
        }
    ).data


class MappingListView(TenantGenericAPIView):
    """Current mapping of every (connection, source object), filterable by connection and object."""

    serializer_class = ObjectMappingOutSerializer

    @extend_schema(parameters=[MappingFilterSerializer], responses=ObjectMappingOutSerializer(many=True))
    def get(self, request):
        filters = MappingFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        connection = None
        if "connection" in filters.validated_data:
            connection = get_object_or_404(Connection.objects.all(), pk=filters.validated_data["connection"])
        objects = mapping_objects(connection=connection)
        if "source_object" in filters.validated_data:
            objects = [o for o in objects if o["source_object"] == filters.validated_data["source_object"]]
        page = self.paginate_queryset(objects)
        connections = Connection.objects.in_bulk({o["connection_id"] for o in page})
        data = []
        for o in page:
            conn = connections[o["connection_id"]]
            rows = list(mapping_rows(connection=conn, source_object_name=o["source_object"], version=o["version"]))
            versions = mapping_versions(connection=conn, source_object_name=o["source_object"])
            data.append(_object_payload(conn, o["source_object"], rows, o["version"], versions))
        return self.get_paginated_response(data)


class MappingDetailView(TenantAPIView):
    """One source object's mapping: the latest version, or `?version=N`, with the version history."""

    @extend_schema(
        parameters=[MappingVersionSerializer, OpenApiParameter("source_object", str, OpenApiParameter.PATH)],
        responses=ObjectMappingOutSerializer,
    )
    def get(self, request, connection_id: int, source_object: str):
        MappingObjectSerializer(data={"source_object": source_object}).is_valid(raise_exception=True)
        connection = get_object_or_404(Connection.objects.all(), pk=connection_id)
        params = MappingVersionSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        latest = mapping_latest_version(connection=connection, source_object_name=source_object)
        if not latest:
            raise NotFound("No mapping for this source object.")
        version = params.validated_data.get("version", latest)
        rows = list(mapping_rows(connection=connection, source_object_name=source_object, version=version))
        if not rows:
            raise NotFound(f"No version {version} of this mapping.")
        versions = mapping_versions(connection=connection, source_object_name=source_object)
        return Response(_object_payload(connection, source_object, rows, latest, versions))
