"""Connection serializers. Secrets are write-only: input accepts them, output shows only
`secrets_set` (the names of the secrets that hold a value)."""

from __future__ import annotations

from rest_framework import serializers

from ..models import Connection
from ..selectors import secrets_set


class ConnectionInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Connection.Kind.choices)
    config = serializers.JSONField(required=False, default=dict)
    secrets = serializers.JSONField(required=False, write_only=True, default=dict)
    drift_policy = serializers.ChoiceField(choices=Connection.DriftPolicy.choices, required=False)
    domain = serializers.ChoiceField(choices=Connection.Domain.choices, required=False, allow_blank=True)
    currency = serializers.CharField(
        max_length=3, required=False, allow_blank=True,
        help_text="ISO 4217 currency of the source's amounts that carry none (a single-currency org); blank for none.",
    )

    def validate_config(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        return value

    def validate_secrets(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        return value


class ConnectionFilterSerializer(serializers.Serializer):
    """Query filters of the connection list (DRF's CharField refuses NUL characters, which PostgreSQL
    cannot compare: a 400, not a database error)."""

    kind = serializers.CharField(required=False, allow_blank=True)
    status = serializers.CharField(required=False, allow_blank=True)
    domain = serializers.CharField(required=False, allow_blank=True)


class ConnectionOutputSerializer(serializers.ModelSerializer):
    secrets_set = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = [
            "id",
            "name",
            "kind",
            "config",
            "secrets_set",
            "status",
            "last_error",
            "cursor",
            "drift_policy",
            "domain",
            "currency",
            "last_synced_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_secrets_set(self, obj) -> list[str]:
        return secrets_set(obj)


class CheckResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
    status = serializers.CharField()


class SourceFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    nullable = serializers.BooleanField()
    samples = serializers.ListField(child=serializers.JSONField())


class SourceObjectSerializer(serializers.Serializer):
    name = serializers.CharField()
    primary_key = serializers.CharField(allow_null=True)
    cursor_field = serializers.CharField(allow_null=True)
    row_count = serializers.IntegerField(allow_null=True)
    fields = SourceFieldSerializer(many=True)


class SchemaSerializer(serializers.Serializer):
    connection_id = serializers.IntegerField()
    objects = SourceObjectSerializer(many=True)


class UploadInputSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False, max_length=200)


class UploadedFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    object = serializers.CharField()
    size = serializers.IntegerField()
    modified_at = serializers.CharField()


class UploadResultSerializer(serializers.Serializer):
    file = serializers.CharField()
    object = SourceObjectSerializer()


class FileKeySerializer(serializers.Serializer):
    """The key of one file of a filesource connection (docs/adr/0024-files-as-snapshots.md)."""

    object = serializers.CharField()
    file = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField(), help_text="empty: by row number or content")
    label = serializers.CharField(help_text="the key in words: its columns joined by +, or the row number")
    basis = serializers.ChoiceField(
        choices=["", "set", "id_column", "columns", "line", "content"],
        help_text="set by a person, the file's id column, columns chosen as unique over the file, the row "
                  "number, or the content hash (objects read before keys were chosen); empty: chosen at the "
                  "first sync",
    )
    why = serializers.CharField()
    header = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(allow_blank=True)


class FileKeyInputSerializer(serializers.Serializer):
    object = serializers.CharField(max_length=200)
    key = serializers.JSONField(help_text='1 to 3 column names, "line" (the row number) or "auto" (choose again)')
