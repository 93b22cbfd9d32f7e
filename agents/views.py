"""Dashboard pages at the root: home, Live Flow, Agents, Discovery, Architecture.

Agents sit at the top of the layers, so these pages may read every app below, through the
selectors of the app that owns the data.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
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
from dcl.selectors import view_catalog

from .models import AgentRun, DiscoveryLog, Job
from .selectors import agent_run_latest, dashboard_status
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
    found = pick(run, "findings", default=None) or []
    if isinstance(found, dict):  # {category: [findings]} → a flat list with the category kept
        flat = []
        for category, items in found.items():
            for item in items if isinstance(items, list) else [items]:
                flat.append({"category": category, **(item if isinstance(item, dict) else {"detail": item})})
        return flat
    return [f if isinstance(f, dict) else {"detail": f} for f in found]


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
            findings.append({"agent": agent, "summary": summary, "severity": f.get("severity")})
    reviews = _review_counts()
    return page(request, "dashboard/home.html", "dashboard", {
        "connections": connections,
        "health": health,
        "catalog": catalog,
        "records_total": sum(getattr(v, "row_count", 0) or 0 for v in catalog),
        "last_job": _last_job(),
        "review_pending": reviews.get("pending", 0),
        "drift_7d": _drift_since(7),
        "llm": _llm_usage(tenant),
        "llm_enabled": bool(settings.LLM_BASE_URL),
        "runs": runs,
        "findings": findings[:8],
        "recent_events": list(reversed(events)),
        "connection_names": {c.pk: c.name for c in connections},
        "last_event_id": events[-1]["id"] if events else "",
    })


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
               ("stopped_billed_count", "Stopped but billed", "count"), ("resources", "Resources", "count")],
}


def _cards(agent: str, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    cards = []
    for key, label, fmt in METRIC_CARDS.get(agent, []):
        value = pick(metrics, key)
        if value is not None:
            cards.append({"label": label, "value": value, "format": fmt})
    return cards


FINDING_COLUMNS = ["severity", "kind", "title", "reasons", "estimated_monthly", "action"]
FINDINGS_SHOWN = 10


def _finding_table(findings: list[dict[str, Any]]) -> dict[str, Any]:
    """The columns people read (severity, what, why, how much, what to do) that these findings have."""
    keys = [k for k in FINDING_COLUMNS if any(f.get(k) not in (None, "", []) for f in findings)]
    # Most severe first (the pilots already order each kind by size); long lists fold after ten.
    rank = {"high": 0, "medium": 1, "low": 2}
    findings = sorted(findings, key=lambda f: rank.get(str(f.get("severity")), 3))
    rows = []
    for f in findings:
        row = []
        for k in keys:
            v = f.get(k)
            if isinstance(v, list):
                v = "; ".join(str(x) for x in v)
            elif isinstance(v, dict):
                v = None
            row.append(v)
        rows.append({"severity": f.get("severity"), "cells": row})
    kinds: dict[str, int] = {}
    for f in findings:
        kinds[str(f.get("kind") or "finding")] = kinds.get(str(f.get("kind") or "finding"), 0) + 1
    return {"headers": [k.replace("_", " ") for k in keys], "keys": keys, "rows": rows[:FINDINGS_SHOWN],
            "more": rows[FINDINGS_SHOWN:], "total": len(rows), "kinds": sorted(kinds.items(), key=lambda kv: -kv[1])}


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
