"""Dashboard pages of the data connection layer: unified views (browse, filter, sort, the systems
each row came from, CSV export through the API, a merged record's sources), the lineage graph and
stream operations (admins only: stream, consumer-group and dead-letter internals)."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from aam.ontology import get_ontology
from aam.streams import group_name
from autonomos.core.pages import int_param, page
from autonomos.core.roles import Role, has_role, role_required
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection
from connectors.selectors import connection_list

from .operations import consumer_group_reset, stream_replay
from .resolution.engine import ENTITIES as RESOLVED_ENTITIES
from .resolution.records import record_explanations, redirect_target
from .selectors import (
    DEFAULT_ORDERING,
    connection_stream_stats,
    dead_letter_summary,
    record_sources,
    row_sources,
    source_labels,
    view_catalog,
    view_columns,
    view_count,
    view_rows,
)

logger = logging.getLogger(__name__)

PAGE_SIZES = (25, 50, 100)
# Columns shown first, chosen to fit beside the "Sources" column on a 1280 px screen (the rest are one
# click away in "Columns", and a wider choice scrolls inside the card).
PREFERRED_COLUMNS = {
    "account": ["name", "industry", "country", "annual_revenue", "employee_count"],
    "contact": ["first_name", "last_name", "email", "title", "country"],
    "opportunity": ["name", "stage", "amount", "currency", "close_date", "is_won"],
    "cloud_resource": ["name", "service_name", "resource_type", "region_id", "status"],
    "cost": ["charge_period_start", "service_name", "resource_id", "region_id", "billed_cost"],
}
SYSTEM_COLUMNS = ["unified_id", "account_unified_id", "source_count", "materialized_at"]
# Not a column of the view: the systems each row came from, named from its lineage (`sources`).
SOURCES_COLUMN = "sources"
# The filters a person can pick; the selector validates the value against the field's type.
OPERATORS = {"exact": "equals", "icontains": "contains", "ne": "is not", "gte": "≥", "lte": "≤", "isnull": "is empty"}


def _ontology_fields(entity: str) -> list[str]:
    spec = get_ontology().as_dict()["entities"].get(entity)
    return [f["name"] for f in spec["fields"]] if spec else []


def _columns(entity: str) -> list[str]:
    """The view's columns in the ontology's order (system columns last)."""
    fields = _ontology_fields(entity)
    present = list(view_columns(entity) or {})
    ordered = [f for f in fields if not present or f in present]
    ordered += [c for c in present if c not in ordered and c not in SYSTEM_COLUMNS]
    return ordered + [c for c in SYSTEM_COLUMNS if (not present or c in present) and c not in ordered]


def _rows(entity: str, *, filters=None, ordering=None, search=None, limit=None,
          offset=0) -> tuple[list[dict], int]:
    """A page of a unified view and the number of matching rows."""
    rows = view_rows(entity=entity, filters=filters or None, ordering=ordering, search=search or None,
                     limit=limit, offset=offset)
    return rows, view_count(entity=entity, filters=filters or None, search=search or None)


# ---- Views -----------------------------------------------------------------------------------


@login_required
def views_page(request: HttpRequest) -> HttpResponse:
    catalog = view_catalog()
    return page(request, "dcl/views.html", "views", {
        "catalog": catalog,
        "total_rows": sum(getattr(v, "row_count", 0) or 0 for v in catalog),
    })


class BadPageQuery(ValueError):
    """A parameter of the view page that names no column or operator of the view (a 400)."""


def _page_query(request: HttpRequest, entity: str, all_columns: list[str]) -> dict[str, Any]:
    """The page's parameters, checked: an unknown field, operator, sort column or column raises
    BadPageQuery (the page answers 400 and says which); junk paging falls back to the defaults."""
    sortable = [c for c in all_columns if c != SOURCES_COLUMN]
    chosen = request.GET.getlist("col")
    unknown = [c for c in chosen if c not in all_columns]
    if unknown:
        raise BadPageQuery(f"Unknown column {unknown[0]!r}: {entity} has no such column.")
    sort = request.GET.get("sort", "")
    if sort and sort.lstrip("-") not in sortable:
        raise BadPageQuery(f"Cannot sort by {sort.lstrip('-')!r}: {entity} has no such column.")
    filter_field = request.GET.get("field", "")
    filter_op = request.GET.get("op", "") or "exact"
    if filter_op not in OPERATORS:
        raise BadPageQuery(f"Unknown condition {filter_op!r}: use one of {', '.join(OPERATORS)}.")
    filter_value = request.GET.get("value", "").strip()[:200]
    if filter_op == "isnull":
        filter_value = filter_value or "true"
    if filter_field and filter_field not in sortable:
        raise BadPageQuery(f"Unknown field {filter_field!r}: {entity} has no such field.")
    filters = {}
    if filter_field and filter_value:
        filters = {filter_field if filter_op == "exact" else f"{filter_field}__{filter_op}": filter_value}
    per_page = int_param(request, "size", 50)
    return {
        "chosen": list(dict.fromkeys(chosen)), "sort": sort, "search": request.GET.get("q", "").strip()[:200],
        "filter_field": filter_field, "filter_op": filter_op, "filter_value": filter_value, "filters": filters,
        "per_page": per_page if per_page in PAGE_SIZES else 50,
        "page_no": int_param(request, "page", 1, low=1, high=100000),
    }


def _export_url(entity: str, q: dict[str, Any]) -> str:
    """The API's CSV export of exactly what the page shows: its filter, search, sort and, when
    the reader picked them, its columns (dcl/api/views.py, dcl/export.py)."""
    params: list[tuple[str, str]] = [("format", "csv")]
    params += [(k, v) for k, v in q["filters"].items()]
    if q["search"]:
        params.append(("search", q["search"]))
    if q["sort"]:
        params.append(("ordering", q["sort"]))
    if q["chosen"]:
        params.append(("columns", ",".join(q["chosen"])))
    return f"/api/dcl/views/{entity}/?{urlencode(params)}"


def _source_cell(row: dict, labels) -> list[dict[str, Any]]:
    """The systems a row came from, for its "Sources" cell: name, and a title with kind and records."""
    refs = [r for r in row.get("sources") or [] if isinstance(r, dict)]
    out = []
    for label in row_sources(refs, labels):
        records = [f"{r.get('source_object')} {r.get('source_id')}" for r in refs
                   if r.get("connection_id") == label.connection_id]
        detail = " · ".join(x for x in (label.kind, ", ".join(records[:3]) + (" …" if len(records) > 3 else "")) if x)
        out.append({"name": label.name, "title": detail, "removed": label.removed})
    return out


@login_required
def view_browse_page(request: HttpRequest, entity: str) -> HttpResponse:
    catalog = view_catalog()
    info = next((v for v in catalog if getattr(v, "entity", None) == entity), None)
    fields = _ontology_fields(entity)
    if info is None and not fields:
        raise Http404("Unknown view")
    all_columns = [*_columns(entity), SOURCES_COLUMN]
    error, status = "", 200
    try:
        q = _page_query(request, entity, all_columns)
    except BadPageQuery as exc:
        error, status = str(exc), 400
        q = {"chosen": [], "sort": "", "search": "", "filter_field": "", "filter_op": "exact", "filter_value": "",
             "filters": {}, "per_page": 50, "page_no": 1}
    chosen, sort, search, filters, per_page, page_no = (q["chosen"], q["sort"], q["search"], q["filters"],
                                                         q["per_page"], q["page_no"])
    preferred = [c for c in PREFERRED_COLUMNS.get(entity, []) if c in all_columns] or fields[:6]
    columns = chosen or [*preferred, SOURCES_COLUMN]
    offset = (page_no - 1) * per_page
    rows, total = [], 0
    if not error:
        try:
            rows, total = _rows(entity, filters=filters, ordering=[sort] if sort else None, search=search,
                                limit=per_page + 1, offset=offset)
        except ValueError as exc:  # the selector's ViewQueryError: a value of the wrong type, an unknown field
            details = getattr(exc, "details", None) or {}
            error, status = " ".join([getattr(exc, "message", str(exc)), *(str(v) for v in details.values())]), 400
    has_next = offset + per_page < total
    rows = rows[:per_page]
    # The order the rows are in: the reader's, or the entity's default (dcl/selectors.py).
    default_sort = DEFAULT_ORDERING.get(entity, "") if DEFAULT_ORDERING.get(entity) in all_columns else ""
    current_sort = sort or default_sort

    base = {"q": search, "field": q["filter_field"] if filters else "", "value": q["filter_value"] if filters else "",
            "op": q["filter_op"] if filters and q["filter_op"] != "exact" else "",
            "size": per_page if per_page != 50 else ""}
    col_params = [("col", c) for c in chosen]

    def url(**over: Any) -> str:
        params = {**base, "sort": sort, "page": page_no, **over}
        pairs = [(k, v) for k, v in params.items() if v not in ("", None) and not (k == "page" and v == 1)]
        return "?" + urlencode(pairs + col_params)

    headers = []
    for c in columns:
        next_sort = "-" + c if current_sort == c else c
        headers.append({"name": c, "label": c.replace("_", " ").capitalize(),
                        "url": url(sort=next_sort, page=1) if c != SOURCES_COLUMN else "",
                        "sorted": current_sort.lstrip("-") == c, "desc": current_sort == "-" + c})
    labels = source_labels() if SOURCES_COLUMN in columns and rows else {}
    table_rows = [{"id": r.get("unified_id"),
                   "cells": [{"kind": "sources", "sources": _source_cell(r, labels), "value": "", "num": False}
                             if c == SOURCES_COLUMN
                             else _cell(r.get(c)) for c in columns]}
                  for r in rows]
    for i, h in enumerate(headers):
        h["num"] = any(r["cells"][i]["num"] for r in table_rows)
    return page(request, "dcl/view_browse.html", "views", {
        "entity": entity, "info": info, "columns": columns, "all_columns": all_columns, "chosen": chosen,
        "filter_columns": [c for c in all_columns if c != SOURCES_COLUMN],
        "headers": headers, "rows": table_rows, "total": total, "page_no": page_no, "per_page": per_page,
        "page_sizes": PAGE_SIZES, "has_next": has_next, "has_prev": page_no > 1,
        "next_url": url(page=page_no + 1), "prev_url": url(page=page_no - 1),
        "search": search, "filter_field": q["filter_field"], "filter_value": q["filter_value"], "sort": sort,
        "filter_op": q["filter_op"], "operators": OPERATORS.items(),
        "sort_label": current_sort.lstrip("-").replace("_", " "), "sort_desc": current_sort.startswith("-"),
        "sort_is_default": not sort and bool(default_sort),
        "export_url": "" if error or not info else _export_url(entity, q),
        "first_row": offset + 1 if rows else 0, "last_row": offset + len(rows), "error": error,
        "catalog": catalog,
    }, status=status)


@login_required
def view_record_page(request: HttpRequest, entity: str, unified_id: str) -> HttpResponse:
    if entity not in PREFERRED_COLUMNS and not _ontology_fields(entity):
        raise Http404("Unknown view")
    try:
        rows, _ = _rows(entity, filters={"unified_id": unified_id}, limit=1)
    except ValueError:
        rows = []
    record = rows[0] if rows else None
    if record is None:
        # merged into another entity or split since: the id answers with the one it became
        target = redirect_target(entity, unified_id)
        if target is not None:
            return redirect("dcl_ui:view-record", entity=entity, unified_id=target, permanent=True)
        raise Http404("No such record")
    lineage = record_sources(entity=entity, record=record)
    fields = [(k, _cell(v)["value"]) for k, v in record.items() if k not in ("sources",)]
    compare = [_compare_row(f, record, lineage)
               for f in lineage.fields
               if record.get(f) is not None or any(r["values"].get(f) is not None for r in lineage.rows)]
    title = next((str(record[k]) for k in ("name", "email", "resource_name", "id") if record.get(k)), unified_id)
    if entity == "contact" and (record.get("first_name") or record.get("last_name")):
        title = " ".join(str(record[k]) for k in ("first_name", "last_name") if record.get(k))
    return page(request, "dcl/view_record.html", "views", {
        "title": title, "entity": entity, "record": record, "fields": fields, "lineage": lineage,
        "compare": compare, "unified_id": unified_id,
        # merge and split by hand (dcl/review_pages.py), for the entities merged across sources
        "can_resolve": entity in RESOLVED_ENTITIES and has_role(request.user, Role.OPERATOR),
        "probabilities": any(r.get("probability") is not None for r in lineage.rows),
        # why the sources are one entity: each joining pair and the match weights that decided
        "explanations": (record_explanations(entity=entity, records=[(r["connection_id"], r["source_id"])
                                                                     for r in lineage.rows])
                         if entity in RESOLVED_ENTITIES and len(lineage.rows) > 1 else []),
    })


def _compare_row(field: str, record: dict, lineage) -> dict[str, Any]:
    """Side by side, one canonical field: the unified value and each source record's own value.

    A value-mapped field (docs/adr/0014) shows the unified canonical value with the source value that
    won the merge (`F_source`) and its status; each source record shows its own value (with the
    vendor's label of a code) and what it maps to. A source value differs when it is not the one that
    won: for a value-mapped field that is the source's own (decoded) value against `F_source`, never
    a source label against a canonical value."""
    source_column, status_column = f"{field}_source", f"{field}_status"
    valued = field in lineage.value_fields and status_column in record
    row: dict[str, Any] = {"field": field, "unified": _cell(record.get(field))["value"], "values": []}
    if valued:
        row.update(unified_source=_cell(record.get(source_column))["value"], unified_status=record.get(status_column))
    for r in lineage.rows:
        own = r["values"].get(field)
        cell: dict[str, Any] = {"value": _cell(own)["value"], "differs": False}
        if valued and own is not None:
            meaning = r.get("value_maps", {}).get(field) or {}
            label = meaning.get("label")
            shown = label if label not in (None, "") else own
            cell.update(label=label if label not in (None, "") and str(label) != str(own) else None,
                        canonical=meaning.get("canonical"), status=meaning.get("status"))
            won = record.get(source_column) if source_column in record else record.get(field)
            cell["differs"] = r["found"] and str(shown) != str(won)
        elif own is not None:
            cell["differs"] = r["found"] and cell["value"] != row["unified"]
        row["values"].append(cell)
    return row


# ---- Lineage ---------------------------------------------------------------------------------


def _cell(value: Any) -> dict[str, Any]:
    """A view value as people read it: 8,800,000 rather than 8800000.0000000000, dates without microseconds."""
    if isinstance(value, bool) or value is None:
        return {"value": value, "num": False}
    if isinstance(value, Decimal | float | int):
        d = Decimal(str(value))
        text = f"{d:,.0f}" if d == d.to_integral_value() else f"{d:,.2f}".rstrip("0").rstrip(".")
        return {"value": text, "num": True}
    if isinstance(value, datetime):
        return {"value": value.strftime("%Y-%m-%d %H:%M"), "num": False}
    if isinstance(value, date):
        return {"value": value.isoformat(), "num": False}
    if isinstance(value, dict | list):
        return {"value": json.dumps(value, default=str)[:200], "num": False}
    return {"value": value, "num": False}


@login_required
def lineage_page(request: HttpRequest) -> HttpResponse:
    return page(request, "dcl/lineage.html", "lineage", {})


# ---- Operations ------------------------------------------------------------------------------


@role_required(Role.ADMIN)  # stream, consumer-group and dead-letter internals: admins only
@login_required
def operations_page(request: HttpRequest) -> HttpResponse:
    template = "dcl/_operations_rows.html" if request.GET.get("partial") else "dcl/operations.html"
    tenant = current_tenant()
    return page(request, template, "operations", {
        "rows": [{"connection": c, **connection_stream_stats(connection=c)} for c in connection_list()],
        "group": group_name(tenant),
        "dead": dead_letter_summary(),
        "tenant_slug": tenant.slug,
    })


@role_required(Role.ADMIN)
@login_required
@require_POST
def operations_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    connection = Connection.objects.filter(pk=pk).first()
    if connection is None:
        raise Http404("No such connection")
    service = {"replay": stream_replay, "reset": consumer_group_reset}.get(action)
    if service is None:
        raise Http404("Unknown action")
    if request.POST.get("confirm") != connection.name:
        messages.error(request, f"Type the connection's name (“{connection.name}”) to confirm.")
        return redirect("dcl_ui:operations")
    try:
        service(connection=connection, user=request.user)
    except Exception as exc:  # noqa: BLE001 - e.g. a sync is running: say why
        logger.info("operations %s refused: %s", action, exc)
        messages.error(request, f"Not done: {getattr(exc, 'detail', None) or exc}")
        return redirect("dcl_ui:operations")
    done = "replay from the start is queued" if action == "replay" else "consumer group reset"
    messages.success(request, f"{connection.name}: {done}. The action is in the audit log.")
    return redirect("dcl_ui:operations")
