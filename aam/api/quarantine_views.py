"""GET /api/aam/quarantine/: records that could not land, with the reason (filter by connection,
object, entity)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
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


class QuarantineFilterSerializer(serializers.Serializer):
    """The list's query filters: an integer id (int() refuses "²", which str.isdigit() accepts), text
    without NUL characters (PostgreSQL cannot compare them)."""

    connection = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    source_object = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    entity = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class QuarantineListAPI(mixins.ListModelMixin, TenantGenericAPIView):
    """Quarantined records, newest first. `?connection=<id>`, `?source_object=`, `?entity=`."""

    serializer_class = QuarantinedRecordSerializer
    pagination_class = Pagination

    def get_queryset(self):
        from aam.models import QuarantinedRecord

        qs = QuarantinedRecord.objects.order_by("-id")
        filters = QuarantineFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        params = filters.validated_data
        if "connection" in params:
            qs = qs.filter(connection_id=params["connection"])
        for name in ("source_object", "entity"):
            if params.get(name):
                qs = qs.filter(**{name: params[name]})
        return qs

    @extend_schema(parameters=[QuarantineFilterSerializer])
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)
