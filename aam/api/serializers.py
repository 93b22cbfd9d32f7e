"""Input and output serializers of the AAM API."""

from rest_framework import serializers

from aam.ontology import FIELD_TYPES, VALUE_SET_KINDS


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


class ValueSetOutSerializer(serializers.Serializer):
    """A canonical value set of aam/ontology.json: an enum lists its values, a number its two bounds,
    a code kind (ISO 4217, ISO 3166-1 alpha-2, ISO 3166-2, provider region) lists none."""

    kind = serializers.ChoiceField(choices=VALUE_SET_KINDS)
    values = serializers.ListField(child=serializers.JSONField())
    description = serializers.CharField(allow_blank=True)


class CanonicalFieldOutSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=FIELD_TYPES)
    description = serializers.CharField(allow_blank=True)
    values = serializers.ListField(child=serializers.CharField(), help_text="Kinds of sample values the field expects.")
    synonyms = serializers.ListField(child=serializers.CharField())
    related = serializers.ListField(child=serializers.CharField())
    custom = serializers.BooleanField()
    value_set = ValueSetOutSerializer(
        required=False, help_text="The field's canonical values, when it has a standard meaning."
    )
    derived_from = serializers.CharField(required=False, help_text="A derived field: the field it is computed from.")


class CanonicalEntityOutSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    aliases = serializers.ListField(child=serializers.CharField())
    fields = CanonicalFieldOutSerializer(many=True, help_text="The fields a source column maps onto.")
    derived = CanonicalFieldOutSerializer(many=True, help_text="Fields the pipeline computes (not mapped).")


class OntologyOutSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    entities = serializers.DictField(child=CanonicalEntityOutSerializer())
    value_sets = serializers.DictField(
        child=ValueSetOutSerializer(), help_text="Every canonical value set, keyed entity.field."
    )
