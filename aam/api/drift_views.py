"""REST endpoints of drift detection and the review queue."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.response import Response

from aam.drift.review import ReviewConflict, review_decide
from aam.drift.selectors import drift_event_list, review_item_list
from autonomos.core.api import TenantReadOnlyModelViewSet
from autonomos.core.errors import Conflict
from autonomos.core.roles import Role

from .drift_serializers import (
    DriftEventOutSerializer,
    DriftFilterSerializer,
    ReviewDecideInSerializer,
    ReviewFilterSerializer,
    ReviewItemDetailSerializer,
    ReviewItemOutSerializer,
)

_ID_RE = r"[0-9]{1,18}"  # a database id; anything else is a 404, never a 500


@extend_schema_view(list=extend_schema(parameters=[DriftFilterSerializer]))
class DriftEventViewSet(TenantReadOnlyModelViewSet):
    """Schema changes detected on the tenant's sources, newest first, with what was done about each.

    Filters: `connection`, `kind` (added, removed, retyped, renamed), `status`, `source_object`,
    `since` / `until` (ISO-8601 date or date-time of detection).
    """

    serializer_class = DriftEventOutSerializer
    lookup_value_regex = _ID_RE

    def get_queryset(self):
        if self.action != "list":
            return drift_event_list()
        filters = DriftFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        return drift_event_list(
            connection_id=data.get("connection"),
            kind=data.get("kind"),
            status=data.get("status"),
            source_object=data.get("source_object"),
            since=data.get("since"),
            until=data.get("until"),
        )


@extend_schema_view(list=extend_schema(parameters=[ReviewFilterSerializer]))
class ReviewItemViewSet(TenantReadOnlyModelViewSet):
    """The review queue: decisions the platform leaves to a human (mapping, drift, asset).

    Filters: `kind`, `status` (pending, approved, rejected, flagged), `risk`, `connection`, `search`.
    Decide with POST `/api/aam/review/<id>/decide/`.
    """
    required_roles = {"decide": Role.OPERATOR}

    lookup_value_regex = _ID_RE

    def get_serializer_class(self):
        return ReviewItemOutSerializer if self.action == "list" else ReviewItemDetailSerializer

    def get_queryset(self):
        if self.action != "list":
            return review_item_list().prefetch_related("drift_events", "decisions")
        filters = ReviewFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        return review_item_list(
            kind=data.get("kind"),
            status=data.get("status"),
            risk=data.get("risk"),
            connection_id=data.get("connection"),
            search=data.get("search"),
        ).prefetch_related("drift_events")

    @extend_schema(
        request=ReviewDecideInSerializer,
        responses={
            200: ReviewItemDetailSerializer,
            409: OpenApiResponse(description="already decided, or the canonical field is taken"),
        },
    )
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Approve, reject or flag the item (with a note). An approval applies what it proposes and
        teaches the mapping memory; a rejection is remembered and not proposed again."""
        item = self.get_object()
        data = ReviewDecideInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            item = review_decide(
                item=item,
                decision=data.validated_data["decision"],
                user=request.user,
                note=data.validated_data.get("note", ""),
                canonical_field=data.validated_data.get("canonical_field"),  # None: as proposed
            )
        except ReviewConflict as exc:
            raise Conflict("; ".join(exc.messages)) from None
        item = self.get_queryset().get(pk=item.pk)
        return Response(ReviewItemDetailSerializer(item).data)
