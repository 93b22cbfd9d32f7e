"""Input and output serializers of the AAM API."""

from rest_framework import serializers


class MappingFilterSerializer(serializers.Serializer):
    connection = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    source_object = serializers.CharField(required=False, max_length=255, allow_blank=False)


class MappingVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)


class MappingObjectSerializer(serializers.Serializer):
    """The source object named in the path (DRF's CharField refuses NUL characters, which PostgreSQL cannot
    compare)."""

    source_object = serializers.CharField(trim_whitespace=False)


class FieldMappingOutSerializer(serializers.Serializer):
    source_field = serializers.CharField()
    canonical_field = serializers.CharField(allow_null=True)
    confidence = serializers.FloatField()
    method = serializers.CharField()
    status = serializers.CharField()
    explanation = serializers.CharField()


class VersionOutSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    fields = serializers.IntegerField()
    mapped = serializers.IntegerField()
    pending = serializers.IntegerField()


class ObjectMappingOutSerializer(serializers.Serializer):
    connection = serializers.IntegerField()
    connection_name = serializers.CharField()
    source_object = serializers.CharField()
    entity = serializers.CharField(allow_null=True)
    version = serializers.IntegerField()
    latest_version = serializers.IntegerField()
    active = serializers.DictField(child=serializers.CharField())
    pending = serializers.DictField(child=serializers.CharField())
    fields = FieldMappingOutSerializer(many=True)
    versions = VersionOutSerializer(many=True)
