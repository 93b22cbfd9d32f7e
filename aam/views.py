"""Dashboard pages of the adaptive API mesh: the monitor (drift, repairs, mappings, quarantine),
the ontology with what maps onto it, and the human review queue."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Avg, Count, Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from autonomos.core.events import read_events
from autonomos.core.pages import Column, first_available, has_field, int_param, model_or_none, optional, page, table
from autonomos.core.tenancy import current_tenant

logger = logging.getLogger(__name__)

DECISIONS = ("approved", "rejected", "flagged")
KINDS = ("mapping", "drift", "asset")
RISKS = ("high", "medium", "low")


def _connections():
    lister = optional("connectors.selectors.connection_list")
    if lister is not None:
        return list(lister())
    from connectors.models import Connection

    return list(Connection.objects.all())


def _order_newest(qs):
    for name in ("created_at", "detected_at", "decided_at", "id"):
        if has_field(qs.model, name):
            return qs.order_by(f"-{name}")
    return qs


def _since(qs, days: int):
    for name in ("created_at", "detected_at"):
        if has_field(qs.model, name):
            return qs.filter(**{f"{name}__gte": timezone.now() - timedelta(days=days)})
    return qs


def _by_connection(qs, connection_id: int | None):
    if connection_id and has_field(qs.model, "connection"):
        return qs.filter(connection_id=connection_id)
    return qs


# ---- Monitor ---------------------------------------------------------------------------------

DRIFT_COLUMNS = [
    Column("When", ("created_at", "detected_at"), "time"),
    Column("Connection", ("connection.name",)),
    Column("Object", ("source_object", "object_name")),
    Column("Change", ("kind", "change_type", "change"), "badge"),
    Column("Field", ("field_name", "field", "source_field"), "code"),
    Column("Detail", ("summary", "description", "detail")),
    Column("Status", ("status", "resolution"), "badge"),
    Column("Evidence", ("evidence",), "json"),
]
QUARANTINE_COLUMNS = [
    Column("When", ("created_at", "quarantined_at"), "time"),
    Column("Connection", ("connection.name",)),
    Column("Object", ("source_object", "object_name")),
    Column("Position", ("position", "line", "line_number"), "number"),
    Column("Reason", ("reason",)),
    Column("Record", ("raw", "record", "payload"), "json"),
]
REPAIR_COLUMNS = [
    Column("When", ("created_at", "applied_at"), "time"),
    Column("Connection", ("connection.name",)),
    Column("Object", ("source_object", "object_name")),
    Column("From", ("old_field", "from_field", "source_field_before"), "code"),
    Column("To", ("new_field", "to_field", "source_field"), "code"),
    Column("Canonical", ("canonical_field",), "code"),
    Column("Confidence", ("confidence",), "confidence"),
    Column("How", ("status", "decision", "method"), "badge"),
]


def _drift_events(connection_id: int | None, days: int) -> list:
    model = model_or_none("aam", "DriftEvent")
    if model is None:
        return []
    return list(_by_connection(_since(_order_newest(model.objects.all()), days), connection_id)[:200])


def _quarantine(connection_id: int | None) -> tuple[list, int]:
    model = None
    for app, name in (("aam", "QuarantinedRecord"), ("aam", "QuarantineRecord"), ("aam", "Quarantine"),
                      ("dcl", "QuarantinedRecord")):
        model = model_or_none(app, name)
        if model is not None:
            break
    if model is None:
        return [], 0
    qs = _by_connection(_order_newest(model.objects.all()), connection_id)
    return list(qs[:100]), qs.count()


def _repairs(connection_id: int | None, days: int) -> tuple[list, str]:
    """Repairs from their own model when the app has one, else from the `repair_applied` events."""
    for name in ("Repair", "MappingRepair", "RepairAction"):
        model = model_or_none("aam", name)
        if model is not None:
            return list(_by_connection(_since(_order_newest(model.objects.all()), days), connection_id)[:100]), "model"
    events = [e for e in read_events(current_tenant()) if e["type"] == "repair_applied"]
    rows = []
    for e in reversed(events):
        p = e["payload"]
        if connection_id and str(p.get("connection_id")) != str(connection_id):
            continue
        rows.append({"created_at": _parse_ts(e["ts"]), **p})
    return rows[:100], "events"


def _parse_ts(ts: str):
    from django.utils.dateparse import parse_datetime

    return parse_datetime(ts) if ts else None


def _mapping_versions(connection_id: int | None) -> list[dict[str, Any]]:
    """One row per connection and source object: its current version, coverage and confidence."""
    versions = first_available("aam.selectors.mapping_versions", "aam.selectors.mapping_summary")
    if versions is not None:
        return list(versions(connection_id=connection_id) if connection_id else versions())
    model = model_or_none("aam", "FieldMapping")
    if model is None or not has_field(model, "connection"):
        return []
    obj = "source_object" if has_field(model, "source_object") else None
    keys = ["connection_id", "connection__name"] + ([obj] if obj else [])
    if has_field(model, "entity"):
        keys.append("entity")
    qs = _by_connection(model.objects.all(), connection_id)
    annotations: dict[str, Any] = {"fields": Count("id")}
    if has_field(model, "version"):
        annotations["version"] = Max("version")
    if has_field(model, "confidence"):
        annotations["confidence"] = Avg("confidence")
    if has_field(model, "updated_at"):
        annotations["updated_at"] = Max("updated_at")
    if has_field(model, "canonical_field"):
        annotations["mapped"] = Count("canonical_field")
    return list(qs.values(*keys).annotate(**annotations).order_by(*keys))


@login_required
def monitor_page(request: HttpRequest) -> HttpResponse:
    connections = _connections()
    connection_id = int_param(request, "connection", 0) or None
    days = int_param(request, "days", 7, low=1, high=365)
    drift = _drift_events(connection_id, days)
    quarantined, quarantined_total = _quarantine(connection_id)
    repairs, repairs_source = _repairs(connection_id, days)
    versions = _mapping_versions(connection_id)
    return page(request, "aam/monitor.html", "aam", {
        "connections": connections,
        "connection_id": connection_id,
        "days": days,
        "drift": table(drift, DRIFT_COLUMNS),
        "drift_count": len(drift),
        "repairs": table(repairs, REPAIR_COLUMNS),
        "repairs_count": len(repairs),
        "repairs_source": repairs_source,
        "versions": versions,
        "quarantine": table(quarantined, QUARANTINE_COLUMNS),
        "quarantined_total": quarantined_total,
        "drift_available": model_or_none("aam", "DriftEvent") is not None,
        "mapping_available": model_or_none("aam", "FieldMapping") is not None,
    })


# ---- Ontology --------------------------------------------------------------------------------


def _ontology() -> list[dict[str, Any]]:
    """[{name, fields: [{name, type, description}]}] whatever shape the loader returns."""
    get_ontology = optional("aam.ontology.get_ontology")
    if get_ontology is None:
        return []
    raw = get_ontology()
    entities = getattr(raw, "entities", raw)
    out = []
    items = entities.items() if isinstance(entities, dict) else ((getattr(e, "name", None), e) for e in entities)
    for name, spec in items:
        fields = spec.get("fields", spec) if isinstance(spec, dict) else getattr(spec, "fields", spec)
        if isinstance(fields, dict):
            fields = [{"name": k, **(v if isinstance(v, dict) else {"type": v})} for k, v in fields.items()]
        rows = []
        for f in fields:
            if isinstance(f, str):
                rows.append({"name": f, "type": "", "description": ""})
            elif isinstance(f, dict):
                rows.append({"name": f.get("name"), "type": f.get("type", ""), "description": f.get("description", "")})
            else:
                rows.append({"name": getattr(f, "name", str(f)), "type": getattr(f, "type", ""),
                             "description": getattr(f, "description", "")})
        description = spec.get("description", "") if isinstance(spec, dict) else getattr(spec, "description", "")
        out.append({"name": name or getattr(spec, "name", ""), "fields": rows, "description": description})
    return out


def _mappings_for(entity: str) -> dict[str, list[dict[str, Any]]]:
    """canonical field → the source fields mapped onto it (active mappings only)."""
    model = model_or_none("aam", "FieldMapping")
    if model is None or not has_field(model, "canonical_field"):
        return {}
    qs = model.objects.exclude(canonical_field__isnull=True).exclude(canonical_field="")
    if has_field(model, "entity"):
        qs = qs.filter(entity=entity)
    if has_field(model, "is_active"):
        qs = qs.filter(is_active=True)
    elif has_field(model, "active"):
        qs = qs.filter(active=True)
    if has_field(model, "connection"):
        qs = qs.select_related("connection")
    out: dict[str, list[dict[str, Any]]] = {}
    for m in qs[:5000]:
        out.setdefault(m.canonical_field, []).append({
            "connection": getattr(getattr(m, "connection", None), "name", ""),
            "connection_kind": getattr(getattr(m, "connection", None), "kind", ""),
            "source_object": getattr(m, "source_object", ""),
            "source_field": getattr(m, "source_field", ""),
            "confidence": getattr(m, "confidence", None),
            "method": getattr(m, "method", ""),
            "status": getattr(m, "status", ""),
        })
    return out


@login_required
def ontology_page(request: HttpRequest) -> HttpResponse:
    entities = _ontology()
    names = [e["name"] for e in entities]
    selected = request.GET.get("entity") or (names[0] if names else "")
    if names and selected not in names:
        raise Http404("Unknown entity")
    entity = next((e for e in entities if e["name"] == selected), None)
    mapped = _mappings_for(selected) if entity else {}
    fields = []
    if entity:
        for f in entity["fields"]:
            sources = sorted(mapped.get(f["name"], []), key=lambda s: -(s["confidence"] or 0))
            fields.append({**f, "sources": sources})
    covered = sum(1 for f in fields if f["sources"])
    return page(request, "aam/ontology.html", "ontology", {
        "entities": entities, "entity": entity, "selected": selected, "fields": fields,
        "covered": covered, "total": len(fields),
    })


# ---- Review queue ----------------------------------------------------------------------------


def _review_model():
    return model_or_none("aam", "ReviewItem")


def _review_queryset(filters: dict[str, str]):
    model = _review_model()
    if model is None:
        return None
    lister = optional("aam.selectors.review_list")
    qs = lister(filters=filters) if lister is not None else model.objects.filter(**filters)
    if has_field(model, "connection"):
        qs = qs.select_related("connection")
    return _order_newest(qs)


@login_required
def review_page(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "pending")
    kind = request.GET.get("kind", "")
    risk = request.GET.get("risk", "")
    filters = {}
    if status in ("pending", *DECISIONS):
        filters["status"] = status
    if kind in KINDS:
        filters["kind"] = kind
    if risk in RISKS:
        filters["risk"] = risk
    qs = _review_queryset(filters)
    per_page = 25
    page_no = int_param(request, "page", 1, low=1)
    items, total = [], 0
    counts = {"pending": 0, "approved": 0, "rejected": 0, "flagged": 0}
    if qs is not None:
        total = qs.count()
        items = list(qs[(page_no - 1) * per_page: page_no * per_page])
        for row in _review_model().objects.values("status").annotate(n=Count("id")):
            counts[row["status"]] = row["n"]
    return page(request, "aam/review.html", "review", {
        "items": items, "total": total, "status": status, "kind": kind, "risk": risk,
        "kinds": KINDS, "risks": RISKS, "counts": counts,
        "page_no": page_no, "has_next": page_no * per_page < total, "has_prev": page_no > 1,
        "available": qs is not None,
    })


@login_required
def review_detail_page(request: HttpRequest, pk: int) -> HttpResponse:
    model = _review_model()
    item = model.objects.filter(pk=pk).first() if model is not None else None
    if item is None:
        raise Http404("No such review item")
    log = []
    for name in ("decisions", "decision_log", "log_entries", "reviewdecision_set"):
        related = getattr(item, name, None)
        if related is not None and hasattr(related, "all"):
            log = list(related.all())
            break
    return page(request, "aam/review_detail.html", "review", {"item": item, "log": log})


@login_required
@require_POST
def review_decide_action(request: HttpRequest, pk: int) -> HttpResponse:
    model = _review_model()
    item = model.objects.filter(pk=pk).first() if model is not None else None
    if item is None:
        raise Http404("No such review item")
    decision = request.POST.get("decision", "")
    decision = {"approve": "approved", "reject": "rejected", "flag": "flagged"}.get(decision, decision)
    note = request.POST.get("note", "")[:2000]
    back = request.POST.get("next") or ""
    if not back.startswith("/aam/review/"):
        back = "/aam/review/"
    if decision not in DECISIONS:
        messages.error(request, "Choose approve, reject or flag.")
        return redirect(back)
    decide = first_available("aam.services.review_decide", "aam.services.review_item_decide")
    if decide is None:
        messages.error(request, "Decisions cannot be recorded on this build yet (the review service is missing).")
        return redirect(back)
    try:
        decide(item=item, decision=decision, user=request.user, note=note)
    except Exception as exc:  # noqa: BLE001 - e.g. already decided: say why, keep the page
        logger.info("review decision refused: %s", exc)
        messages.error(request, f"Not recorded: {getattr(exc, 'detail', None) or exc}")
        return redirect(back)
    messages.success(request, f"Item #{item.pk} {decision}.")
    return redirect(back)
