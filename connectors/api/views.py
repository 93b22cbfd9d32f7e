"""`/api/connections/`: CRUD, `test/`, `schema/` and (filesource) `files/` and `keys/`.

Outcomes of talking to a source:
- `POST test/` always answers 200 with `{"ok", "message", "status"}`: a refused password is a
  successful test with a negative result (ok=false), not an error of the request.
- `GET schema/` answers 400 (`connection_failed`) for a permanent source error (bad credentials,
  a refused path), 503 (`source_unavailable`, with Retry-After when known) for a transient one,
  and 404 for a connection of another tenant. Never 500.
"""

from __future__ import annotations

import logging

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from autonomos.core.api import TenantModelViewSet
from autonomos.core.roles import Role

from .. import conf
from ..errors import ConnectorError, PermanentError, TransientError
from ..models import Connection
from ..scrub import known_secrets, scrub
from ..selectors import connection_file_keys, connection_get, connection_list
from ..services import (
    DATA_CHOICES,
    DATA_REMOVE,
    connection_create,
    connection_delete,
    connection_discover,
    connection_file_list,
    connection_file_upload,
    connection_key_set,
    connection_test,
    connection_update,
)
from .serializers import (
    CheckResultSerializer,
    ConnectionFilterSerializer,
    ConnectionInputSerializer,
    ConnectionOutputSerializer,
    FileKeyInputSerializer,
    FileKeySerializer,
    SchemaSerializer,
    UploadedFileSerializer,
    UploadInputSerializer,
    UploadResultSerializer,
)

logger = logging.getLogger(__name__)


class SourceError(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "connection_failed"
    default_detail = "The source refused the request."


class SourceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "source_unavailable"
    default_detail = "The source is unavailable; try again later."


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The upload is too large."


def _api_error(exc: ConnectorError, connection: Connection) -> exceptions.APIException:
    message = scrub(exc.message, known_secrets(connection))
    if isinstance(exc, TransientError):
        error = SourceUnavailable(message)
        if exc.retry_after:
            error.wait = exc.retry_after
        return error
    if isinstance(exc, PermanentError):
        return SourceError(message)
    return SourceError(message, code="source_error")


@extend_schema_view(list=extend_schema(parameters=[ConnectionFilterSerializer]))
class ConnectionViewSet(TenantModelViewSet):
    # create, change, delete, files: admin; setting a file's key: operator (keys_set is POST keys/)
    required_roles = {"test": Role.OPERATOR, "keys_set": Role.OPERATOR}
    serializer_class = ConnectionOutputSerializer
    lookup_value_regex = "[0-9]+"
    # Only for the OpenAPI generator (types of path parameters): data always comes from
    # get_queryset(), which goes through the tenant-checked manager.
    queryset = QuerySet(model=Connection).none()

    def get_queryset(self):
        filters = ConnectionFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return connection_list(filters=filters.validated_data)

    def get_object(self) -> Connection:
        try:
            return connection_get(connection_id=int(self.kwargs["pk"]))
        except (Connection.DoesNotExist, ValueError, TypeError):
            raise Http404("No such connection.") from None

    @extend_schema(request=ConnectionInputSerializer, responses={201: ConnectionOutputSerializer})
    def create(self, request, *args, **kwargs):
        data = ConnectionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        connection = connection_create(**data.validated_data)
        return Response(ConnectionOutputSerializer(connection).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ConnectionInputSerializer, responses=ConnectionOutputSerializer)
    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        connection = self.get_object()
        data = ConnectionInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        # Only what the client sent: defaults of absent fields must not wipe stored values.
        changes = {k: v for k, v in data.validated_data.items() if k in request.data}
        connection = connection_update(connection=connection, data=changes, partial=partial)
        return Response(ConnectionOutputSerializer(connection).data)

    @extend_schema(parameters=[OpenApiParameter(
        "data", str, enum=list(DATA_CHOICES), required=False,
        description="What becomes of the connection's records in the unified views: remove (default) or keep.")])
    def destroy(self, request, *args, **kwargs):
        data = request.query_params.get("data", DATA_REMOVE)
        if data not in DATA_CHOICES:
            raise exceptions.ValidationError({"data": [f"must be one of: {', '.join(DATA_CHOICES)}"]})
        connection_delete(connection=self.get_object(), data=data)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=CheckResultSerializer)
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Check reachability and credentials. 200 with ok=false when the source refuses."""
        connection = self.get_object()
        result = connection_test(connection=connection)
        return Response({"ok": result.ok, "message": result.message, "status": connection.status})

    @extend_schema(responses=SchemaSerializer)
    @action(detail=True, methods=["get"], url_path="schema", url_name="schema")
    def source_schema(self, request, pk=None):  # not `schema`: APIView.schema is DRF's OpenAPI hook
        """Discovered objects with fields, types and at most AAM_MAX_SAMPLES_PER_TABLE samples per field."""
        connection = self.get_object()
        try:
            objects = connection_discover(connection=connection)
        except ConnectorError as exc:
            raise _api_error(exc, connection) from None
        return Response({"connection_id": connection.pk, "objects": [o.as_dict() for o in objects]})

    @extend_schema(methods=["GET"], request=None, responses=UploadedFileSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": UploadInputSerializer},
        responses={201: UploadResultSerializer},
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser, FormParser], pagination_class=None)
    def files(self, request, pk=None):
        """List (GET) or upload (POST, multipart field `file`) the CSV files of a filesource connection."""
        connection = self.get_object()
        if connection.kind != Connection.Kind.FILESOURCE:
            raise exceptions.ValidationError({"file": ["uploads are only for filesource connections"]})
        if request.method == "GET":
            return Response(connection_file_list(connection=connection))
        limit = conf.filesource_max_upload_bytes()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit + 64 * 1024:  # refuse before reading the body (multipart overhead allowed)
            raise PayloadTooLarge(f"the upload is larger than the limit of {limit} bytes")
        data = UploadInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        if upload.size is not None and upload.size > limit:
            raise PayloadTooLarge(f"the file is larger than the limit of {limit} bytes")
        obj = connection_file_upload(connection=connection, filename=upload.name, content=upload, size=upload.size)
        return Response({"file": upload.name, "object": obj.as_dict()}, status=status.HTTP_201_CREATED)

    @extend_schema(responses=FileKeySerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def keys(self, request, pk=None):
        """The key of every file of a filesource connection: what makes a row the same record in the
        next version of the file (docs/adr/0024-files-as-snapshots.md)."""
        connection = self.get_object()
        if connection.kind != Connection.Kind.FILESOURCE:
            raise exceptions.ValidationError({"object": ["keys are for CSV file connections only"]})
        return Response(connection_file_keys(connection=connection))

    @extend_schema(request=FileKeyInputSerializer, responses=FileKeySerializer(many=True))
    @keys.mapping.post
    def keys_set(self, request, pk=None):
        """Set one file's key (operator): `{"object", "key": ["Email"] | "line" | "auto"}`. A key the
        file as it is now breaks is a 400 naming the rows; the next sync re-keys the object."""
        connection = self.get_object()
        data = FileKeyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            connection_key_set(connection=connection, object_name=data.validated_data["object"],
                               key=data.validated_data["key"])
        except ConnectorError as exc:
            raise _api_error(exc, connection) from None
        return Response(connection_file_keys(connection=connection))
