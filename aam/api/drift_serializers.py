"""Input and output serializers of the drift and review endpoints."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from aam.models import DriftEvent, ReviewDecision, ReviewItem

_ID = {"min_value": 1, "max_value": 2**63 - 1}
DECIDE_CHOICES = ["approve", "reject", "flag", "approved", "rejected", "flagged"]


@extend_schema_field(OpenApiTypes.STR)
class MomentField(serializers.Field):
    """An ISO-8601 date (`2026-05-01` = its start, UTC) or date-time."""

    default_error_messages = {"invalid": "Use an ISO-8601 date (2026-05-01) or date-time (2026-05-01T12:00:00Z)."}

    def to_internal_value(self, data) -> dt.datetime:
        if not isinstance(data, str) or len(data) > 40:
            self.fail("invalid")
        try:
            moment = parse_datetime(data.strip())
            if moment is None:
                day = parse_date(data.strip())
                if day is None:
                    self.fail("invalid")
                moment = dt.datetime.combine(day, dt.time.min)
        except (ValueError, OverflowError):
            self.fail("invalid")
        return moment if timezone.is_aware(moment) else timezone.make_aware(moment, dt.UTC)

    def to_representation(self, value):
        return value.isoformat()


class DriftFilterSerializer(serializers.Serializer):
    connection = serializers.IntegerField(required=False, **_ID)
    kind = serializers.ChoiceField(choices=DriftEvent.Kind.choices, required=False)
    status = serializers.ChoiceField(choices=DriftEvent.Status.choices, required=False)
    source_object = serializers.CharField(required=False, max_length=255)
    since = MomentField(required=False, help_text="Detected at or after (ISO-8601 date or date-time).")
    until = MomentField(required=False, help_text="Detected before (ISO-8601 date or date-time).")

    def validate(self, attrs):
        if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": "must be after since"})
        return attrs


class DriftEventOutSerializer(serializers.ModelSerializer):
    connection_name = serializers.CharField(source="connection.name", read_only=True)
    review_item = serializers.IntegerField(source="review_item_id", allow_null=True, read_only=True)

    class Meta:
        model = DriftEvent
        fields = (
            "id",
            "connection",
            "connection_name",
            "source_object",
            "kind",
            "field",
            "new_field",
            "old_type",
            "new_type",
            "direction",
            "swap",
            "confidence",
            "evidence",
            "status",
            "policy",
            "repair",
            "repair_confidence",
            "explanation",
            "holds_mapping",
            "review_item",
            "mapping_version_before",
            "mapping_version_after",
            "reprocess",
            "detected_at",
            "resolved_at",
        )
        read_only_fields = fields


class ReviewFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ReviewItem.Kind.choices, required=False)
    status = serializers.ChoiceField(choices=ReviewItem.Status.choices, required=False)
    risk = serializers.ChoiceField(choices=ReviewItem.Risk.choices, required=False)
    connection = serializers.IntegerField(required=False, **_ID)
    search = serializers.CharField(required=False, max_length=200)


class ReviewDecisionOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReviewDecision
        fields = ("id", "decision", "previous_status", "username", "note", "canonical_field", "outcome", "decided_at")
        read_only_fields = fields


class ReviewItemOutSerializer(serializers.ModelSerializer):
    connection_name = serializers.CharField(source="connection.name", read_only=True, allow_null=True, default=None)
    decided_by = serializers.CharField(source="decided_by.get_username", read_only=True, allow_null=True, default=None)
    drift_event_ids = serializers.SerializerMethodField()

    class Meta:
        model = ReviewItem
        fields = (
            "id",
            "kind",
            "status",
            "title",
            "proposal",
            "confidence",
            "evidence",
            "risk",
            "connection",
            "connection_name",
            "decided_by",
            "decided_at",
            "note",
            "created_at",
            "drift_event_ids",
        )
        read_only_fields = fields

    def get_drift_event_ids(self, obj: ReviewItem) -> list[int]:
        return sorted(e.pk for e in obj.drift_events.all())


class ReviewItemDetailSerializer(ReviewItemOutSerializer):
    decisions = ReviewDecisionOutSerializer(many=True, read_only=True)

    class Meta(ReviewItemOutSerializer.Meta):
        fields = (*ReviewItemOutSerializer.Meta.fields, "decisions")
        read_only_fields = fields


class ReviewDecideInSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=DECIDE_CHOICES)
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    canonical_field = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=128,
        help_text="On approval: the canonical field to map instead of the proposal ('' = leave unmapped).",
    )
