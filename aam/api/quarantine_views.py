"""GET /api/aam/quarantine/: records that could not land, with the reason (filter by connection,
object, entity)."""

from __future__ import annotations

from rest_framework import mixins, serializers

from autonomos.core.api import TenantGenericAPIView
from autonomos.core.pagination import Pagination


class QuarantinedRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    connection_id = serializers.IntegerField()
    source_object = serializers.CharField()
    entity = serializers.CharField()
    source_id = serializers.CharField()
    position = serializers.IntegerField(allow_null=True, help_text="line number for files, else record number")
    reason = serializers.CharField()
    raw = serializers.JSONField()
    mapping_version = serializers.IntegerField()
    schema_fingerprint = serializers.CharField()
    created_at = serializers.DateTimeField()


class QuarantineListAPI(mixins.ListModelMixin, TenantGenericAPIView):
    """Quarantined records, newest first. `?connection=<id>`, `?source_object=`, `?entity=`."""

    serializer_class = QuarantinedRecordSerializer
    pagination_class = Pagination

    def get_queryset(self):
        from aam.models import QuarantinedRecord

        qs = QuarantinedRecord.objects.order_by("-id")
        params = self.request.query_params
        connection = params.get("connection")
        if connection is not None:
            if not connection.isdigit():
                from rest_framework.exceptions import ValidationError

                raise ValidationError({"connection": "an integer id"})
            qs = qs.filter(connection_id=int(connection))
        for name in ("source_object", "entity"):
            if params.get(name):
                qs = qs.filter(**{name: params[name]})
        return qs

    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)
