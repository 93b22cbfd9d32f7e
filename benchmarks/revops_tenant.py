"""The RevOps run over N opportunities with history, in a benchmark tenant (agents_benchmark --revops-tenant).

The load goes through the DCL's own code, not around it: N records are written into the DuckDB source
table (benchmarks/history.py's fill: 7 stages, 5 forecast categories, 200 owners, close dates over
2024-2026), the real per-record view is built (dcl/unify.py) and its history step run (dcl/history/)
three times with changes in between, dated 35 days ago, 14 days ago and now:
- snapshot 2: 10% of the deals' close dates pushed 30 days, 5% amounts cut by a fifth, 5% a stage on;
- snapshot 3: half of those pushed again, 3% more amounts cut.
Then the value maps' PostgreSQL mirrors are written and the view published to PostgreSQL
(dcl/pgsync.py), one deal in ten in EUR with a EUR→USD rate, and a quota per owner for this quarter
(admin rows). What is timed is what a job does: `revenue_analyze` (the history analyses), the snapshot
figures (agents/services/revops_sql.py) and `agents_run` for revops, the whole run (views_load reads the
views' catalog only: the deals stay in PostgreSQL).
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import connection as pg_connection
from django_tenants.utils import tenant_context

from aam.ingest.kinds import kind_for
from aam.ingest.schema import ontology_entities
from dcl import store
from dcl.history import history_record
from dcl.pgsync import publish_view
from dcl.reporting import fx_context
from dcl.unify import Unifier, view_spec
from dcl.valuemap import STATUS_MAPPED, pg_write_tables, write_tables

from .history import CONNECTION_ID, FORECAST, STAGES, history_truncate
from .history import Command as HistoryBench
from .ingest import bench_tenant

SNAPSHOT_AGES = (timedelta(days=35), timedelta(days=14), timedelta())


def _maps() -> list[tuple]:
    maps = [(CONNECTION_ID, "Opportunity", "opportunity", "stage", raw, canonical, raw, STATUS_MAPPED)
            for raw, canonical in STAGES.items()]
    maps += [(CONNECTION_ID, "Opportunity", "opportunity", "forecast_category", raw, canonical, raw, STATUS_MAPPED)
             for raw, canonical in FORECAST.items()]
    maps += [(CONNECTION_ID, "Opportunity", "opportunity", "currency", c, c, c, STATUS_MAPPED) for c in ("USD", "EUR")]
    return maps


def _load(tenant, n: int, now: datetime) -> dict:
    entity = "opportunity"
    bench = HistoryBench()
    shutil.rmtree(store.tenant_dir(tenant), ignore_errors=True)
    history_truncate()
    spec = view_spec(entity, {f: kind_for(t) for f, t in ontology_entities()[entity].items()})
    took = {}
    with store.WriterLock(tenant):
        con = store.connect(tenant)
        try:
            started = time.monotonic()
            bench._fill(con, spec, 0, n)
            con.execute("UPDATE src_opportunity SET currency = 'EUR' WHERE _position % 10 = 3")
            # close dates around today (the fill's are in 2024-2026), so this quarter has a pipeline
            con.execute(f"UPDATE src_opportunity SET close_date = DATE '{now.date().isoformat()}' - 180 "
                        "+ CAST((_position * 31) % 360 AS INTEGER)")
            con.execute("ALTER TABLE src_opportunity ADD COLUMN created_at TIMESTAMPTZ")
            con.execute("UPDATE src_opportunity SET created_at = "
                        "CAST(close_date - CAST(30 + _position % 120 AS INTEGER) AS TIMESTAMPTZ)")
            write_tables(con, _maps(), [], {CONNECTION_ID: "USD"}, [])
            _rates(now.date())
            unifier = Unifier(con, {entity: spec}, {CONNECTION_ID: "salesforce"}, fx=fx_context())
            for k, age in enumerate(SNAPSHOT_AGES):
                if k == 1:
                    con.execute("UPDATE src_opportunity SET close_date = close_date + 30 WHERE _position % 10 = 1")
                    con.execute("UPDATE src_opportunity SET amount = round(amount * 0.8, 2) WHERE _position % 20 = 2")
                    con.execute("UPDATE src_opportunity SET stage = CASE stage WHEN 'Prospecting' THEN 'Qualification' "
                                "WHEN 'Qualification' THEN 'Needs Analysis' WHEN 'Needs Analysis' THEN "
                                "'Proposal/Price Quote' ELSE stage END WHERE _position % 20 = 5")
                elif k == 2:
                    con.execute("UPDATE src_opportunity SET close_date = close_date + 21 WHERE _position % 20 = 1")
                    con.execute("UPDATE src_opportunity SET amount = round(amount * 0.9, 2) "
                                "WHERE _position % 33 = 4")
                unifier.build(entity)
                history_record(con, entity=entity, spec=spec, at=now - age)
            took["load_seconds"] = round(time.monotonic() - started, 1)
            started = time.monotonic()
            pg_write_tables(tenant.schema_name, _maps(), [], {CONNECTION_ID: "USD"}, [])
            rows = publish_view(con, schema=tenant.schema_name, entity=entity, spec=spec, version=1,
                                materialized_at=now, on_commit_catalog=_catalog(entity, spec, now))
            took["publish_seconds"] = round(time.monotonic() - started, 1)
            took["view_rows"] = rows
        finally:
            con.close()
    _quotas(now.date())
    _connection()
    return took


def _catalog(entity: str, spec, now: datetime):
    """The view's catalog row (dcl.models.MaterializedView), as a materialization records it."""
    from dcl.models import MaterializedView

    def record(rows: int, table: str) -> None:
        MaterializedView.objects.update_or_create(entity=entity, defaults={
            "data_table": table, "version": 1, "row_count": rows, "materialized_at": now,
            "columns": [{"name": n, "kind": str(k)} for n, k in spec.fields.items()],
            "sources": [{"connection_id": CONNECTION_ID, "connection_kind": "salesforce", "rows": rows}]})

    return record


def _connection() -> None:
    """The CRM connection the loaded records name (`CONNECTION_ID`), routed to RevOps."""
    from connectors.models import Connection

    Connection.objects.update_or_create(pk=CONNECTION_ID, defaults={
        "name": "Benchmark CRM", "kind": Connection.Kind.FILESOURCE, "domain": Connection.Domain.REVOPS,
        "config": {"source_system": "salesforce"}})


def _rates(today: date) -> None:
    from tenants.money.models import FxRate

    FxRate.objects.update_or_create(currency="USD", day=today - timedelta(days=400),
                                    defaults={"per_eur": Decimal("1.08"), "source": "benchmark"})


def _quotas(today: date) -> None:
    from agents.models import Quota
    from agents.services.revenue import Period

    period = Period.default(today)
    Quota.objects.all().delete()
    Quota.objects.bulk_create([Quota(owner_id="005" + f"{i:X}".rjust(15, "0"), period_start=period.start,
                                     period_end=period.end, amount=Decimal(500_000 + 5_000 * i), currency="USD")
                               for i in range(190)])  # 10 of the 200 owners have none: the rollup says so


def _loadavg() -> str:
    """The machine's 1-minute load average, beside each figure (2 cores shared with other sessions)."""
    return f" (load average {os.getloadavg()[0]:.2f})"


def revops_tenant_benchmark(slug: str, n: int, *, load: bool = True) -> list[str]:
    """Load (unless `load` is False) and time; returns the lines to print."""
    from agents.models import AgentRun
    from agents.services import agents_run, revops_sql
    from agents.services.revenue import revenue_analyze
    from agents.services.runs import revops_config, source_systems, views_load
    from tenants.money.selectors import reporting_currency

    tenant = bench_tenant(slug)
    lines = []
    now = datetime.now(UTC)
    with tenant_context(tenant):
        if load:
            took = _load(tenant, max(1, n), now)
            lines.append(f"loaded {took['view_rows']:,} opportunities with 3 snapshots of history in "
                         f"{took['load_seconds']}s (DuckDB) + {took['publish_seconds']}s (to PostgreSQL)")
        with pg_connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM dcl_history_opportunity")
            versions = cur.fetchone()[0]
        started = time.monotonic()
        out = revenue_analyze(today=now.date(), now=now, reporting_currency=reporting_currency())
        sql_s = time.monotonic() - started
        m = out["metrics"]
        bars = {b["bar"]: b for b in m["waterfall"]["bars"]}
        lines.append(f"revops history analyses (revenue_analyze): {sql_s:.2f}s over {versions:,} history versions"
                     f"{_loadavg()}")
        lines.append("  waterfall " + ", ".join(f"{k} {b['deals']:,} ({b['amount']:,.0f})" for k, b in bars.items())
                     + f"; balanced {m['waterfall']['balanced']}")
        lines.append(f"  forecast: quota {m['forecast']['quota']}, coverage {m['forecast']['coverage']}, "
                     f"{len(m['forecast']['owners_without_quota'])} owners without quota")
        sl = m["slippage"]
        lines.append(f"  slippage: {sl['deals_moved']:,} deals moved, {sl['deals_pushed_twice']:,} pushed twice; "
                     f"velocity {m['velocity']['per_day']}/day; history risks {m['history_risk']['counts']}")
        started = time.monotonic()
        loaded = views_load(["opportunity", "account", "contact"])
        lines.append(f"views_load alone (stand-ins from the catalog): {time.monotonic() - started:.2f}s, "
                     f"{sum(len(v) for v in loaded.values()):,} rows")
        started = time.monotonic()
        snapshot, used = revops_sql.analyze(today=now.date(), config=revops_config(), systems=source_systems(),
                                            reporting_currency=reporting_currency())
        lines.append(f"revops snapshot figures in SQL (revops_sql, without the history's points): "
                     f"{time.monotonic() - started:.2f}s over {used:,} deals, open pipeline "
                     f"{snapshot.metrics['open_pipeline']:,.0f}, {snapshot.metrics['at_risk_count']:,} at risk"
                     f"{_loadavg()}")
        started = time.monotonic()
        runs = agents_run(tenant=tenant, agents=["revops"])
        run_s = time.monotonic() - started
        run = AgentRun.objects.get(pk=runs[0].pk)
        lines.append(f"revops run (agents_run: catalog, history analyses, snapshot figures, store): {run_s:.2f}s, "
                     f"{run.status} "
                     f"{run.skipped_reason or run.error}, "
                     f"{run.metrics.get('at_risk_count', 0):,} at risk, {len(run.findings):,} findings{_loadavg()}")
    lines.append(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; load average "
                 f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return lines
