"""POST /api/connections/<id>/sync/: start a sync in the background (202 + what to poll)."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from aam.sync_request import connection_sync_start
from autonomos.core.api import TenantAPIView
from autonomos.core.roles import Role


class SyncRequestSerializer(serializers.Serializer):
    full = serializers.BooleanField(default=False, help_text="Read everything again, ignoring the cursor.")


class SyncAcceptedSerializer(serializers.Serializer):
    connection_id = serializers.IntegerField()
    task_id = serializers.CharField()
    status = serializers.CharField()
    poll = serializers.DictField(child=serializers.CharField())


class ConnectionSyncAPI(TenantAPIView):
    """Start syncing a connection: records flow to the unified views; follow progress by events."""
    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(
        request=SyncRequestSerializer,
        responses={202: SyncAcceptedSerializer, 409: OpenApiResponse(description="already syncing")},
    )
    def post(self, request, pk: int):
        from connectors.models import Connection

        connection = get_object_or_404(Connection.objects.all(), pk=pk)
        data = SyncRequestSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            task_id = connection_sync_start(connection=connection, full=data.validated_data["full"])
        body = {
            "connection_id": connection.pk,
            "task_id": task_id,
            "status": "queued",
            "poll": {"connection": f"/api/connections/{connection.pk}/", "events": "/api/events/stream/"},
        }
        return Response(SyncAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)
