"""Dashboard pages of the adaptive API mesh: the monitor (drift, repairs, mappings, quarantine),
the ontology with what maps onto it, and the human review queue."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Avg, Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from aam.drift.review import review_decide
from aam.drift.selectors import drift_event_list, review_decisions, review_item_list
from aam.models import DriftEvent, FieldMapping, QuarantinedRecord, ReviewItem
from aam.ontology import get_ontology
from aam.selectors import mapping_versions
from autonomos.core.pages import Column, int_param, page, table
from autonomos.core.roles import Role, role_required
from connectors.selectors import connection_list

logger = logging.getLogger(__name__)

DECISIONS = ("approved", "rejected", "flagged")
BULK_CONFIDENCE = 0.95  # "approve the confident ones on this page" only offers items at least this sure
KINDS = ("mapping", "drift", "asset")
RISKS = ("high", "medium", "low")


def _by_connection(qs, connection_id: int | None):
    return qs.filter(connection_id=connection_id) if connection_id else qs


# ---- Monitor ---------------------------------------------------------------------------------

DRIFT_COLUMNS = [
    Column("When", ("detected_at", "created_at"), "time"),
    Column("Connection", ("connection.name",)),
    Column("Object", ("source_object", "object_name")),
    Column("Change", ("kind", "change_type", "change"), "badge"),
    Column("Field", ("change_text", "field_name", "field", "source_field"), "code"),
    Column("Repair", ("explanation", "summary", "description", "detail")),
    Column("Sure", ("repair_confidence",), "confidence"),
    Column("Status", ("status", "resolution"), "badge"),
    Column("Evidence", ("evidence",), "json"),
]
QUARANTINE_COLUMNS = [
    Column("When", ("created_at", "quarantined_at"), "time"),
    Column("Connection", ("connection.name",)),
    Column("Object", ("source_object", "object_name")),
    Column("Entity", ("entity",), "badge"),
    Column("Position", ("position", "line", "line_number"), "number"),
    Column("Reason", ("reason",)),
    Column("Record", ("raw", "record", "payload"), "json"),
]
REPAIR_COLUMNS = [
    Column("When", ("created_at", "applied_at"), "time"),
    Column("Connection", ("connection.name",)),
    Column("Object", ("source_object", "object_name")),
    Column("Action", ("action",), "badge"),
    Column("From", ("old_field", "from_field", "source_field_before"), "code"),
    Column("To", ("new_field", "to_field", "source_field"), "code"),
    Column("Canonical", ("canonical_field",), "code"),
    Column("Confidence", ("confidence",), "confidence"),
    Column("How", ("status", "decision", "method"), "badge"),
]


def _drift_events(connection_id: int | None, days: int, kind: str = "") -> list:
    since = timezone.now() - timedelta(days=days)
    qs = drift_event_list(connection_id=connection_id, kind=kind or None, since=since)
    events = list(qs.order_by("-detected_at", "-id")[:200])
    for e in events:  # "Amount → Amount__c (number → string)" reads better than four columns
        text = e.field + (f" → {e.new_field}" if e.new_field else "")
        if e.old_type or e.new_type:
            text += f" ({e.old_type or '?'} → {e.new_type or '?'}{', ' + e.direction if e.direction else ''})"
        e.change_text = text
    return events


def _quarantine(connection_id: int | None) -> tuple[list, int]:
    qs = _by_connection(QuarantinedRecord.objects.select_related("connection").order_by("-id"), connection_id)
    return list(qs[:100]), qs.count()


def _repairs(connection_id: int | None, days: int) -> list[dict[str, Any]]:
    """Repairs that changed a mapping: drift events repaired automatically or approved by a person."""
    qs = DriftEvent.objects.filter(status__in=["applied", "approved"],
                                   detected_at__gte=timezone.now() - timedelta(days=days))
    rows = []
    for e in _by_connection(qs, connection_id).select_related("connection").order_by("-detected_at", "-id")[:100]:
        repair = e.repair if isinstance(e.repair, dict) else {}
        rows.append({"created_at": e.resolved_at or e.detected_at, "connection": e.connection,
                     "source_object": e.source_object, "action": repair.get("action", ""),
                     "old_field": repair.get("old_field") or e.field,
                     "source_field": repair.get("source_field") or e.new_field,
                     "canonical_field": repair.get("canonical_field"), "confidence": e.repair_confidence,
                     "status": "auto" if e.status == "applied" else "approved"})
    return rows


def _review_waiting(connection_id: int | None) -> dict[tuple[int, str], int]:
    """(connection id, source object) → its mapping and drift review items waiting for a decision."""
    qs = ReviewItem.objects.filter(status=ReviewItem.Status.PENDING,
                                   kind__in=[ReviewItem.Kind.MAPPING, ReviewItem.Kind.DRIFT])
    rows = _by_connection(qs, connection_id).values("connection_id", "proposal__source_object").annotate(n=Count("id"))
    return {(r["connection_id"], r["proposal__source_object"]): r["n"] for r in rows}


def _mapping_versions(connection_id: int | None) -> list[dict[str, Any]]:
    """One row per connection and source object: its current version, coverage and confidence.

    The current version's rows are the `active` and `pending` ones (older versions are `superseded`).
    """
    qs = _by_connection(FieldMapping.objects.filter(status__in=["active", "pending"]), connection_id)
    rows = (qs.values("connection_id", "connection__name", "source_object", "canonical_entity")
            .annotate(version=Max("version"), fields=Count("id"),
                      mapped=Count("id", filter=Q(status="active", canonical_field__isnull=False)),
                      confidence=Avg("confidence", filter=Q(canonical_field__isnull=False)),
                      updated_at=Max("created_at"))
            .order_by("connection__name", "source_object"))[:100]
    waiting = _review_waiting(connection_id)
    out = []
    for row in rows:
        row = dict(row)
        # What waits for a person is counted from the review queue itself: a pending row of an
        # older mapping version keeps its status after the item was decided, and must not count.
        row["pending"] = waiting.get((row["connection_id"], row["source_object"]), 0)
        # Older versions: what changed when drift was repaired or a person decided.
        row["history"] = mapping_versions(connection=row["connection_id"], source_object_name=row["source_object"])[1:6]
        out.append(row)
    return out


@login_required
def monitor_page(request: HttpRequest) -> HttpResponse:
    connections = list(connection_list())
    connection_id = int_param(request, "connection", 0) or None
    days = int_param(request, "days", 7, low=1, high=365)
    drift = _drift_events(connection_id, days)
    quarantined, quarantined_total = _quarantine(connection_id)
    repairs = _repairs(connection_id, days)
    versions = _mapping_versions(connection_id)
    return page(request, "aam/monitor.html", "aam", {
        "connections": connections,
        "connection_id": connection_id,
        "days": days,
        "drift": table(drift, DRIFT_COLUMNS),
        "drift_count": len(drift),
        "repairs": table(repairs, REPAIR_COLUMNS),
        "repairs_count": len(repairs),
        "versions": versions,
        "quarantine": table(quarantined, QUARANTINE_COLUMNS),
        "quarantined_total": quarantined_total,
    })


# ---- Ontology --------------------------------------------------------------------------------


def _ontology() -> list[dict[str, Any]]:
    """[{name, label, description, fields: [{name, type, description, synonyms, ...}]}]."""
    entities = get_ontology().as_dict()["entities"]
    return [{"name": name, "label": e.get("label", name), "description": e.get("description", ""),
             "fields": list(e["fields"])} for name, e in entities.items()]


def _mappings_for(entity: str) -> dict[str, list[dict[str, Any]]]:
    """canonical field → the source fields currently mapped onto it (active rows), best first."""
    qs = (FieldMapping.objects.filter(canonical_entity=entity, status="active", canonical_field__isnull=False)
          .select_related("connection").order_by("-confidence"))
    out: dict[str, list[dict[str, Any]]] = {}
    for m in qs[:5000]:
        out.setdefault(m.canonical_field, []).append({
            "connection": m.connection.name, "connection_id": m.connection_id, "connection_kind": m.connection.kind,
            "source_object": m.source_object, "source_field": m.source_field, "confidence": m.confidence,
            "method": m.method, "version": m.version,
        })
    return out


def _pending_for(entity: str) -> dict[str, int]:
    """canonical field → proposals of it waiting for a person."""
    rows = (FieldMapping.objects.filter(canonical_entity=entity, status="pending", canonical_field__isnull=False)
            .values("canonical_field").annotate(n=Count("id")))
    return {r["canonical_field"]: r["n"] for r in rows}


@login_required
def ontology_page(request: HttpRequest) -> HttpResponse:
    entities = _ontology()
    names = [e["name"] for e in entities]
    selected = request.GET.get("entity") or (names[0] if names else "")
    if names and selected not in names:
        raise Http404("Unknown entity")
    entity = next((e for e in entities if e["name"] == selected), None)
    mapped = _mappings_for(selected) if entity else {}
    pending = _pending_for(selected) if entity else {}
    fields = []
    if entity:
        for f in entity["fields"]:
            fields.append({**f, "sources": mapped.get(f["name"], []), "pending": pending.get(f["name"], 0)})
    covered = sum(1 for f in fields if f["sources"])
    return page(request, "aam/ontology.html", "ontology", {
        "entities": entities, "entity": entity, "selected": selected, "fields": fields,
        "covered": covered, "total": len(fields),
    })


# ---- Review queue ----------------------------------------------------------------------------


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
    connection_id = int_param(request, "connection", 0) or None
    if connection_id:
        filters["connection_id"] = connection_id
    qs = review_item_list(**filters)
    per_page = 25
    page_no = int_param(request, "page", 1, low=1)
    counts = {"pending": 0, "approved": 0, "rejected": 0, "flagged": 0}
    total = qs.count()
    items = list(qs[(page_no - 1) * per_page: page_no * per_page])
    _attach_choices(items)
    for row in ReviewItem.objects.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    confident = [i.pk for i in items if i.status == "pending" and (i.confidence or 0) >= BULK_CONFIDENCE]
    return page(request, "aam/review.html", "review", {
        "items": items, "total": total, "status": status, "kind": kind, "risk": risk,
        "confident_ids": confident, "bulk_confidence": BULK_CONFIDENCE,
        "kinds": KINDS, "risks": RISKS, "counts": counts,
        "page_no": page_no, "has_next": page_no * per_page < total, "has_prev": page_no > 1,
    })


@login_required
def review_detail_page(request: HttpRequest, pk: int) -> HttpResponse:
    item = ReviewItem.objects.filter(pk=pk).first()
    if item is None:
        raise Http404("No such review item")
    log = list(review_decisions(item=item))  # the append-only decision log (aam.drift)
    _attach_choices([item])
    return page(request, "aam/review_detail.html", "review", {"item": item, "log": log})


def _attach_choices(items: list) -> None:
    """Mapping items get the canonical fields of their entity, so a reviewer can pick another one."""
    entities = {e["name"]: [f["name"] for f in e["fields"]] for e in _ontology()}
    for item in items:
        proposal = item.proposal if isinstance(item.proposal, dict) else {}
        item.field_choices = entities.get(proposal.get("canonical_entity"), []) if item.kind == "mapping" else []


@role_required(Role.OPERATOR)
@login_required
@require_POST
def review_decide_action(request: HttpRequest, pk: int) -> HttpResponse:
    item = ReviewItem.objects.filter(pk=pk).first()
    if item is None:
        raise Http404("No such review item")
    decision = request.POST.get("decision", "")
    decision = {"approve": "approved", "reject": "rejected", "flag": "flagged"}.get(decision, decision)
    note = request.POST.get("note", "")[:2000]
    canonical_field = request.POST.get("canonical_field") or None
    back = request.POST.get("next") or ""
    if not back.startswith("/aam/review/"):
        back = "/aam/review/"
    if decision not in DECISIONS:
        messages.error(request, "Choose approve, reject or flag.")
        return redirect(back)
    if canonical_field is not None and canonical_field == (item.proposal or {}).get("canonical_field"):
        canonical_field = None  # the proposal itself
    try:
        review_decide(item=item, decision=decision, user=request.user, note=note, canonical_field=canonical_field)
    except ValidationError as exc:  # e.g. already decided, or the field is taken: say why
        messages.error(request, f"Not recorded: {'; '.join(exc.messages)}")
        return redirect(back)
    messages.success(request, f"Item #{item.pk} {decision}.")
    return redirect(back)


@role_required(Role.OPERATOR)
@login_required
@require_POST
def review_bulk_action(request: HttpRequest) -> HttpResponse:
    """Approve several items at once; each is decided (and audited) on its own by the same service."""
    back = request.POST.get("next") or ""
    if not back.startswith("/aam/review/"):
        back = "/aam/review/"
    ids = [int(i) for i in request.POST.getlist("item") if i.isdigit()][:100]
    if not ids:
        messages.error(request, "No items were selected.")
        return redirect(back)
    done, refused = 0, []
    for item in ReviewItem.objects.filter(pk__in=ids, status="pending").order_by("id"):
        try:
            review_decide(item=item, decision="approved", user=request.user, note="approved in bulk")
            done += 1
        except ValidationError as exc:
            refused.append(f"#{item.pk}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")
    if done:
        messages.success(request, f"{done} item{'s' if done != 1 else ''} approved.")
    for line in refused[:10]:
        messages.error(request, f"Not recorded {line}")
    return redirect(back)
