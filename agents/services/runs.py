"""Running the pilots over the unified views and storing each run (AgentRun)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date

from django.conf import settings
from django.utils import timezone

from autonomos.core.events import publish_event
from autonomos.core.tenancy import TenantRequired, current_tenant

from ..models import AgentRun, Job
from ..narrative import narrative_write
from ..pilots import PilotResult, finops, revops
from ..pilots.normalize import findings_normalize
from ..routing import (
    AGENT_ENTITIES,
    AGENT_PRIMARY_ENTITY,
    DOMAINS,
    Route,
    entities_by_connection,
    route_connection,
    row_in_domain,
)
from .export import findings_slack
from .jobs import job_claim, job_finish, job_progress_set
from .revenue import revenue_analyze

logger = logging.getLogger(__name__)

# Entities whose lineage helps routing even though no pilot reads them.
ROUTING_ONLY_ENTITIES = ("contact",)
# Lookups (names) rather than inputs: never filtered by domain.
LOOKUP_ENTITIES = {"account"}


def revops_config() -> revops.RevOpsConfig:
    return revops.RevOpsConfig(stale_days=settings.AGENTS_STALE_DEAL_DAYS,
                               at_risk_threshold=settings.AGENTS_AT_RISK_THRESHOLD)


def finops_config() -> finops.FinOpsConfig:
    return finops.FinOpsConfig(anomaly_window_days=settings.AGENTS_ANOMALY_WINDOW_DAYS,
                               anomaly_min_history_days=settings.AGENTS_ANOMALY_MIN_HISTORY_DAYS,
                               anomaly_z=settings.AGENTS_ANOMALY_Z, anomaly_min_delta=settings.AGENTS_ANOMALY_MIN_DELTA,
                               window_days=settings.AGENTS_FINOPS_WINDOW_DAYS)


def _pilot(agent: str, rows: Mapping[str, list[dict]], today: date, systems: Mapping[int, str],
           sql_excluded: list[int] | None = None, sql_routed: list[int] | None = None) -> PilotResult:
    """One pilot's result; its findings in the shape every reader gets (agents/pilots/findings.py).
    Amounts are in the views' reporting currency; the tenant's names it when no row does.
    `sql_excluded`: FinOps reads the cost view and RevOps the opportunity view in PostgreSQL (finops_sql,
    revops_sql), leaving out these connections (`sql_routed`: the connections routed to the agent)."""
    from tenants.money.selectors import reporting_currency

    currency = reporting_currency()
    if agent == "finops" and sql_excluded is not None:
        from .finops_sql import analyze as finops_in_sql

        done = finops_in_sql(resources=rows.get("cloud_resource", []), config=finops_config(),
                             reporting_currency=currency, excluded=sql_excluded, today=today)
        result = done[0] if done else finops.analyze(costs=[], resources=rows.get("cloud_resource", []),
                                                     config=finops_config(), reporting_currency=currency)
        result.inputs = done[1] if done else {"rows": 0, "rows_used": 0}  # the cost lines it read
    elif agent == "revops":
        result = _revops(rows, today, systems, currency, sql_excluded, sql_routed)
    else:
        result = finops.analyze(costs=rows.get("cost", []), resources=rows.get("cloud_resource", []),
                                config=finops_config(), reporting_currency=currency)
    result.findings = findings_normalize(result.findings, currency=result.metrics.get("reporting_currency"))
    return result


def _revops(rows: Mapping[str, list[dict]], today: date, systems: Mapping[int, str], currency: str,
            excluded: list[int] | None, routed: list[int] | None) -> PilotResult:
    """The RevOps pilot: the history analyses (revenue.py), then the snapshot figures, in PostgreSQL
    (revops_sql) when the run reads the views (`excluded` given), else over the rows handed in (the
    pilot's Python reference), with the history's risks either way."""
    from . import revops_sql
    from .revenue import history_release

    revenue = revenue_analyze(today=today, now=timezone.now(), reporting_currency=currency, keep_history_risk=True)
    risk = revenue["history_risk"]
    try:
        if excluded is not None:  # the stand-ins come from the catalog, written with the view
            result, used = revops_sql.analyze(
                today=today, config=revops_config(), systems=systems, reporting_currency=currency,
                excluded=excluded, routed=routed or [], history_table=risk.table if risk else None,
                history_signals=risk.signals if risk else None, history_query=risk.query if risk else None)
            result.inputs = {"rows_used": used}  # the deals read in PostgreSQL, not the stand-ins
        else:
            opportunities = rows.get("opportunity", [])
            ids = [str(r.get("unified_id") or r.get("id") or "").strip() for r in opportunities]
            result = revops.analyze(opportunities=opportunities, accounts=rows.get("account", []), today=today,
                                    config=revops_config(), systems=systems, reporting_currency=currency,
                                    history_signals=risk.signals(ids) if risk is not None else {})
    finally:
        history_release()
    result.metrics["revenue"] = revenue["metrics"]
    result.findings.extend(revenue["findings"])
    return result


# RevOps reads its views in PostgreSQL (revops_sql): one stand-in row per source connection of each,
# from the view's catalog, routes the connections as the rows would; `_rows` is how many it stands for.
REVOPS_SQL_ENTITIES = ("opportunity", "account", "contact")


def revops_sources(entity: str) -> list[dict]:
    """The stand-ins of a RevOps view: one per connection of its catalog's lineage (none when the view
    is empty or not materialized; one without lineage when its rows name no connection)."""
    from dcl.models import MaterializedView

    view = MaterializedView.objects.filter(entity=entity).first()
    if view is None or not view.row_count:
        return []
    out = []
    for source in view.sources or ():
        if isinstance(source, Mapping) and source.get("connection_id") is not None:
            out.append({"sources": [{"connection_id": source["connection_id"],
                                     "connection_kind": source.get("connection_kind")}],
                        "_rows": int(source.get("records") or source.get("rows") or 0)})
    counted = sum(r["_rows"] for r in out)
    if not out or counted < view.row_count:  # rows beyond the lineage's counts: routed by their entity
        out.append({"sources": [], "_rows": max(view.row_count - counted, 0) if out else view.row_count})
    return out


def _rows_of(row) -> int:
    """How many view rows a row stands for (a stand-in says; a real row is one)."""
    return int(row.get("_rows", 1)) if isinstance(row, Mapping) else 1


def views_load(entities: Iterable[str]) -> dict[str, list[dict]]:
    """The unified views' rows (dcl contract: `view_all`, empty for a view not materialized). Cost lines
    stay in PostgreSQL (FinOps computes there, finops_sql), and so do opportunities, accounts and contacts
    (RevOps, revops_sql): one stand-in row per source connection, with its lineage, routes them like the
    rows would."""
    from dcl.selectors import view_all

    from .finops_sql import cost_sources

    return {entity: (cost_sources() if entity == "cost" else revops_sources(entity) if entity in REVOPS_SQL_ENTITIES
                     else list(view_all(entity=entity))) for entity in entities}


def source_systems() -> dict[int, str]:
    """connection id → the system people know it as: a CSV export of Salesforce is "salesforce",
    not "filesource" (the connection's `source_system` hint, else its kind)."""
    from connectors.models import Connection

    names = {}
    for pk, kind, config in Connection.objects.values_list("pk", "kind", "config"):
        hint = config.get("source_system") if isinstance(config, dict) else None
        names[pk] = str(hint) if hint else kind
    return names


def connection_routes(views: Mapping[str, list[dict]]) -> tuple[dict[int, Route], list[dict]]:
    """Route of every connection of the tenant (kind, domain, config hint, then produced entities)."""
    from connectors.models import Connection

    produced = entities_by_connection(views)
    routes, described = {}, []
    for conn in Connection.objects.order_by("id"):
        route = route_connection(kind=conn.kind, domain=conn.domain, config=conn.config,
                                 entities=produced.get(conn.pk, ()))
        routes[conn.pk] = route
        described.append({"connection_id": conn.pk, "name": conn.name, "kind": conn.kind,
                          "routed_to": list(route.domains), "reason": route.reason})
    return routes, described


def agents_validate(agents: Iterable[str] | None) -> list[str]:
    names = list(dict.fromkeys(agents or DOMAINS))
    unknown = [a for a in names if a not in DOMAINS]
    if unknown:
        raise ValueError(f"unknown agents {unknown}; choose from {list(DOMAINS)}")
    return names


def agents_run(*, tenant, agents: Iterable[str] | None = None, job: Job | None = None,
               views: Mapping[str, list[dict]] | None = None, today: date | None = None) -> list[AgentRun]:
    """Run the pilots (all of them when `agents` is None) over the unified views and store one
    AgentRun each. A pilot without data from sources routed to it is stored as skipped, with the
    reason; a pilot that raises is stored as failed and does not stop the others.

    `views` (entity → rows) replaces reading the views; `today` fixes the clock. Both exist for
    callers that already hold the rows (and for tests); production reads `dcl.selectors.view_all`.
    """
    if current_tenant().pk != tenant.pk:
        raise TenantRequired("agents_run was called for a tenant other than the connection's")
    names = agents_validate(agents)
    today = today or timezone.now().date()
    needed = {e for name in names for e in AGENT_ENTITIES[name]} | set(ROUTING_ONLY_ENTITIES)
    data = dict(views) if views is not None else views_load(sorted(needed))
    routes, described = connection_routes(data)
    systems = source_systems()
    runs = []
    for index, name in enumerate(names):
        if job is not None:
            job_progress_set(job=job, progress=int(100 * index / len(names)), step=f"running the {name} pilot",
                             force=True)
        runs.append(_run_one(name, data=data, routes=routes, described=described, job=job, tenant=tenant,
                             today=today, systems=systems, cost_in_sql=views is None))
    return runs


def _run_one(agent: str, *, data, routes, described, job, tenant, today, systems, cost_in_sql=False) -> AgentRun:
    run = AgentRun(agent=agent, job=job, status=AgentRun.Status.RUNNING, started_at=timezone.now())
    run.full_clean()
    run.save()
    base = {"agent": agent, "run_id": run.pk, "job_id": job.pk if job else None}
    publish_event(tenant, "agent_started", base)
    try:
        rows = {entity: (list(data.get(entity, [])) if entity in LOOKUP_ENTITIES else
                         [r for r in data.get(entity, []) if row_in_domain(r, agent, routes, entity)])
                for entity in AGENT_ENTITIES[agent]}
        run.inputs = {
            "views": {e: {"rows": sum(_rows_of(r) for r in data.get(e, [])),
                          "rows_used": sum(_rows_of(r) for r in rows[e])} for e in AGENT_ENTITIES[agent]},
            "connections": [c for c in described if agent in c["routed_to"]],
            "today": today.isoformat(),
        }
        primary = AGENT_PRIMARY_ENTITY[agent]
        if not rows[primary]:
            total = sum(_rows_of(r) for r in data.get(primary, []))
            if total:
                run.skipped_reason = (f"{total} {primary} rows are materialized but none come from a source routed "
                                      f"to {agent}")
            else:
                run.skipped_reason = f"no {primary} rows are materialized yet: nothing for the {agent} pilot to read"
            run.status = AgentRun.Status.SKIPPED
            run.finished_at = timezone.now()
            run.save()
            publish_event(tenant, "agent_completed", {**base, "status": run.status, "reason": run.skipped_reason})
            return run
        excluded = sorted(c for c, r in routes.items() if agent not in r.domains) if cost_in_sql else None
        routed = sorted(c for c, r in routes.items() if agent in r.domains) if cost_in_sql else None
        result = _pilot(agent, rows, today, systems, sql_excluded=excluded, sql_routed=routed)
        if getattr(result, "inputs", None):  # lines and deals read in PostgreSQL, not the stand-in rows
            read = {k: result.inputs[k] for k in ("rows", "rows_used") if k in result.inputs}
            run.inputs["views"][primary].update(read)
        run.metrics, run.findings = result.metrics, result.findings
        run.narrative, run.narrative_source = narrative_write(agent=agent, result=result, tenant=tenant)
        run.status = AgentRun.Status.SUCCEEDED
        run.finished_at = timezone.now()
        run.save()
    except Exception as exc:  # noqa: BLE001 - one pilot failing must not stop the other
        logger.exception("agent %s failed", agent)
        run.status = AgentRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.finished_at = timezone.now()
        run.save()
        publish_event(tenant, "agent_failed", {**base, "error": run.error})
        return run
    publish_event(tenant, "agent_completed", {**base, "status": run.status, "findings": len(run.findings)})
    slack = findings_slack(run)  # never raises: a webhook down does not fail the run
    if slack is not None:
        run.inputs = {**run.inputs, "slack": slack}
        run.save(update_fields=["inputs"])
    return run


def agents_job_execute(*, job_id: int) -> Job | None:
    """Run an agents-only job; raises JobBusy (task retries later) at the tenant's concurrency limit."""
    job = job_claim(job_id=job_id, limited=True)
    if job is None:
        return Job.objects.filter(pk=job_id).first()
    tenant = current_tenant()
    try:
        runs = agents_run(tenant=tenant, agents=job.params.get("agents") or None, job=job)
    except Exception as exc:  # noqa: BLE001 - e.g. the views cannot be read: the job says why
        logger.exception("agents job %s failed", job_id)
        return job_finish(job=job, status=Job.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    summary = [{"agent": r.agent, "run_id": r.pk, "status": r.status, "reason": r.skipped_reason or r.error}
               for r in runs]
    failed = [r for r in runs if r.status == AgentRun.Status.FAILED]
    ran = [r for r in runs if r.status == AgentRun.Status.SUCCEEDED]
    status = (Job.Status.FAILED if failed and not ran else Job.Status.PARTIAL if failed
              else Job.Status.SUCCEEDED if ran else Job.Status.SKIPPED)
    step = ", ".join(f"{r.agent} {r.status}" for r in runs)
    return job_finish(job=job, status=status, result={"runs": summary}, step=step,
                      error="; ".join(f"{r.agent}: {r.error}" for r in failed))
