"""Reads of the agents app: jobs, agent runs, a run's findings with their links, the AOA state at a
glance and the telemetry."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.db.models import Count, Prefetch, QuerySet
from django.urls import reverse

from autonomos.core import redis_names
from autonomos.core.redis import get_redis
from autonomos.core.tenancy import current_tenant

from .models import AgentRun, DiscoveryLog, Job
from .pilots.findings import RECORDS_MAX
from .pilots.normalize import findings_normalize
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


# --- findings ---------------------------------------------------------------------------------


def finding_links(finding: dict, *, run_id: int | None) -> dict:
    """Where a finding's records are, for people and programs:
    - `view`: the unified view's page filtered to them, when its filter can say so. The page filters
      on one field at a time with equals, contains, ≥, ≤, is not or is empty (dcl/views.py), so
      that is a finding about one record (`field=unified_id`); a list of ids has no page filter.
    - `page`: the finding's own page, which lists all its records (each linked to its view record);
    - `api`: the view's rows API filtered to exactly those records (`unified_id__in`, at most
      RECORDS_MAX ids, what the API accepts).
    """
    links = {}
    if run_id and finding.get("id"):
        links["page"] = reverse("dashboard:finding", args=[run_id, finding["id"]])
    records = finding.get("records") or {}
    entity, ids = records.get("entity"), list(records.get("unified_ids") or ())[:RECORDS_MAX]
    if entity and ids:
        api = reverse("dcl-view-rows", args=[entity])
        if len(ids) == 1:
            links["view"] = reverse("dcl_ui:view", args=[entity]) + "?" + urlencode(
                {"field": "unified_id", "value": ids[0]})
            links["api"] = f"{api}?{urlencode({'unified_id': ids[0]})}"
        else:
            links["api"] = f"{api}?{urlencode({'unified_id__in': ','.join(ids), 'page_size': len(ids)})}"
    return links


def run_findings(run: AgentRun | None) -> list[dict]:
    """A run's findings as every reader shows them: in the current shape whenever the run was
    stored (agents/pilots/normalize.py), each with its `links`."""
    if run is None:
        return []
    found = run.findings or []
    if isinstance(found, dict):  # {category: [findings]}: a flat list with the category kept
        found = [{"category": category, **(item if isinstance(item, dict) else {"detail": item})}
                 for category, items in found.items() for item in (items if isinstance(items, list) else [items])]
    currency = (run.metrics or {}).get("reporting_currency") if isinstance(run.metrics, dict) else None
    findings = findings_normalize(found, currency=currency)
    for f in findings:
        f["links"] = finding_links(f, run_id=run.pk)
    return findings


def run_finding(*, run_id: int, finding_id: str) -> tuple[AgentRun, dict] | None:
    """One finding of a run, by its id (None when the run or the finding is not there)."""
    run = AgentRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    finding = next((f for f in run_findings(run) if f.get("id") == finding_id), None)
    return (run, finding) if finding is not None else None


def finding_records(finding: dict, *, limit: int = RECORDS_MAX) -> tuple[list[dict], bool]:
    """The view rows behind a finding (dcl contract: `view_rows` with `unified_id__in`), in the
    finding's order, and whether the view could be read."""
    from dcl.selectors import ViewQueryError, view_rows

    records = finding.get("records") or {}
    ids = list(records.get("unified_ids") or ())[:limit]
    if not records.get("entity") or not ids:
        return [], True
    try:
        rows = view_rows(entity=records["entity"], filters={"unified_id__in": ids}, limit=len(ids))
    except ViewQueryError:
        logger.warning("records of finding %s unreadable", finding.get("id"), exc_info=True)
        return [], False
    order = {uid: i for i, uid in enumerate(ids)}
    return sorted(rows, key=lambda r: order.get(r.get("unified_id"), len(order))), True


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
    from connectors.models import Connection

    views, views_ok = views_catalog()
    connections = []
    for conn in Connection.objects.order_by("id"):
        route = route_connection(kind=conn.kind, domain=conn.domain, config=conn.config)
        connections.append({"id": conn.pk, "name": conn.name, "kind": conn.kind, "status": conn.status,
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
