"""The FinOps agent over a million cost lines in PostgreSQL (docs/adr/0030).

`manage.py agents_benchmark --finops [--cost-lines N] [--finops-tenant SLUG]` (benchmarks/agents.py calls
`run`): a tenant of its own gets the demo's exports through the real pipeline (mapping, DCL, the unified
views and their value maps), then its cost view's data table is filled up to N lines by replicating the
demo's lines (their raw values, so the view's read-time canonical values are computed as in production;
dates spread over 90 days, 2,000 resource ids per template line, amounts varied), frozen and ANALYZEd as a
published table is, and one agent
run (`agents_run(agents=["finops"])`: the pilot's input aggregated by PostgreSQL, commitments, coverage,
showback, unit economics, root cause, forecast) is timed, then each analysis alone.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import timedelta

from django.core.management import call_command
from django.db import connection

BENCH_SLUG = "bench_finops"


def _tenant(slug: str):
    from tenants.models import Tenant
    from tenants.services import public_tenant_ensure, tenant_create

    public_tenant_ensure()
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        tenant = tenant_create(slug=slug, name="FinOps benchmark", admin_email="admin@bench-finops.example",
                               admin_password="bench-finops-2026", admin_username="admin").tenant
    return tenant


def _seed(tenant, out) -> None:
    """The demo's exports through the real pipeline, once (a tenant that has its cost view keeps it)."""
    from connectors.demo import generate
    from connectors.services import demo_connections_ensure
    from tenants.money.demo import DEMO_RATES

    generate(out)
    connection.set_tenant(tenant)
    try:
        demo_connections_ensure(directory=out)
    finally:
        connection.set_schema_to_public()
    call_command("fx_load", str(DEMO_RATES), tenant=tenant.slug, stdout=io.StringIO())
    call_command("sync", tenant=tenant.slug, stdout=io.StringIO(), stderr=io.StringIO())


def _data_table() -> tuple[str, list[str]]:
    from dcl.models import MaterializedView
    from dcl.pgsync import data_table_name

    version = MaterializedView.objects.get(entity="cost").version
    table = data_table_name("cost", version)
    with connection.cursor() as cursor:
        cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                       "AND table_name = %s ORDER BY ordinal_position", [table])
        return table, [r[0] for r in cursor.fetchall()]


def fill(target: int) -> int:
    """Replicate the template lines (those not made by an earlier fill) up to `target` lines in all."""
    table, columns = _data_table()
    shifted = {"charge_period_start", "charge_period_end"}
    scaled = {"billed_cost", "effective_cost", "list_cost", "contracted_cost", "billed_cost_reporting",
              "effective_cost_reporting", "consumed_quantity", "pricing_quantity"}

    def expr(col: str) -> str:
        if col == "unified_id":
            return "s.unified_id || '-b' || k"
        if col in ("_src_id",):
            return "s._src_id || '-b' || k"
        if col in shifted:
            return f"s.{col} - make_interval(days => (k %% 90))"
        if col in scaled:
            return f"s.{col} * (0.5 + ((k * 7919 + length(s.unified_id)) %% 1000) / 1000.0)"
        if col == "resource_id":
            return "CASE WHEN s.resource_id <> '' THEN s.resource_id || '-' || (k %% 2000) ELSE s.resource_id END"
        return f"s.{col}"

    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE unified_id LIKE '%%-b%%'")
        cursor.execute(f"SELECT count(*) FROM {table}")
        base = cursor.fetchone()[0]
        copies = max(0, -(-(target - base) // base)) if base else 0
        if copies:
            cols = ", ".join(f'"{c}"' for c in columns)
            cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {', '.join(expr(c) for c in columns)} "
                           f"FROM {table} s CROSS JOIN generate_series(1, %s) AS k "
                           f"WHERE s.unified_id NOT LIKE '%%-b%%' LIMIT %s", [copies, target - base])
        # As publication leaves it (dcl/pgsync: COPY ... FREEZE, no later hint-bit writes): frozen and analyzed,
        # so the timed run neither writes a million hint bits nor races autovacuum over the rows just inserted.
        cursor.execute(f"VACUUM (FREEZE, ANALYZE) {table}")
        cursor.execute("SELECT count(*) FROM dcl_view_cost")
        return cursor.fetchone()[0]


def _timed(fn: Callable) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def run(*, cost_lines: int, slug: str = BENCH_SLUG, write: Callable[[str], None] = print) -> dict:
    """Seed (once), fill to `cost_lines`, and time one FinOps agent run and its analyses; returns the figures."""
    from django.conf import settings

    from agents.services import agents_run
    from agents.services import finops_sql as f

    tenant = _tenant(slug)
    connection.set_tenant(tenant)
    try:
        has_view = f.view_exists()
    finally:
        connection.set_schema_to_public()
    if not has_view:
        started = time.perf_counter()
        _seed(tenant, settings.DATA_DIR / f"{slug}-exports")
        write(f"seeded {slug} with the demo through the pipeline in {time.perf_counter() - started:.1f}s")
    connection.set_tenant(tenant)
    try:
        fill_s, lines = _timed(lambda: fill(cost_lines))
        write(f"cost view: {lines:,} lines (filled in {fill_s:.1f}s)")
        run_s, runs = _timed(lambda: agents_run(tenant=tenant, agents=["finops"]))
        fin = runs[0]
        figures = {"cost_lines": lines, "run_seconds": round(run_s, 2), "status": fin.status,
                   "findings": len(fin.findings), "aggregated_rows": None}
        write(f"finops agent run: {lines:,} cost lines in {run_s:.2f}s ({fin.status}, {len(fin.findings)} findings, "
              f"total spend {fin.metrics.get('total_spend', 0):,.2f} {fin.metrics.get('reporting_currency')})")
        view_s, _ = _timed(lambda: f.materialize(over_view=True))
        write(f"  the pass over the view itself (the stored queries' form): {view_s:.3f}s")
        figures["pass over the view"] = round(view_s, 3)
        source_s, source = _timed(lambda: f.materialize())
        write(f"  the pass the run makes (the data table grouped, then the view's values) into finops_agg: "
              f"{source_s:.3f}s")
        figures["one pass"] = round(source_s, 3)
        try:
            period = f.data_period(source)
            scope = f.Scope(period["first_day"], period["last_day"], source)
            keys = [k["key"] for k in f.tag_keys(scope)["keys"]]
            parts = {
                "pilot input": lambda: f.pilot_rows(scope, window_start=scope.end),
                "commitments": lambda: f.commitments(scope),
                "coverage": lambda: f.coverage(scope),
                "tag keys": lambda: f.tag_keys(scope),
                "showback (team)": lambda: f.showback(scope, "team", f._key_spellings("team", keys)),
                "unit economics": lambda: f.unit_economics(scope, [k for k in keys
                                                                   if k.lower() in f.CUSTOMER_TAG_KEYS]),
                "forecast": lambda: f.forecast(scope, last_day=scope.end),
                "root cause (7 days of one service)": lambda: f.root_cause(
                    scope, start=scope.end - timedelta(days=6), end=scope.end, service="AmazonEC2"),
            }
            parts["anomaly lines (7 days of one service)"] = lambda: f.anomaly_lines(
                scope, service="AmazonEC2", start=scope.end - timedelta(days=6), end=scope.end, limit=100)
            for name, fn in parts.items():
                seconds, result = _timed(fn)
                figures[name] = round(seconds, 3)
                extra = ""
                if name == "pilot input":
                    figures["aggregated_rows"] = len(result["rows"])
                    extra = f" ({len(result['rows']):,} rows)"
                write(f"  {name}: {seconds:.3f}s{extra}")
        finally:
            f.release()
        return figures
    finally:
        connection.set_schema_to_public()
