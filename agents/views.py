"""Dashboard pages at the root: home, Live Flow, Agents, Discovery, Architecture.

Agents sit at the top of the layers, so these pages may read every app below, through the
selectors of the app that owns the data.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from aam.models import DriftEvent, ReviewItem
from autonomos.core.events import read_events
from autonomos.core.llm import llm_usage
from autonomos.core.pages import page, pick
from autonomos.core.roles import Role, role_required
from autonomos.core.tenancy import current_tenant
from connectors.health import connections_health, health_counts
from connectors.selectors import connection_list
from dcl.resolution.review import review_pending_total
from dcl.selectors import view_catalog

from .getstarted import SESSION_KEY as GET_STARTED_DISMISSED
from .getstarted import get_started
from .models import AgentRun, DiscoveryLog, Job
from .narrative import summary_lines
from .pilots.values import money_text
from .selectors import agent_run_latest, dashboard_status, finding_records, run_finding, run_findings
from .services import agents_job_start

logger = logging.getLogger(__name__)

AGENTS = ("revops", "finops")
# Which stage of the flow picture an event lights up (Sources → AAM → Streams → DCL → Agents).
STAGE_OF_EVENT = {
    "sync_queued": "sources", "sync_started": "sources", "sync_progress": "sources", "sync_completed": "sources",
    "sync_failed": "sources", "sources_connected": "sources",
    "mapping_progress": "aam", "drift_detected": "aam", "repair_applied": "aam", "review_required": "aam",
    "review_decided": "aam",
    "batch_published": "streams",
    "batch_consumed": "dcl", "batch_failed": "dcl", "view_materialized": "dcl", "run_finished": "dcl",
    "job_progress": "agents", "agent_started": "agents", "agent_completed": "agents", "agent_failed": "agents",
}
STAGES = [
    ("sources", "Sources", "Connections read records"),
    ("aam", "AAM", "Map, detect drift, repair"),
    ("streams", "Streams", "Batches on Redis Streams"),
    ("dcl", "DCL", "DuckDB → unified views"),
    ("agents", "Agents", "RevOps & FinOps pilots"),
]


# ---- Readers shared by the pages -------------------------------------------------------------


def _connections() -> list:
    return list(connection_list())


def _last_job():
    """The newest top-level job with its steps (a connect job has a sync per connection, then more)."""
    job = Job.objects.filter(parent__isnull=True).order_by("-created_at", "-id").first()
    if job is not None:
        job.steps = list(job.children.select_related("connection").order_by("id"))
    return job


def _latest_runs() -> dict[str, Any]:
    """The newest AgentRun of each pilot (None when it never ran)."""
    return {agent: agent_run_latest(agent=agent) for agent in AGENTS}


def _findings(run) -> list[dict[str, Any]]:
    """The run's findings in the current shape, with their links (agents.selectors.run_findings)."""
    return run_findings(run)


def _review_counts() -> dict[str, int]:
    return {row["status"]: row["n"] for row in ReviewItem.objects.values("status").annotate(n=Count("id"))}


def _drift_since(days: int) -> int:
    return DriftEvent.objects.filter(detected_at__gte=timezone.now() - timedelta(days=days)).count()


def _llm_usage(tenant) -> dict[str, Any] | None:
    try:
        return dict(llm_usage(tenant))
    except Exception:  # noqa: BLE001 - telemetry is nice to have; Redis down must not break the home page
        logger.warning("LLM usage unavailable", exc_info=True)
        return None


# ---- Home ------------------------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    tenant = current_tenant()
    connections = _connections()
    healths = connections_health(connections)
    for c in connections:
        c.health = healths[c.pk]
    health = health_counts(healths.values())
    catalog = view_catalog()
    events = read_events(tenant)[-15:]
    runs = _latest_runs()
    findings = []
    for agent, run in runs.items():
        for f in _findings(run)[:5]:
            summary = next((str(f[k]) for k in ("title", "detail", "reason", "kind") if f.get(k)), "finding")
            findings.append({"agent": agent, "summary": summary, "severity": f.get("severity"),
                             "url": (f.get("links") or {}).get("page")})
    reviews = _review_counts()
    return page(request, "dashboard/home.html", "dashboard", {
        "get_started": get_started(request),
        "connections": connections,
        "health": health,
        "catalog": catalog,
        "records_total": sum(getattr(v, "row_count", 0) or 0 for v in catalog),
        "last_job": _last_job(),
        "review_pending": reviews.get("pending", 0),
        "match_pending": review_pending_total(),  # entity resolution's pairs (dcl/resolution/)
        "drift_7d": _drift_since(7),
        "llm": _llm_usage(tenant),
        "llm_enabled": bool(settings.LLM_BASE_URL),
        "runs": runs,
        "findings": findings[:8],
        "recent_events": list(reversed(events)),
        "connection_names": {c.pk: c.name for c in connections},
        "last_event_id": events[-1]["id"] if events else "",
    })


@role_required(Role.VIEWER)  # anyone may put the checklist away (for this session)
@login_required
@require_POST
def get_started_dismiss(request: HttpRequest) -> HttpResponse:
    request.session[GET_STARTED_DISMISSED] = True
    return redirect("dashboard:home")


# ---- Live Flow -------------------------------------------------------------------------------


@login_required
def flow_page(request: HttpRequest) -> HttpResponse:
    tenant = current_tenant()
    events = read_events(tenant)
    return page(request, "dashboard/flow.html", "flow", {
        "connection_names": {c.pk: c.name for c in _connections()},
        "status": dashboard_status(),
        "stages": STAGES,
        "stage_of_event": STAGE_OF_EVENT,
        "backlog": events[-200:],
        "last_event_id": events[-1]["id"] if events else "",
    })


# ---- Agents ----------------------------------------------------------------------------------


def _run_history(limit: int = 12) -> list:
    return list(AgentRun.objects.order_by("-created_at", "-id")[:limit])


def _run_payload(run) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.pk,
        "agent": pick(run, "agent"),
        "status": pick(run, "status"),
        "metrics": pick(run, "metrics", default={}) or {},
        "findings": _findings(run),
        "narrative": pick(run, "narrative", "summary", default="") or "",
        "summary_lines": summary_lines(pick(run, "narrative", "summary", default="") or ""),
        "currency": (pick(run, "metrics", default={}) or {}).get("reporting_currency") or "",
        "narrative_source": pick(run, "narrative_source", default="") or "",
        "started_at": pick(run, "started_at", "created_at"),
        "finished_at": pick(run, "finished_at", "completed_at"),
    }


# The headline figures of each pilot: (metric key, label, format).
METRIC_CARDS = {
    "revops": [("open_pipeline", "Open pipeline", "money"), ("weighted_forecast", "Weighted forecast", "money"),
               ("win_rate_pct", "Win rate", "pct"), ("average_deal_size", "Average deal size", "money"),
               ("average_sales_cycle_days", "Sales cycle", "days"), ("at_risk_count", "At-risk deals", "count"),
               ("overdue_count", "Overdue deals", "count"), ("stale_count", "Stale deals", "count")],
    "finops": [("total_spend", "Total spend", "money"), ("month_over_month.change_pct", "Month over month", "delta"),
               ("anomaly_count", "Anomalies", "count"), ("estimated_monthly_savings", "Savings / month", "money"),
               ("untagged_spend_pct", "Untagged spend", "pct"), ("idle_count", "Idle resources", "count"),
               ("stopped_billed_count", "Stopped but billed", "count"), ("resources", "Resources", "count"),
               ("commitments.utilization_pct", "Commitment utilization", "pct"),
               ("coverage.coverage_pct", "Commitment coverage", "pct"),
               ("commitments.unused", "Unused commitment", "money"),
               ("forecast.forecast", "Month-end forecast", "money")],
}


def _cards(agent: str, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    cards = []
    for key, label, fmt in METRIC_CARDS.get(agent, []):
        value = pick(metrics, key)
        if value is not None:
            text = money_text(value, None) if fmt == "money" and isinstance(value, int | float) else value
            cards.append({"label": label, "value": value, "format": fmt, "text": text})
    return cards


FINDINGS_SHOWN = 10
RECORD_NOUNS = {"opportunity": ("deal", "deals"), "cost": ("cost line", "cost lines"),
                "cloud_resource": ("resource", "resources"), "account": ("account", "accounts")}


def finding_amount(f: dict[str, Any]) -> str:
    """The money a finding is about, with its currency: the deal's amount, a spike's excess, a saving
    per month, an untagged resource's spend in the window ("" when it is about no amount)."""
    currency, subject = f.get("currency"), f.get("subject") or {}
    kind = f.get("kind")
    if kind == "anomaly" and f.get("delta") is not None:
        return money_text(f["delta"], currency, signed=True, cents=True)
    if kind == "savings" and f.get("estimated_monthly") is not None:
        return f"{money_text(f['estimated_monthly'], currency, cents=True)}/month"
    if kind == "untagged_resource" and subject.get("window_spend"):
        return f"{money_text(subject['window_spend'], currency, cents=True)} in 30 days"
    if subject.get("entity") == "opportunity" and subject.get("amount") is not None:
        return money_text(subject["amount"], currency)
    if kind in ("status_pending", "unlinked_deals") and f.get("amount"):
        return money_text(f["amount"], currency)
    return ""


def records_label(f: dict[str, Any]) -> str:
    """'1 deal', '105 cost lines', '500 of 812 cost lines' ("" when the finding names no records)."""
    records = f.get("records") or {}
    count, kept = records.get("count") or 0, len(records.get("unified_ids") or ())
    if not count:
        return ""
    one, many = RECORD_NOUNS.get(records.get("entity"), ("record", "records"))
    noun = one if count == 1 else many
    return f"{kept} of {count} {noun}" if kept < count else f"{count} {noun}"


def _finding_row(f: dict[str, Any]) -> dict[str, Any]:
    links = f.get("links") or {}
    reasons = f.get("reasons") if isinstance(f.get("reasons"), list) else []
    return {"id": f.get("id"), "severity": f.get("severity"), "kind": f.get("kind") or "finding",
            "title": f.get("title") or f.get("detail") or f.get("kind"), "reasons": "; ".join(map(str, reasons)),
            "amount": finding_amount(f), "action": f.get("action") or "", "page": links.get("page"),
            "records_url": links.get("view") or links.get("page"), "records": records_label(f)}


def _finding_table(findings: list[dict[str, Any]]) -> dict[str, Any]:
    """What people read of each finding: severity, what and why, how much (with its currency), what
    to do, and a link to its records. Most severe first (the pilots order each kind by size); long
    lists fold after ten."""
    rank = {"high": 0, "medium": 1, "low": 2}
    findings = sorted(findings, key=lambda f: rank.get(str(f.get("severity")), 3))
    rows = [_finding_row(f) for f in findings]
    kinds: dict[str, int] = {}
    for f in findings:
        kinds[str(f.get("kind") or "finding")] = kinds.get(str(f.get("kind") or "finding"), 0) + 1
    return {"rows": rows[:FINDINGS_SHOWN], "more": rows[FINDINGS_SHOWN:], "total": len(rows),
            "kinds": sorted(kinds.items(), key=lambda kv: -kv[1])}


@login_required
def agents_page(request: HttpRequest) -> HttpResponse:
    runs = _latest_runs()
    payloads = {agent: _run_payload(run) for agent, run in runs.items()}
    tables = {agent: _finding_table(p["findings"]) if p else None for agent, p in payloads.items()}
    cards = {agent: _cards(agent, p["metrics"]) if p else [] for agent, p in payloads.items()}
    return page(request, "dashboard/agents.html", "agents", {
        "runs": payloads,
        "tables": tables,
        "cards": cards,
        "history": _run_history(),
        "runs_json": payloads,
        "last_job": _last_job(),
    })


# The columns of a finding's records, per view (the rest are on each record's page).
RECORD_COLUMNS = {
    "opportunity": ["name", "stage", "amount", "currency", "amount_reporting", "close_date", "owner_id"],
    "cost": ["charge_period_start", "service_name", "resource_id", "charge_description", "billed_cost",
             "effective_cost_reporting", "billed_cost_reporting", "reporting_currency"],
    "cloud_resource": ["name", "id", "service_name", "resource_type", "region_id", "status", "owner"],
    "account": ["name", "website", "industry", "country"],
}


@login_required
def finding_page(request: HttpRequest, run_id: int, finding_id: str) -> HttpResponse:
    """One finding: what, why, how much, what to do, and the records behind it (each linked to its
    record in the unified view)."""
    found = run_finding(run_id=run_id, finding_id=finding_id)
    if found is None:
        raise Http404("No such finding")
    return _finding_render(request, *found)


@login_required
def waterfall_bar_page(request: HttpRequest, run_id: int, bar: str) -> HttpResponse:
    """One bar of a RevOps run's pipeline waterfall as a finding's page: its deals and the query."""
    run = AgentRun.objects.filter(pk=run_id, agent="revops").first()
    wf = ((run.metrics or {}).get("revenue") or {}).get("waterfall") if run and isinstance(run.metrics, dict) else None
    found = next((b for b in (wf or {}).get("bars", ()) if b.get("bar") == bar), None)
    if found is None:
        raise Http404("No such bar")
    currency = wf.get("currency")
    finding = {"id": f"waterfall-{bar}", "kind": "waterfall", "severity": "info", "currency": currency,
               "title": f"{found['label']}: {money_text(found['amount'], currency)} in {found['deals']} deals",
               "records": found.get("records"), "query": wf.get("query"), "links": {},
               "action": (f"Pipeline closing {wf['period_start']} to {wf['period_end']}, as it stood on {wf['since']} "
                          f"and on {wf['until']} (amounts at the {wf['rate_day']} rates)."),
               "from": wf["since"], "to": wf["until"]}
    return _finding_render(request, run, finding)


BAR_DEALS_SHOWN = 100  # per bar on the page; the API gives all the ids each bar keeps


def _bar_deals(bars: list[dict]) -> dict[str, list[dict]]:
    """Each bar's first deals as rows of the opportunity view (name, amount, close date), in the bar's
    order, read in one query; an id the view no longer holds (a deal deleted at the source) is listed
    by its id alone."""
    from dcl.selectors import ViewQueryError, view_rows

    shown = {b["bar"]: list((b.get("records") or {}).get("unified_ids") or ())[:BAR_DEALS_SHOWN] for b in bars}
    ids = list(dict.fromkeys(i for kept in shown.values() for i in kept))
    try:
        rows = view_rows(entity="opportunity", filters={"unified_id__in": ids}, limit=len(ids)) if ids else []
    except ViewQueryError:
        logger.warning("waterfall deals unreadable", exc_info=True)
        rows = []
    by_id = {r.get("unified_id"): r for r in rows}
    return {bar: [by_id.get(i) or {"unified_id": i} for i in kept] for bar, kept in shown.items()}


@login_required
def waterfall_page(request: HttpRequest) -> HttpResponse:
    """The pipeline waterfall between two days a person chooses (the URL carries the dates, so it can be
    shared): the chart, each bar's deals and the query behind the figures. Bad dates get a notice
    naming them and no figures (status 400), a tenant without history a statement."""
    from .services.waterfall import FIELDS, WaterfallInputError, default_period, parse_period, waterfall_between

    default = default_period()
    form = {"period_start": default.start, "period_end": default.end, "from": default.since, "to": default.until}
    form = {k: request.GET.get(k, "").strip()[:40] or v.isoformat() for k, v in form.items()}
    context: dict[str, Any] = {"form": form, "fields": FIELDS, "errors": [], "wf": None}
    try:
        period = parse_period(request.GET)
    except WaterfallInputError as exc:
        context["errors"] = [msg for msgs in exc.errors.values() for msg in msgs]
        return page(request, "dashboard/waterfall.html", "agents", context, status=400)
    wf = waterfall_between(period)
    deals = _bar_deals(wf["bars"])
    context.update({
        "wf": wf, "wf_json": wf,
        "bars": [{**b, "shown": deals.get(b["bar"], [])} for b in wf["bars"] if b["deals"] or b["bar"] in
                 ("opening", "closing")],
        "query_params": json.dumps((wf.get("query") or {}).get("params") or {}, indent=2, sort_keys=True),
    })
    return page(request, "dashboard/waterfall.html", "agents", context)


@login_required
def findings_csv_download(request: HttpRequest, run_id: int) -> HttpResponse:
    """A run's findings as CSV (agents/services/export.py)."""
    from .services.export import findings_csv

    run = AgentRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404("No such run")
    response = HttpResponse(findings_csv(run), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{run.agent}-run-{run.pk}-findings.csv"'
    return response


def _finding_render(request: HttpRequest, run, finding: dict) -> HttpResponse:
    records, readable = finding_records(finding)
    entity = (finding.get("records") or {}).get("entity")
    present = set().union(*(r.keys() for r in records)) if records else set()
    columns = [c for c in RECORD_COLUMNS.get(entity, ["unified_id"]) if c in present] or ["unified_id"]
    rows = [{"id": r.get("unified_id"), "cells": [_record_cell(r.get(c)) for c in columns]} for r in records]
    kept = len((finding.get("records") or {}).get("unified_ids") or ())
    return page(request, "dashboard/finding.html", "agents", {
        "run": run, "finding": finding, "row": _finding_row(finding), "entity": entity,
        "columns": [c.replace("_", " ").capitalize() for c in columns], "rows": rows, "readable": readable,
        "missing": max(0, kept - len(records)) if readable else 0,
        "details": [(k.replace("_", " ").capitalize(), v) for k, v in _finding_details(finding)],
        "query_params": json.dumps((finding.get("query") or {}).get("params") or {}, indent=2, sort_keys=True),
    })


def _record_cell(value: Any) -> Any:
    """A view value as the records table shows it: a midnight timestamp as its day, a decimal without
    the view's trailing zeros (73.4400000000 → 73.44)."""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def _finding_details(f: dict[str, Any]) -> list[tuple[str, Any]]:
    """The facts of a finding worth a line on its page (its period, score, days, driver...)."""
    out: list[tuple[str, Any]] = []
    if f.get("from"):
        span = f["from"] if f["from"] == f.get("to") else f"{f['from']} to {f['to']}" + (
            f" ({f['days']} days)" if f.get("days") else "")
        out.append(("period", span))
    for key in ("score", "days", "count", "rule"):
        if f.get(key) not in (None, "") and not (key == "days" and f.get("from")):
            out.append((key, str(f[key]).replace("_", " ")))
    drivers = [d for d in f.get("drivers") or () if d.get("resource_id")]
    if drivers:
        out.append(("largest changes", ", ".join(
            f"{d['resource_id']} {money_text(d.get('delta'), f.get('currency'), signed=True, cents=True)}"
            for d in drivers)))
    subject = f.get("subject") or {}
    for key in ("stage", "close_date", "owner_id", "status", "region", "still_billed_since"):
        if subject.get(key):
            out.append((key, subject[key]))
    if f.get("stages"):
        out.append(("stages", ", ".join(map(str, f["stages"]))))
    if f.get("systems"):
        out.append(("systems", ", ".join(map(str, f["systems"]))))
    return out


@role_required(Role.OPERATOR)
@login_required
@require_POST
def agents_run_action(request: HttpRequest) -> HttpResponse:
    agent = request.POST.get("agent", "")
    agents = [agent] if agent in AGENTS else None
    try:
        job = agents_job_start(agents=agents, user=request.user)
    except Exception as exc:  # noqa: BLE001 - e.g. too many jobs waiting (429) or a conflict: tell the person
        logger.info("agents run refused: %s", exc)
        messages.error(request, f"Not started: {getattr(exc, 'detail', None) or exc}")
        return redirect("dashboard:agents")
    messages.success(request, f"Agents job #{job.pk} queued. Its progress shows below; results appear when it ends.")
    return redirect("dashboard:agents")


# ---- Discovery -------------------------------------------------------------------------------


@login_required
def discover_page(request: HttpRequest) -> HttpResponse:
    by_risk = {"high": 0, "medium": 0, "low": 0}
    for row in ReviewItem.objects.filter(kind="asset").values("risk").annotate(n=Count("id")):
        by_risk[row["risk"] or "low"] = row["n"]
    assets = list(ReviewItem.objects.filter(kind="asset", risk__in=["high", "medium"], status="pending")
                  .order_by("-created_at", "-id")[:50])
    logs = DiscoveryLog.objects.order_by("-created_at", "-id")
    scan = logs.filter(kind="scan").first()
    recent = list(logs.filter(kind="discover")[:5])
    return page(request, "dashboard/discover.html", "discover", {
        "assets": assets,
        "by_risk": by_risk,
        "by_risk_total": sum(by_risk.values()),
        "scan": scan,
        "recent_requests": recent,
        "aod_dashboard_url": settings.AOD_DASHBOARD_URL,
        "aod_configured": bool(settings.AOD_BASE_URL),
    })


# ---- Architecture ----------------------------------------------------------------------------


@login_required
def architecture_page(request: HttpRequest) -> HttpResponse:
    catalog = view_catalog()
    connections = _connections()
    figures = {
        "connections": len(connections),
        "views": len(catalog),
        "records": sum(getattr(v, "row_count", 0) or 0 for v in catalog),
        "review_pending": _review_counts().get("pending", 0),
    }
    return page(request, "dashboard/architecture.html", "architecture", {
        "figures_json": figures,
        "stage_of_event": STAGE_OF_EVENT,
    })
