"""Reads of the agents app: jobs, agent runs, the AOA state at a glance and the telemetry."""

from __future__ import annotations

import logging

from django.db.models import Count, Prefetch, QuerySet

from autonomos.core import redis_names
from autonomos.core.redis import get_redis
from autonomos.core.tenancy import current_tenant

from .models import AgentRun, DiscoveryLog, Job
from .routing import DOMAINS, route_connection

logger = logging.getLogger(__name__)

AGENT_DESCRIPTIONS = {
    "revops": "Pipeline by stage, weighted forecast, win rate, deal size, sales cycle, stale / overdue / at-risk "
              "deals and top accounts across CRMs.",
    "finops": "Spend by service, account, region and day, month-over-month change, anomalies, idle / stopped / "
              "untagged resources and savings.",
}


def job_list(*, filters: dict | None = None) -> QuerySet[Job]:
    """Top-level jobs, newest first; filters: status, kind (validated by the caller)."""
    filters = filters or {}
    qs = Job.objects.filter(parent__isnull=True).select_related("requested_by")
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    return qs.order_by("-created_at", "-id")


def job_get(*, job_id: int) -> Job | None:
    return (Job.objects.select_related("requested_by", "connection")
            .prefetch_related(Prefetch("children", queryset=Job.objects.select_related("connection").order_by("id")),
                              Prefetch("agent_runs", queryset=AgentRun.objects.order_by("id")))
            .filter(pk=job_id).first())


def job_active_connect() -> Job | None:
    return Job.objects.filter(kind=Job.Kind.CONNECT, parent__isnull=True, status__in=Job.ACTIVE).first()


def agent_run_list(*, agent: str) -> QuerySet[AgentRun]:
    return AgentRun.objects.filter(agent=agent).order_by("-created_at", "-id")


def agent_run_latest(*, agent: str, succeeded_only: bool = True) -> AgentRun | None:
    qs = agent_run_list(agent=agent)
    if succeeded_only:
        qs = qs.filter(status=AgentRun.Status.SUCCEEDED)
    return qs.first()


def agents_overview() -> list[dict]:
    """Each pilot with its routed sources and its last runs."""
    from connectors.models import Connection

    connections = list(Connection.objects.order_by("id"))
    out = []
    for agent in DOMAINS:
        routed = []
        for conn in connections:
            route = route_connection(kind=conn.kind, domain=conn.domain, config=conn.config)
            if agent in route.domains:
                routed.append({"connection_id": conn.pk, "name": conn.name, "kind": conn.kind, "reason": route.reason})
        out.append({
            "agent": agent,
            "description": AGENT_DESCRIPTIONS[agent],
            "sources": routed,
            "last_run": agent_run_latest(agent=agent, succeeded_only=False),
            "latest_result": agent_run_latest(agent=agent),
            "runs": AgentRun.objects.filter(agent=agent).count(),
        })
    return out


def views_catalog() -> tuple[list[dict], bool]:
    """The unified views (entity, rows, materialized_at) and whether the catalog could be read."""
    try:
        from dcl.selectors import view_catalog

        return [{"entity": v.entity, "row_count": v.row_count, "materialized_at": v.materialized_at}
                for v in view_catalog()], True
    except Exception:  # noqa: BLE001 - a dashboard summary must render even when the DCL cannot answer
        logger.warning("view catalog unavailable", exc_info=True)
        return [], False


def llm_usage() -> dict:
    """This tenant's LLM calls and tokens (counted by autonomos.core.llm), plus whether one is set up."""
    from django.conf import settings

    tenant = current_tenant()
    from autonomos.core.llm import llm_usage as usage

    try:
        data = dict(usage(tenant))
    except Exception:  # noqa: BLE001 - Redis down: say so instead of failing the page
        logger.warning("LLM usage unavailable", exc_info=True)
        data = {"calls": None, "prompt_tokens": None, "completion_tokens": None, "by_purpose": {},
                "error": "unavailable"}
    data["configured"] = bool(settings.LLM_BASE_URL)
    data["model"] = settings.LLM_MODEL if settings.LLM_BASE_URL else None
    return data


def pipeline_counters() -> dict:
    """Stream and job counters per tenant: stream length and pending (unacknowledged) batches per
    connection, jobs by status, agent runs by status."""
    from connectors.models import Connection

    tenant = current_tenant()
    group = redis_names.consumer_group(tenant)
    streams = []
    redis_ok = True
    try:
        client = get_redis()
        for conn in Connection.objects.order_by("id").only("id", "name", "kind"):
            key = redis_names.sync_stream(tenant, conn.pk)
            length = client.xlen(key)
            pending = 0
            if length:
                try:
                    info = client.xpending(key, group)
                    pending = int(info.get("pending", 0)) if isinstance(info, dict) else 0
                except Exception:  # noqa: BLE001 - no group yet: nothing pending
                    pending = 0
            streams.append({"connection_id": conn.pk, "name": conn.name, "kind": conn.kind, "length": length,
                            "pending": pending})
    except Exception:  # noqa: BLE001
        logger.warning("stream counters unavailable", exc_info=True)
        redis_ok = False
    jobs = dict(Job.objects.filter(parent__isnull=True).values_list("status").annotate(n=Count("id")))
    runs = dict(AgentRun.objects.values_list("status").annotate(n=Count("id")))
    return {
        "streams": streams,
        "streams_available": redis_ok,
        "batches_in_streams": sum(s["length"] for s in streams),
        "batches_pending": sum(s["pending"] for s in streams),
        "jobs_by_status": jobs,
        "agent_runs_by_status": runs,
        "discoveries": DiscoveryLog.objects.count(),
    }


def aoa_state() -> dict:
    """Connections, views, the last and active jobs, the agents and LLM telemetry at a glance."""
    from connectors.health import connections_health
    from connectors.models import Connection

    views, views_ok = views_catalog()
    connections = []
    rows = list(Connection.objects.order_by("id"))
    healths = connections_health(rows)
    for conn in rows:
        route = route_connection(kind=conn.kind, domain=conn.domain, config=conn.config)
        connections.append({"id": conn.pk, "name": conn.name, "kind": conn.kind, "status": conn.status,
                            "health": healths[conn.pk].as_dict(),
                            "domain": conn.domain, "routed_to": list(route.domains), "route_reason": route.reason,
                            "last_synced_at": conn.last_synced_at, "last_error": conn.last_error[:500]})
    return {
        "connections": connections,
        "views": views,
        "views_available": views_ok,
        "active_job": job_active_connect(),
        "last_job": Job.objects.filter(parent__isnull=True).order_by("-created_at", "-id").first(),
        "agents": agents_overview(),
        "llm": llm_usage(),
    }


def dashboard_status() -> dict:
    """The one state every page's counts come from: each connection's health (connectors/health.py),
    how many connections are in each state, the review items waiting for a person, and the jobs
    queued or running. Pages render it, and their scripts fetch it again (`GET /api/status/`) when a
    live event says something changed, so no page counts events of its own and none contradicts
    another (docs/adr/0023-truthful-health.md)."""
    from aam.models import ReviewItem
    from connectors.health import connections_health, health_counts
    from connectors.selectors import connection_list

    connections = list(connection_list())
    healths = connections_health(connections)
    counts = health_counts(healths.values())
    active = list(Job.objects.filter(parent__isnull=True, status__in=Job.ACTIVE).order_by("-created_at", "-id")[:5])
    return {
        "connections": [{"id": c.pk, "name": c.name, "health": healths[c.pk].as_dict()} for c in connections],
        "health": counts,
        "connections_total": len(connections),
        "attention": counts["failed"] + counts["needs_attention"],
        "review_pending": ReviewItem.objects.filter(status=ReviewItem.Status.PENDING).count(),
        "jobs_active": [{"id": j.pk, "kind": j.kind, "status": j.status, "progress": j.progress, "step": j.step}
                        for j in active],
    }
