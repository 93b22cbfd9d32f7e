"""REST for the unified views: catalog, rows (paging, filters, sorting, search, CSV export) and the
lineage graph."""

from __future__ import annotations

import decimal
import json
import re
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, renderers, serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

from autonomos.core.api import TenantAPIView
from autonomos.core.pagination import Pagination
from autonomos.core.tenancy import current_tenant

from ..export import export_csv, view_export
from ..page_cache import VIEW_STAMP_SECONDS, cached_page_body, page_cache_key, view_stamp_key
from ..selectors import (
    LazyViewRows,
    RowsJSON,
    ViewQueryError,
    catalog_entry,
    lineage_graph,
    view_catalog,
    view_stamp,
)
from .schema import ViewRowsSchema

RESERVED_PARAMS = {"page", "page_size", "ordering", "search", "format", "columns"}
_ENTITY_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PAGE_CONTENT_TYPE = "application/json"


# Exact: the default context (28 digits) rounded values of the views' numeric(38, 10) columns.
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


def _decimal_text(value: Decimal) -> str:
    """A decimal without trailing zeros or exponent: 1.5000000000 → "1.5", 1E+2 → "100"."""
    return format(value.normalize(_EXACT), "f")


def _render(row: dict) -> dict:
    """Money and quantities as exact decimal strings (a JSON float would round them)."""
    return {k: _decimal_text(v) if isinstance(v, Decimal) else v for k, v in row.items()}


class ViewInfoSerializer(serializers.Serializer):
    entity = serializers.CharField()
    row_count = serializers.IntegerField()
    materialized_at = serializers.DateTimeField(allow_null=True)
    age_seconds = serializers.FloatField(allow_null=True, help_text="Seconds since the view was last materialized "
                                         "(its freshness); null when it never was.")
    version = serializers.IntegerField()
    url = serializers.CharField()


class ViewCatalogSerializer(serializers.Serializer):
    results = ViewInfoSerializer(many=True)


class BadQuery(exceptions.APIException):
    status_code = 400
    default_detail = "Bad query."
    default_code = "invalid_query"


class CSVRenderer(renderers.BaseRenderer):
    """Content negotiation only (`?format=csv`, `Accept: text/csv`): the rows endpoint answers CSV
    with a streamed response of its own, never through `render`."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):  # pragma: no cover - never called
        raise NotImplementedError("CSV responses are streamed by the view")


class FormatNegotiation(DefaultContentNegotiation):
    """DRF answers an unknown `?format=` with a 404; here it is the 400 of any bad parameter."""

    def select_renderer(self, request, renderers, format_suffix=None):
        wanted = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        if wanted and wanted not in {r.format for r in renderers}:
            raise BadQuery({"detail": f"Unknown format {wanted!r}.",
                            "format": ", ".join(r.format for r in renderers)})
        return super().select_renderer(request, renderers, format_suffix)


class ViewCatalogAPI(TenantAPIView):
    """The tenant's unified views: entity, row count, when last materialized and how long ago."""

    @extend_schema(operation_id="dcl_views_list", responses=ViewCatalogSerializer)
    def get(self, request):
        now = timezone.now()
        rows = [
            {
                "entity": v.entity,
                "row_count": v.row_count,
                "materialized_at": v.materialized_at,
                "age_seconds": round((now - v.materialized_at).total_seconds(), 3) if v.materialized_at else None,
                "version": v.version,
                "url": request.build_absolute_uri(f"/api/dcl/views/{v.entity}/"),
            }
            for v in view_catalog()
        ]
        return Response({"results": ViewInfoSerializer(rows, many=True).data})


class ViewRowsAPI(TenantAPIView):
    """Rows of one unified view.

    `?field=value` (or `field__gte=`, `__lte`, `__gt`, `__lt`, `__ne`, `__in=a,b`, `__isnull=true`,
    `__contains`, `__icontains`, `__startswith`) on any canonical field; `?ordering=-amount,close_date`;
    `?search=text`; `?page=` / `?page_size=` (≤ 1000). `__ne` also returns the rows where the field is
    empty. Numbers use a dot as decimal separator (a comma only between groups of three digits: `1,500.25`;
    `1,5` is a 400); a value beyond what the field can hold (an integer beyond int64, a decimal of 1e28 or
    more, a date past year 9999) is a 400 `invalid_query`, like any value that is not of the field's type.

    `count` is exact: counted once per view version and filter, then cached until the view is
    re-materialized. A page is cached (`DCL_PAGE_CACHE_SECONDS`) per tenant, view version and query
    (parameters in any order); only after authentication, and never an error.

    `?format=csv` (or `Accept: text/csv`): every matching row as CSV, streamed in constant memory
    (dcl/export.py), with the same filters, search and ordering; `?columns=a,b` picks the columns
    (the view's, plus `sources`: the systems of each row, and `source_records`). Paging parameters
    do not apply. Errors stay JSON.
    """

    pagination_class = Pagination
    renderer_classes = [renderers.JSONRenderer, CSVRenderer]
    content_negotiation_class = FormatNegotiation
    schema = ViewRowsSchema()  # the 200 response: the ontology's row schema of each entity (dcl/api/schema.py)

    @extend_schema(
        operation_id="dcl_view_rows",
        parameters=[
            OpenApiParameter("ordering", str),
            OpenApiParameter("search", str),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
            OpenApiParameter("format", str, enum=["json", "csv"],
                             description="csv: every matching row as a streamed CSV download (no paging)."),
            OpenApiParameter("columns", str, description="CSV only: comma-separated columns to export "
                             "(default: all, then `sources` and `source_records`)."),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, entity: str):
        view = catalog_entry(entity) if _ENTITY_RE.match(entity) else None
        if view is None:
            raise exceptions.NotFound(f"No materialized view for {entity!r}.")
        if request.accepted_renderer.format == "csv":
            return self._csv(request, entity)
        # A view changes only when it is re-materialized: a page is cached with the stamp of the
        # materialization it was rendered from (a query that is cached was valid when it was first
        # answered). The cache's key function puts the tenant in every key; DRF has authenticated
        # the caller before this method runs. The edge (dcl/api/edge.py) reads the same entries.
        seconds = settings.DCL_PAGE_CACHE_SECONDS
        stamp = view_stamp(view.version, view.materialized_at)
        page_key = page_cache_key(entity, origin=request.build_absolute_uri("/"), query=request.GET.lists())
        body = None
        if seconds > 0:
            stamp_key = view_stamp_key(entity)
            cached = cache.get_many([stamp_key, page_key])
            current = cached.get(stamp_key)
            if current is None:
                # Gone (expired, Redis restarted) or never written: the catalog is the truth. `add`
                # never overwrites the stamp of a materialization that committed meanwhile.
                cache.add(stamp_key, stamp, VIEW_STAMP_SECONDS)
            elif current == stamp:
                # Still the catalog's: keep it (the edge sends a request here before it expires).
                # A stamp that is not the catalog's is left to expire.
                cache.touch(stamp_key, VIEW_STAMP_SECONDS)
            body = cached_page_body(cached.get(page_key), stamp)
        if body is None:
            filters = {k: v for k, v in request.query_params.items() if k not in RESERVED_PARAMS}
            try:
                rows = LazyViewRows(
                    entity=entity,
                    filters=filters,
                    ordering=request.query_params.get("ordering"),
                    search=request.query_params.get("search") or None,
                    view=view,
                    as_json=settings.DCL_PAGE_JSON_SQL,
                )
            except ViewQueryError as exc:
                raise BadQuery({"detail": exc.message, **exc.details}) from None
            paginator = self.pagination_class()
            page = paginator.paginate_queryset(rows, request, view=self)
            if len(page) == 1 and isinstance(page[0], RowsJSON):
                # PostgreSQL rendered the rows (dcl/selectors.py); "results" is the last key.
                head = json.dumps(paginator.get_paginated_response([]).data, cls=DjangoJSONEncoder)
                if not head.endswith('"results": []}'):
                    raise RuntimeError("unexpected page envelope")
                body = (head[:-3] + page[0] + "}").encode()
            else:
                data = paginator.get_paginated_response([_render(row) for row in page]).data
                body = json.dumps(data, cls=DjangoJSONEncoder).encode()
            if seconds > 0:
                cache.set(page_key, (stamp, body), seconds)
        return HttpResponse(body, content_type=PAGE_CONTENT_TYPE)


    def _csv(self, request, entity: str) -> StreamingHttpResponse:
        params = request.query_params
        filters = {k: v for k, v in params.items() if k not in RESERVED_PARAMS}
        columns = [c.strip() for c in params.get("columns", "").split(",") if c.strip()] or None
        try:
            export = view_export(entity=entity, filters=filters, ordering=params.get("ordering"),
                                 search=params.get("search") or None, columns=columns)
        except ViewQueryError as exc:
            raise BadQuery({"detail": exc.message, **exc.details}) from None
        response = StreamingHttpResponse(export_csv(export), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="{current_tenant().slug}-{entity}-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"  # a proxy in front passes each page on as it comes
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        # Only the rows are CSV (streamed by `_csv`); whatever else this view answers when CSV was
        # asked for (an error, OPTIONS' description) is JSON.
        renderer = getattr(request, "accepted_renderer", None)
        if isinstance(response, Response) and getattr(renderer, "format", "") == "csv":
            request.accepted_renderer, request.accepted_media_type = renderers.JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


class LineageGraphAPI(TenantAPIView):
    """Lineage as a graph: source fields → canonical fields → views → agents."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response(lineage_graph())
