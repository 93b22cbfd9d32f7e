"""Dashboard pages of the data connection layer: unified views (browse, filter, sort, a merged
record's sources), the lineage graph and stream operations."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

import redis
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from autonomos.core import redis_names
from autonomos.core.pages import first_available, int_param, optional, page
from autonomos.core.redis import get_redis
from autonomos.core.roles import Role, role_required
from autonomos.core.tenancy import current_tenant

logger = logging.getLogger(__name__)

PAGE_SIZES = (25, 50, 100)
# Columns shown first when a view has more than fit on a screen; the rest are one click away.
PREFERRED_COLUMNS = {
    "account": ["name", "website", "industry", "country", "annual_revenue", "employee_count"],
    "contact": ["first_name", "last_name", "email", "title", "phone", "country"],
    "opportunity": ["name", "stage", "amount", "currency", "close_date", "is_won", "forecast_category"],
    "cloud_resource": ["name", "provider_name", "service_name", "resource_type", "region_id", "status"],
    "cost": ["charge_period_start", "service_name", "resource_id", "region_id", "billed_cost", "effective_cost"],
}
SYSTEM_COLUMNS = ["unified_id", "account_unified_id", "source_count", "materialized_at"]
# The filters a person can pick; the selector validates the value against the field's type.
OPERATORS = {"exact": "equals", "icontains": "contains", "ne": "is not", "gte": "≥", "lte": "≤", "isnull": "is empty"}


def _catalog() -> list[Any]:
    catalog = optional("dcl.selectors.view_catalog")
    return list(catalog()) if catalog else []


def _ontology_fields(entity: str) -> list[str]:
    get_ontology = optional("aam.ontology.get_ontology")
    if get_ontology is None:
        return []
    spec = get_ontology().as_dict()["entities"].get(entity)
    return [f["name"] for f in spec["fields"]] if spec else []


def _columns(entity: str) -> list[str]:
    """The view's columns in the ontology's order (system columns last)."""
    fields = _ontology_fields(entity)
    view_columns = optional("dcl.selectors.view_columns")
    present = list((view_columns(entity) or {}) if view_columns else [])
    ordered = [f for f in fields if not present or f in present]
    ordered += [c for c in present if c not in ordered and c not in SYSTEM_COLUMNS]
    return ordered + [c for c in SYSTEM_COLUMNS if (not present or c in present) and c not in ordered]


def _rows(entity: str, *, filters=None, ordering=None, search=None, limit=None,
          offset=0) -> tuple[list[dict], int | None]:
    """A page of a unified view and the number of matching rows (when the selector can count)."""
    view_rows = optional("dcl.selectors.view_rows")
    if view_rows is None:
        return [], 0
    rows = list(view_rows(entity=entity, filters=filters or None, ordering=ordering, search=search or None,
                          limit=limit, offset=offset))
    count = optional("dcl.selectors.view_count")
    total = count(entity=entity, filters=filters or None, search=search or None) if count else None
    return rows, total


# ---- Views -----------------------------------------------------------------------------------


@login_required
def views_page(request: HttpRequest) -> HttpResponse:
    catalog = _catalog()
    return page(request, "dcl/views.html", "views", {
        "catalog": catalog,
        "available": optional("dcl.selectors.view_catalog") is not None,
        "total_rows": sum(getattr(v, "row_count", 0) or 0 for v in catalog),
    })


@login_required
def view_browse_page(request: HttpRequest, entity: str) -> HttpResponse:
    catalog = _catalog()
    info = next((v for v in catalog if getattr(v, "entity", None) == entity), None)
    fields = _ontology_fields(entity)
    if info is None and not fields:
        raise Http404("Unknown view")
    all_columns = _columns(entity)
    chosen = [c for c in request.GET.getlist("col") if c in all_columns]
    preferred = [c for c in PREFERRED_COLUMNS.get(entity, []) if c in all_columns] or fields[:6]
    columns = chosen or preferred + ["source_count"]

    sort = request.GET.get("sort", "")
    if sort.lstrip("-") not in all_columns:
        sort = ""
    search = request.GET.get("q", "").strip()[:200]
    filter_field = request.GET.get("field", "")
    filter_op = request.GET.get("op", "exact")
    if filter_op not in OPERATORS:
        filter_op = "exact"
    filter_value = request.GET.get("value", "").strip()[:200]
    if filter_op == "isnull":
        filter_value = filter_value or "true"
    filters = {}
    if filter_field in all_columns and filter_value:
        filters = {filter_field if filter_op == "exact" else f"{filter_field}__{filter_op}": filter_value}
    per_page = int_param(request, "size", 50)
    if per_page not in PAGE_SIZES:
        per_page = 50
    page_no = int_param(request, "page", 1, low=1, high=100000)
    offset = (page_no - 1) * per_page
    error = ""
    try:
        rows, total = _rows(entity, filters=filters, ordering=[sort] if sort else None, search=search,
                            limit=per_page + 1, offset=offset)
    except ValueError as exc:  # the selector's ViewQueryError: a value of the wrong type, an unknown field
        details = getattr(exc, "details", None) or {}
        rows, total = [], 0
        error = " ".join([getattr(exc, "message", str(exc)), *(str(v) for v in details.values())])
    has_next = len(rows) > per_page if total is None else offset + per_page < total
    rows = rows[:per_page]

    base = {"q": search, "field": filter_field if filters else "", "value": filter_value if filters else "",
            "op": filter_op if filters and filter_op != "exact" else "", "size": per_page if per_page != 50 else ""}
    col_params = [("col", c) for c in chosen]

    def url(**over: Any) -> str:
        params = {**base, "sort": sort, "page": page_no, **over}
        pairs = [(k, v) for k, v in params.items() if v not in ("", None) and not (k == "page" and v == 1)]
        return "?" + urlencode(pairs + col_params)

    headers = []
    for c in columns:
        next_sort = "-" + c if sort == c else c
        headers.append({"name": c, "label": c.replace("_", " ").capitalize(), "url": url(sort=next_sort, page=1),
                        "sorted": sort.lstrip("-") == c, "desc": sort == "-" + c})
    table_rows = [{"id": r.get("unified_id"), "cells": [_cell(r.get(c)) for c in columns],
                   "sources": r.get("source_count")} for r in rows]
    for i, h in enumerate(headers):
        h["num"] = any(r["cells"][i]["num"] for r in table_rows)
    return page(request, "dcl/view_browse.html", "views", {
        "entity": entity, "info": info, "columns": columns, "all_columns": all_columns, "chosen": chosen,
        "headers": headers, "rows": table_rows, "total": total, "page_no": page_no, "per_page": per_page,
        "page_sizes": PAGE_SIZES, "has_next": has_next, "has_prev": page_no > 1,
        "next_url": url(page=page_no + 1), "prev_url": url(page=page_no - 1),
        "search": search, "filter_field": filter_field, "filter_value": filter_value, "sort": sort,
        "filter_op": filter_op, "operators": OPERATORS.items(),
        "first_row": offset + 1 if rows else 0, "last_row": offset + len(rows), "error": error,
        "catalog": catalog,
    })


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
        raise Http404("No such record")
    sources = [dict(s) for s in (record.get("sources") or []) if isinstance(s, dict)]
    from connectors.models import Connection

    names = dict(Connection.objects.filter(pk__in=[s.get("connection_id") for s in sources]).values_list("pk", "name"))
    for s in sources:
        s["connection_name"] = names.get(s.get("connection_id"), f"connection {s.get('connection_id')}")
    fields = [(k, _cell(v)["value"]) for k, v in record.items() if k not in ("sources",)]
    source_records = []
    fetch_sources = first_available("dcl.selectors.view_row_sources", "dcl.selectors.source_records")
    if fetch_sources is not None:
        source_records = list(fetch_sources(entity=entity, unified_id=unified_id))
    title = next((str(record[k]) for k in ("name", "email", "resource_name", "id") if record.get(k)), unified_id)
    if entity == "contact" and (record.get("first_name") or record.get("last_name")):
        title = " ".join(str(record[k]) for k in ("first_name", "last_name") if record.get(k))
    return page(request, "dcl/view_record.html", "views", {
        "title": title, "entity": entity, "record": record, "fields": fields, "sources": sources,
        "source_records": source_records, "unified_id": unified_id,
    })


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


def _api_exists(path: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True


@login_required
def lineage_page(request: HttpRequest) -> HttpResponse:
    return page(request, "dcl/lineage.html", "lineage", {"graph_available": _api_exists("/api/dcl/graph/")})


# ---- Operations ------------------------------------------------------------------------------


def _stream_figures(tenant, connection) -> dict[str, Any]:
    """Length, lag, pending and last batch of a connection's stream (read-only Redis reads)."""
    stats = optional("dcl.selectors.stream_stats")
    if stats is not None:
        return dict(stats(connection=connection))
    r = get_redis()
    key = redis_names.sync_stream(tenant, connection.pk)
    out: dict[str, Any] = {"key": key, "length": 0, "lag": None, "pending": None, "consumers": None,
                           "last_delivered": None, "last_delivered_at": None, "last_batch": None}
    try:
        if not r.exists(key):
            return out
        out["length"] = r.xlen(key)
        group = next((g for g in r.xinfo_groups(key) if g.get("name") == redis_names.consumer_group(tenant)), None)
        if group is not None:
            out["lag"] = group.get("lag")
            out["pending"] = group.get("pending")
            out["consumers"] = group.get("consumers")
            out["last_delivered"] = group.get("last-delivered-id")
            if out["last_delivered"] and out["last_delivered"] != "0-0":
                # Acknowledged batches are trimmed away; the id still tells when the last one was added.
                out["last_delivered_at"] = datetime.fromtimestamp(int(out["last_delivered"].split("-")[0]) / 1000,
                                                                  tz=UTC)
        # The payload is binary (Arrow): read the newest entry with a client that does not decode.
        newest = _raw_redis().xrevrange(key, count=1)
        if newest:
            entry_id, fields = newest[0]
            text = {_text(k): v for k, v in fields.items()}
            entry = _text(entry_id)
            out["last_batch"] = {
                "id": entry,
                "at": datetime.fromtimestamp(int(entry.split("-")[0]) / 1000, tz=UTC),
                "batch_id": _text(text.get("batch_id", b"")),
                "entity": _text(text.get("entity", b"")),
                "source_object": _text(text.get("source_object", b"")),
                "count": _text(text.get("count", b"")),
                "mapping_version": _text(text.get("mapping_version", b"")),
            }
    except Exception as exc:  # noqa: BLE001 - an outage shows as a message, not a 500
        logger.warning("stream figures unavailable: %s", exc)
        out["error"] = "Redis is not reachable."
    return out


@lru_cache(maxsize=2)
def _raw_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)


def _raw_redis() -> redis.Redis:
    return _raw_client(settings.REDIS_URL)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _operations_rows():
    from connectors.models import Connection

    tenant = current_tenant()
    lister = optional("connectors.selectors.connection_list")
    connections = list(lister()) if lister else list(Connection.objects.all())
    return [{"connection": c, **_stream_figures(tenant, c)} for c in connections]


def _ops_services():
    return (
        first_available("dcl.operations.stream_replay", "dcl.services.connection_replay"),
        first_available("dcl.operations.consumer_group_reset", "dcl.services.stream_group_reset"),
    )


def _dead_letters(tenant) -> dict[str, Any]:
    """Batches the consumer could not apply, with the newest reasons (read-only)."""
    key_of = optional("dcl.consumer.dead_letter_key")
    if key_of is None:
        return {"available": False, "count": 0, "latest": []}
    key = key_of(tenant)
    try:
        r = _raw_redis()
        latest = []
        for entry_id, fields in r.xrevrange(key, count=5):
            latest.append({"at": datetime.fromtimestamp(int(_text(entry_id).split("-")[0]) / 1000, tz=UTC),
                           "reason": _text(fields.get(b"dlq_reason", b""))[:300],
                           "batch_id": _text(fields.get(b"batch_id", b"")),
                           "entity": _text(fields.get(b"entity", b""))})
        return {"available": True, "count": r.xlen(key), "latest": latest}
    except redis.RedisError:
        return {"available": True, "count": None, "latest": []}


@login_required
def operations_page(request: HttpRequest) -> HttpResponse:
    replay, reset = _ops_services()
    template = "dcl/_operations_rows.html" if request.GET.get("partial") else "dcl/operations.html"
    return page(request, template, "operations", {
        "rows": _operations_rows(),
        "can_replay": replay is not None,
        "can_reset": reset is not None,
        "group": redis_names.consumer_group(current_tenant()),
        "dead": _dead_letters(current_tenant()),
        "tenant_slug": current_tenant().slug,
    })


@role_required(Role.ADMIN)
@login_required
@require_POST
def operations_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    from connectors.models import Connection

    connection = Connection.objects.filter(pk=pk).first()
    if connection is None:
        raise Http404("No such connection")
    replay, reset = _ops_services()
    service = {"replay": replay, "reset": reset}.get(action)
    if action not in ("replay", "reset"):
        raise Http404("Unknown action")
    if service is None:
        messages.error(request, "This action is not available on this build yet; the figures are read-only.")
        return redirect("dcl_ui:operations")
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
