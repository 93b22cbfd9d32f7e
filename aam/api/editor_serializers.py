"""Input and output serializers of the mapping editor's endpoints (/api/connections/<id>/mapping/)."""

from __future__ import annotations

from rest_framework import serializers

from aam.editor.services import ACTIONS, MAX_NOTE
from aam.models import FieldMapping, MappingChange

from .serializers import VersionOutSerializer  # the same version row as the mapping API's


class MappingChangeInSerializer(serializers.Serializer):
    """One change of one column. DRF's CharField refuses NUL characters, which PostgreSQL cannot store."""

    source_object = serializers.CharField(max_length=255, trim_whitespace=False)
    source_field = serializers.CharField(max_length=512, trim_whitespace=False)
    action = serializers.ChoiceField(
        choices=[*ACTIONS],
        help_text="map / remap: onto `canonical_field`; unmap: leave it unmapped; exclude: drop its values "
        "altogether (not even kept as extras); include: take an excluded column back (unmapped).",
    )
    canonical_field = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=200,
        help_text="For map and remap: a field of the object's entity, `amount` or `opportunity.amount`.",
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=MAX_NOTE, default="")
    alongside = serializers.BooleanField(
        required=False, default=False,
        help_text="For map and remap: onto a field other columns feed already; all of them then feed it, in "
        "the mapping's column order, the first value of a record winning.",
    )


class MappingUndoInSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=MAX_NOTE, default="")


class HintOutSerializer(serializers.Serializer):
    entity = serializers.CharField()
    field = serializers.CharField()
    score = serializers.FloatField()
    proposal = serializers.CharField(allow_null=True)
    why = serializers.CharField()


class ColumnOutSerializer(serializers.Serializer):
    source_field = serializers.CharField()
    state = serializers.ChoiceField(choices=["mapped", "pending", "unmapped", "excluded"])
    canonical_field = serializers.CharField(allow_null=True, help_text="The field it feeds, or is proposed for.")
    confidence = serializers.FloatField(
        help_text="Of the mapping; for an unmapped column the engine's certainty that it has no counterpart."
    )
    method = serializers.ChoiceField(choices=FieldMapping.Method.choices)
    reason = serializers.CharField(help_text="Why it maps there, or why not, in words.")
    evidence = serializers.CharField(help_text="The engine's or the person's explanation.")
    type = serializers.CharField()
    samples = serializers.ListField(child=serializers.CharField())
    hint = HintOutSerializer(required=False, allow_null=True,
                             help_text="What an unmapped column looks like in a related entity.")
    review_item_id = serializers.IntegerField(allow_null=True)
    gone = serializers.BooleanField(help_text="No longer in the source; kept while its removal awaits review.")
    is_key = serializers.BooleanField(help_text="The object's primary key.")
    feeds_with = serializers.ListField(
        child=serializers.CharField(),
        help_text="Where several columns feed this column's field: all of them, in the order they are read "
        "(the first value of a record wins); empty when it feeds the field alone.",
    )
    fed_by = serializers.CharField(help_text="The same in words: `field ← first, then second`; empty when alone.")


class ObjectOutSerializer(serializers.Serializer):
    name = serializers.CharField()
    entity = serializers.CharField(allow_null=True)
    version = serializers.IntegerField()
    primary_key = serializers.CharField(allow_blank=True)
    counts = serializers.DictField(child=serializers.IntegerField())
    fields = serializers.ListField(
        child=serializers.CharField(), help_text="The canonical fields a column may map onto."
    )
    columns = ColumnOutSerializer(many=True)
    versions = VersionOutSerializer(many=True)


class MappingChangeOutSerializer(serializers.ModelSerializer):
    undoes = serializers.IntegerField(source="undoes_id", allow_null=True, read_only=True)
    review_item = serializers.IntegerField(source="review_item_id", allow_null=True, read_only=True)

    class Meta:
        model = MappingChange
        fields = [
            "id", "source_object", "source_field", "action", "canonical_entity", "field_before", "field_after",
            "status_before", "status_after", "version_before", "version_after", "undoes", "undone", "reprocess",
            "review_item", "username", "note", "created_at",
        ]
        read_only_fields = fields


class ConnectionMappingOutSerializer(serializers.Serializer):
    connection = serializers.IntegerField()
    connection_name = serializers.CharField()
    objects = ObjectOutSerializer(many=True)
    changes = MappingChangeOutSerializer(many=True, help_text="The newest changes first (at most 50).")
    undo = MappingChangeOutSerializer(allow_null=True, help_text="The change POST …/mapping/undo/ would reverse.")


class MappingChangeResultSerializer(serializers.Serializer):
    change = MappingChangeOutSerializer()
    object = ObjectOutSerializer()
