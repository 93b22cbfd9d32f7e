"""REST for entity resolution's human side (dcl/resolution/): review items and their decisions,
must-link / cannot-link decisions, merging and splitting unified entities by hand, and one unified
record (an id that was merged or split away answers 301 with where it went).

- `GET /api/dcl/matches/?status=pending&entity=contact`, `GET /api/dcl/matches/<id>/`
- `POST /api/dcl/matches/<id>/approve/`, `.../reject/` (operators): 409 when not pending, or when a
  record was deleted since (nothing written)
- `GET, POST /api/dcl/decisions/`, `DELETE /api/dcl/decisions/<id>/` (operators write)
- `POST /api/dcl/entities/<entity>/merge/` `{"unified_ids": [...]}`,
  `POST /api/dcl/entities/<entity>/<unified_id>/split/` `{"records": [[connection_id, source_id], ...]}`
- `GET /api/dcl/views/<entity>/<unified_id>/`: the row, its sources
"""

from __future__ import annotations

from urllib.parse import quote

from django.http import HttpResponsePermanentRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from autonomos.core.api import TenantAPIView
from autonomos.core.errors import InvalidInput, NotFound
from autonomos.core.pagination import Pagination
from autonomos.core.roles import Role

from ..models import MatchDecision, MatchReview
from ..resolution import decisions
from ..resolution.records import redirect_target, unified_rows
from ..resolution.review import review_list
from .views import _ENTITY_RE, _render


class MatchReviewSerializer(serializers.ModelSerializer):
    left = serializers.SerializerMethodField()
    right = serializers.SerializerMethodField()

    class Meta:
        model = MatchReview
        fields = ["id", "entity", "status", "probability", "match_weight", "left", "right", "left_unified_id",
                  "right_unified_id", "waterfall", "created_at", "updated_at", "decided_by", "decided_at"]

    def get_left(self, obj) -> dict:
        return {"connection_id": obj.left_connection_id, "source_id": obj.left_source_id}

    def get_right(self, obj) -> dict:
        return {"connection_id": obj.right_connection_id, "source_id": obj.right_source_id}


class MatchDecisionSerializer(serializers.ModelSerializer):
    left = serializers.SerializerMethodField()
    right = serializers.SerializerMethodField()

    class Meta:
        model = MatchDecision
        fields = ["id", "entity", "kind", "left", "right", "origin", "note", "created_by", "created_at", "review"]

    def get_left(self, obj) -> dict:
        return {"connection_id": obj.left_connection_id, "source_id": obj.left_source_id}

    def get_right(self, obj) -> dict:
        return {"connection_id": obj.right_connection_id, "source_id": obj.right_source_id}


class DecidedSerializer(serializers.Serializer):
    item = MatchReviewSerializer()
    decision = MatchDecisionSerializer()


class DecisionsWrittenSerializer(serializers.Serializer):
    entity = serializers.CharField()
    decisions = MatchDecisionSerializer(many=True)


class RecordRefSerializer(serializers.Serializer):
    connection_id = serializers.IntegerField(min_value=1)
    source_id = serializers.CharField()


class DecisionInputSerializer(serializers.Serializer):
    """For the API schema; the body is checked by dcl.resolution.decisions (its messages say what is wrong)."""

    entity = serializers.CharField()
    kind = serializers.ChoiceField(choices=MatchDecision.Kind.choices)
    left = RecordRefSerializer(help_text="a record: {connection_id, source_id} or [connection_id, source_id]")
    right = RecordRefSerializer()
    note = serializers.CharField(required=False, allow_blank=True)


class MergeInputSerializer(serializers.Serializer):
    unified_ids = serializers.ListField(child=serializers.CharField(), min_length=2,
                                        max_length=decisions.MAX_MERGE)


class SplitInputSerializer(serializers.Serializer):
    records = serializers.ListField(child=RecordRefSerializer(), min_length=1,
                                    max_length=decisions.MAX_SPLIT_RECORDS,
                                    help_text="the source records to move to a new entity")


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise InvalidInput("The body is a JSON object.")
    return request.data


def _choice(request, name: str, choices) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and value not in choices:
        raise InvalidInput(f"{name} is one of {', '.join(choices)}.", details={name: value[:40]})
    return value


def _entity_param(request) -> str | None:
    value = request.query_params.get("entity") or None
    if value is not None and not _ENTITY_RE.match(value):
        raise InvalidInput("entity is an entity name (account, contact, ...).", details={"entity": value[:40]})
    return value


class MatchReviewListAPI(TenantAPIView):
    """Pairs of source records the model was unsure of, most probable first (`?status=`, default
    pending; `?entity=`). Each with its match weights (`waterfall`: Splink's chart data)."""

    pagination_class = Pagination

    @extend_schema(operation_id="dcl_matches_list", parameters=[
        OpenApiParameter("status", str, enum=MatchReview.Status.values, description="default: pending"),
        OpenApiParameter("entity", str), OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses=MatchReviewSerializer(many=True))
    def get(self, request):
        status_ = _choice(request, "status", MatchReview.Status.values) or MatchReview.Status.PENDING
        items = review_list(status=status_, entity=_entity_param(request))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(items, request, view=self)
        return paginator.get_paginated_response(MatchReviewSerializer(page, many=True).data)


def _review(pk: int) -> MatchReview:
    item = MatchReview.objects.filter(pk=pk).first()
    if item is None:
        raise NotFound("No such review item.")
    return item


class MatchReviewAPI(TenantAPIView):
    @extend_schema(operation_id="dcl_matches_retrieve", responses=MatchReviewSerializer)
    def get(self, request, pk: int):
        return Response(MatchReviewSerializer(_review(pk)).data)


class MatchReviewDecideAPI(TenantAPIView):
    """Approve (the two records are one entity) or reject a pending review item; the decision is a
    must_link or cannot_link that the model obeys from the next materialization on (queued now)."""

    required_roles = {"POST": Role.OPERATOR}
    approve = True

    @extend_schema(request=None, responses={200: DecidedSerializer, 409: OpenApiResponse(
        description="the item is not pending, or one of its records was deleted since: nothing written")})
    def post(self, request, pk: int):
        decision = decisions.decide_review(pk, approve=self.approve, user=request.user)
        return Response(DecidedSerializer({"item": _review(pk), "decision": decision}).data)


class MatchReviewRejectAPI(MatchReviewDecideAPI):
    approve = False


class MatchDecisionListAPI(TenantAPIView):
    """Decisions (`?entity=`, `?kind=`), newest first; POST one on two records named directly."""

    pagination_class = Pagination
    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(operation_id="dcl_decisions_list", parameters=[
        OpenApiParameter("entity", str), OpenApiParameter("kind", str, enum=MatchDecision.Kind.values),
        OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses=MatchDecisionSerializer(many=True))
    def get(self, request):
        qs = MatchDecision.objects.order_by("-created_at", "-id")
        entity = _entity_param(request)
        if entity:
            qs = qs.filter(entity=entity)
        kind = _choice(request, "kind", MatchDecision.Kind.values)
        if kind:
            qs = qs.filter(kind=kind)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(MatchDecisionSerializer(page, many=True).data)

    @extend_schema(operation_id="dcl_decisions_create", request=DecisionInputSerializer,
                   responses={201: MatchDecisionSerializer,
                              409: OpenApiResponse(description="a record was deleted since: nothing written")})
    def post(self, request):
        body = _body(request)
        note = body.get("note", "")
        if not isinstance(note, str):
            raise InvalidInput("note is text.", details={"note": "not text"})
        decision = decisions.decision_create(entity=str(body.get("entity", ""))[:63], kind=body.get("kind"),
                                             left=body.get("left"), right=body.get("right"), user=request.user,
                                             note=note)
        return Response(MatchDecisionSerializer(decision).data, status=status.HTTP_201_CREATED)


class MatchDecisionAPI(TenantAPIView):
    """One decision; DELETE withdraws it (the model decides that pair again)."""

    required_roles = {"DELETE": Role.OPERATOR}

    @extend_schema(operation_id="dcl_decisions_retrieve", responses=MatchDecisionSerializer)
    def get(self, request, pk: int):
        decision = MatchDecision.objects.filter(pk=pk).first()
        if decision is None:
            raise NotFound("No such decision.")
        return Response(MatchDecisionSerializer(decision).data)

    @extend_schema(operation_id="dcl_decisions_destroy", responses={204: None})
    def delete(self, request, pk: int):
        decisions.decision_delete(decision_id=pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EntityMergeAPI(TenantAPIView):
    """Merge unified entities into one (a must_link between their first source records)."""

    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(operation_id="dcl_entities_merge", request=MergeInputSerializer,
                   responses={200: DecisionsWrittenSerializer,
                              409: OpenApiResponse(description="a record was deleted since: nothing written")})
    def post(self, request, entity: str):
        written = decisions.merge(entity, _body(request).get("unified_ids"), user=request.user)
        return Response(DecisionsWrittenSerializer({"entity": entity, "decisions": written}).data)


class EntitySplitAPI(TenantAPIView):
    """Move some of a unified entity's source records to a new entity (cannot_links between the moved
    and the remaining records). At most 1,000 records per split."""

    required_roles = {"POST": Role.OPERATOR}

    @extend_schema(operation_id="dcl_entities_split", request=SplitInputSerializer,
                   responses={200: DecisionsWrittenSerializer,
                              409: OpenApiResponse(description="a record was deleted since: nothing written")})
    def post(self, request, entity: str, unified_id: str):
        written = decisions.split(entity, unified_id, _body(request).get("records"), user=request.user)
        return Response(DecisionsWrittenSerializer({"entity": entity, "decisions": written}).data)


class ViewRecordAPI(TenantAPIView):
    """One row of a unified view with its source records (`sources`). An id whose entity was merged
    into another or split answers 301 with the id it became."""

    @extend_schema(operation_id="dcl_view_record", responses={
        200: OpenApiTypes.OBJECT, 301: OpenApiResponse(description="the id now names another entity: Location")})
    def get(self, request, entity: str, unified_id: str):
        if not _ENTITY_RE.match(entity):
            raise NotFound(f"No materialized view for {entity[:63]!r}.")
        row = unified_rows(entity, [unified_id]).get(unified_id)
        if row is None:
            target = redirect_target(entity, unified_id)
            if target is not None:
                return HttpResponsePermanentRedirect(f"/api/dcl/views/{entity}/{quote(target, safe='')}/")
            raise NotFound(f"No {entity} with the id {unified_id[:100]}.")
        return Response(_render(row))
