"""FinOps over the demo's real pipeline (docs/adr/0030): its commitments, showback, unit economics,
root cause and forecast recomputed with independent SQL (and from the generator's own constants), every
finding's stored query run again, and the FOCUS 1.2 export validated by the FinOps Foundation's
focus-validator and by our own checks of the 1.2 additions.

Committed data: the sync's consumer runs in a thread with its own database connection.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import random
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pycountry
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from .helpers import in_schema

AS_OF = date(2026, 12, 7)
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def demo(committed_tenants, settings):
    """alpha with the demo's exports (as of AS_OF) synced and both agents run over the views."""
    from agents.services import agents_run
    from connectors.demo import generate
    from connectors.services import demo_connections_ensure
    from tenants.money.demo import DEMO_RATES

    alpha = committed_tenants[0]
    out = settings.DATA_DIR / "demo-exports"
    generate(out, as_of=AS_OF)
    with in_schema(alpha):
        demo_connections_ensure(directory=out)
    call_command("fx_load", str(DEMO_RATES), tenant=alpha.slug, stdout=io.StringIO())
    call_command("sync", tenant=alpha.slug, stdout=io.StringIO(), stderr=io.StringIO())
    with in_schema(alpha):
        runs = {r.agent: r for r in agents_run(tenant=alpha, today=AS_OF)}
    return alpha, runs


def q(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or {})
        return cursor.fetchall()


def one(sql: str, params=None):
    return q(sql, params)[0][0]


def close(a, b, tol=0.01) -> bool:
    return abs(float(a) - float(b)) <= tol


SPEND = "COALESCE(effective_cost_reporting, billed_cost_reporting)"


def test_the_demos_finops_figures_recomputed_with_independent_sql(demo):
    from connectors.demo import aws

    tenant, runs = demo
    fin = runs["finops"]
    m = fin.metrics
    with in_schema(tenant):
        assert close(m["total_spend"], one(f"SELECT sum({SPEND}) FROM dcl_view_cost"))
        assert m["currencies"] == ["EUR", "USD"]  # the Azure export bills in euros
        # untagged spend: lines without tags of their own, less those whose resource the inventory tags (never
        # a silent zero: the demo's CUR has untagged instances)
        no_tags = one(f"SELECT sum({SPEND}) FROM dcl_view_cost WHERE tags IS NULL OR tags::text IN ('{{}}', 'null')")
        assert 0 < m["untagged_spend"] <= float(no_tags) + 0.01
        assert m["untagged_spend_pct"] == round(100 * m["untagged_spend"] / m["total_spend"], 2)
        # The rows of the demo before commitments were added keep their figures (docs quote them): the new
        # CUR rows are the Savings Plan's fee and the instances of its own generator (their ids drawn first).
        rng = random.Random("autonomos-demo-commitments:7:1")
        new_ids = [f"i-0{aws._hex(rng, 16)}" for _ in aws.COMMITTED_FLEET]
        assert round(float(one(
            f"SELECT sum({SPEND}) FROM dcl_view_cost WHERE billing_currency = 'USD' "
            "AND service_name <> 'ComputeSavingsPlans' AND COALESCE(resource_id, '') <> ALL(%s)", [new_ids]))) == 11853

        # Commitments: the Savings Plan from the generator's own constants, and from the CUR's lines
        sp = next(c for c in m["commitments"]["commitments"] if c["commitment_id"] == aws.SAVINGS_PLAN_ARN)
        fee_days = aws.DAYS
        assert close(sp["purchased"], aws.SAVINGS_PLAN_HOURLY * 24 * fee_days)
        covered_days = {"c5.2xlarge": 60 + 60 + 40, "m5.xlarge": 60}
        expected_used = sum(aws.SP_RATE[t] * 24 * d for t, d in covered_days.items())
        assert close(sp["used"], expected_used)
        assert close(sp["used"], one(f"SELECT sum({SPEND}) FROM dcl_view_cost "
                                     "WHERE charge_category_source = 'SavingsPlanCoveredUsage'"))
        # unused = fee − used, which is also the fee lines' amortized (effective) cost in the CUR
        assert close(sp["unused"], one("SELECT sum(effective_cost_reporting) FROM dcl_view_cost "
                                       "WHERE charge_category_source = 'SavingsPlanRecurringFee'"))
        assert sp["utilization_pct"] == round(100 * sp["used"] / (sp["used"] + sp["unused"]), 2)
        ri = next(c for c in m["commitments"]["commitments"] if "reservations/" in c["commitment_id"])
        used, unused = q(f"SELECT sum({SPEND}) FILTER (WHERE charge_category_source = 'Usage'), "
                         f"sum({SPEND}) FILTER (WHERE charge_category_source = 'UnusedReservation') "
                         "FROM dcl_view_cost WHERE commitment_discount_id LIKE '%%reservations/%%'")[0]
        assert close(ri["used"], used) and close(ri["unused"], unused) and ri["basis"] == "marked_unused"
        assert ri["unused"] > 0 and sp["unused"] > 0

        # Coverage: covered usage ÷ usage of the services a commitment covered
        covered, eligible = q(f"""
            WITH s AS (SELECT DISTINCT service_name FROM dcl_view_cost WHERE commitment_discount_id IS NOT NULL
                       AND charge_category = 'Usage' AND charge_category_source NOT ILIKE '%%unused%%')
            SELECT sum({SPEND}) FILTER (WHERE commitment_discount_id IS NOT NULL
                                        AND charge_category_source NOT ILIKE '%%unused%%'),
                   sum({SPEND}) FROM dcl_view_cost WHERE charge_category = 'Usage' AND service_name IN (SELECT * FROM s)
        """)[0]
        assert close(m["coverage"]["covered"], covered) and close(m["coverage"]["eligible"], eligible)
        assert m["coverage"]["coverage_pct"] == round(100 * float(covered) / float(eligible), 2)

        # Showback by team: direct spend per team (Team in the CUR, team in Azure), untagged shared out
        team = next(s for s in m["showback"] if s["tag"] == "team")
        rows = dict(q(f"SELECT COALESCE(tags->>'Team', tags->>'team'), sum({SPEND}) FROM dcl_view_cost "
                      "GROUP BY 1"))
        untagged = float(rows.pop(None))
        assert close(team["untagged"], untagged)
        direct = {k: float(v) for k, v in rows.items()}
        for v in team["values"]:
            assert close(v["direct"], direct[v["value"]])
            assert close(v["allocated"], untagged * direct[v["value"]] / sum(direct.values()))
        assert close(sum(v["total"] for v in team["values"]), m["total_spend"], tol=0.05)
        assert "proportion" in team["rule"]

        # Unit economics: the customer tags name CRM accounts of the RevOps view
        customers = aws.customer_names(_companies())
        assert {a["tag_values"][0] for a in m["unit_economics"]["accounts"]} == set(customers)
        for a in m["unit_economics"]["accounts"]:
            cost = one(f"SELECT sum({SPEND}) FROM dcl_view_cost WHERE COALESCE(tags->>'Customer', tags->>'customer') "
                       "= %s", [a["tag_values"][0]])
            assert close(a["cost"], cost)
            assert one("SELECT count(*) FROM dcl_view_account WHERE unified_id = %s", [a["account_unified_id"]]) == 1

        # Month-end forecast: month to date + remaining days × the mean of the last 28 days
        fc = m["forecast"]
        last = date.fromisoformat(fc["through"])
        daily = dict(q(f"SELECT (charge_period_start AT TIME ZONE 'UTC')::date, sum({SPEND}) FROM dcl_view_cost "
                       "GROUP BY 1"))
        window = [float(daily.get(last - timedelta(days=i), 0)) for i in range(28)]
        mean = sum(window) / 28
        sd = math.sqrt(sum((x - mean) ** 2 for x in window) / 27)
        mtd = sum(float(v) for d, v in daily.items() if d >= last.replace(day=1))
        remaining = (date(last.year + (last.month == 12), last.month % 12 + 1, 1) - last).days - 1
        assert close(fc["forecast"], mtd + remaining * mean)
        assert close(fc["high"] - fc["forecast"], 1.2816 * sd * math.sqrt(remaining))

        # Anomaly root cause: the spike's region against its 14 days before
        anomaly = next(f for f in fin.findings if f["kind"] == "anomaly")
        cause = anomaly["root_cause"]
        start, end = date.fromisoformat(anomaly["from"]), date.fromisoformat(anomaly["to"])
        top = cause["by_dimension"]["region"][0]
        actual, base = q(f"""SELECT sum({SPEND}) FILTER (WHERE charge_period_start >= %(s)s),
                                    sum({SPEND}) FILTER (WHERE charge_period_start < %(s)s)
                             FROM dcl_view_cost WHERE service_name = %(svc)s AND region_id = %(r)s
                               AND charge_period_start >= %(b)s AND charge_period_start < %(e)s""",
                         {"s": start, "b": start - timedelta(days=14), "e": end + timedelta(days=1),
                          "svc": anomaly["service"], "r": top["value"]})[0]
        assert close(top["change"], float(actual) - float(base) / 14 * ((end - start).days + 1))
        assert cause["top"]["dimension"] != "service"


def test_every_finops_finding_and_figure_stores_a_query_that_reproduces_it(demo):
    tenant, runs = demo
    fin = runs["finops"]
    with in_schema(tenant):
        for f in fin.findings:
            assert set(f["query"]) == {"sql", "params"}, f["kind"]
            rows = q(f["query"]["sql"], f["query"]["params"])
            if f["kind"] == "untagged_resource":  # its spend in the window, day by day (none: no rows)
                assert close(sum(float(r[1]) for r in rows), f["subject"]["window_spend"]), f["title"]
            else:
                assert rows, (f["kind"], f["title"])
        from agents.pilots.findings import action_for
        from agents.services.finops_sql import FINDING_KINDS

        assert FINDING_KINDS <= {f["kind"] for f in fin.findings}
        for f in fin.findings:
            assert f["action"] == action_for(f) and not f["action"].startswith("Review the records"), f
        unused = next(f for f in fin.findings if f["kind"] == "unused_commitment")
        by_id = {r[0]: r for r in q(unused["query"]["sql"], unused["query"]["params"])}
        assert close(by_id[unused["subject"]["id"]][8], unused["unused"])  # the query's `unused` column
        forecast = next(f for f in fin.findings if f["kind"] == "forecast")
        mtd = q(forecast["query"]["sql"], forecast["query"]["params"])[0][0]
        assert close(mtd, fin.metrics["forecast"]["month_to_date"])
        for name in ("commitments", "coverage", "forecast", "unit_economics"):
            query = fin.metrics[name]["query"]
            assert q(query["sql"], query["params"]), name
        assert q(fin.metrics["queries"]["pilot_input"]["sql"], fin.metrics["queries"]["pilot_input"]["params"])


def test_the_pass_over_the_data_table_gives_the_rows_of_the_pass_over_the_view(demo):
    """The run groups the view's data table first and applies the view's definition to the groups
    (finops_sql.fast_aggregate_sql): the same rows as the pass over the view, with resource ids kept and
    tagged, with a connection excluded by routing, and with the value maps as the view reads them."""
    from aam.models import FieldMapping
    from agents.services import finops_sql as f

    tenant, _ = demo
    with in_schema(tenant):
        plan = f.view_plan()
        assert plan is not None and plan.table.startswith("dcl_vdata_cost_")  # the demo's view is one it knows
        ids = [r[0] for r in q("SELECT DISTINCT resource_id FROM dcl_view_cost WHERE resource_id <> '' "
                               "ORDER BY 1 LIMIT 40")]
        tails = [i.strip().lower().replace(":", "/").rsplit("/", 1)[-1] for i in ids]
        keep, tagged = [i.strip().lower() for i in ids[:25]] + tails[25:30], tails[10:35]
        cost_connections = sorted(set(FieldMapping.objects.filter(canonical_entity="cost")
                                      .values_list("connection_id", flat=True)))
        assert len(cost_connections) >= 2
        everything = []
        for excluded in ((), (cost_connections[-1],), (cost_connections[0], 10**9)):
            passes = []
            for over_view in (False, True):
                f.materialize(excluded=excluded, keep=keep, tagged_ids=tagged, over_view=over_view)
                try:
                    passes.append(sorted(q(f"SELECT * FROM {f.AGG}"), key=repr))
                finally:
                    f.release()
            fast, slow = passes
            assert fast == slow and len(fast) > 100, excluded
            everything = everything or fast
        assert any(r[12] for r in everything) and any(r[13] for r in everything)  # kept ids, inventory-tagged rows
        # the root cause over the data table grouped first, and over the view's lines
        source = f.materialize(excluded=(10**9,))
        try:
            assert source.plan is not None
            causes = [f.root_cause(f.Scope(AS_OF - timedelta(days=40), AS_OF, s, (10**9,)), service=None,
                                   start=AS_OF - timedelta(days=6), end=AS_OF, tag_spellings=["Team", "team"])
                      for s in (source, dataclasses.replace(source, plan=None))]
        finally:
            f.release()
        assert causes[0]["by_dimension"] == causes[1]["by_dimension"] and causes[0]["by_dimension"]["resource"]
        assert causes[0]["query"] == causes[1]["query"]  # the stored query reads the view either way
        # the statement the run executed is not the view pass
        assert "finops_raw" in f.fast_aggregate_sql(plan) and "dcl_view_cost" not in f.fast_aggregate_sql(plan)


def _companies():
    import random

    from connectors.demo.crm import build_companies

    rng = random.Random("autonomos-demo:7:1")
    return build_companies(rng, count=60)


# --- the FOCUS export --------------------------------------------------------------------------------


def _validator() -> str | None:
    exe = os.environ.get("FOCUS_VALIDATOR") or shutil.which("focus-validator")
    if not exe and (ROOT / ".venv-focus" / "bin" / "focus-validator").exists():
        exe = str(ROOT / ".venv-focus" / "bin" / "focus-validator")
    return exe


# Rules focus-validator 1.0.0 checks against names FOCUS 1.0 does not have (its 1.0 rule set kept the
# preview's Provider, Publisher, InvoiceIssuer, ResourceID and ChargeType): our own checks above cover
# ProviderName, PublisherName, InvoiceIssuerName and ResourceId.
VALIDATOR_OVERRIDES = ["Provider_Required", "Publisher_Required", "InvoiceIssuer_Required", "ResourceID_Required",
                       "SkuPriceId_Nullable"]


def test_the_focus_export_passes_the_finops_foundations_validator_and_carries_the_1_2_columns(demo, tmp_path):
    import pyarrow.parquet as pq

    from dcl.focus import FOCUS_NAMES

    tenant, _ = demo
    csv_path, parquet_path = tmp_path / "focus.csv", tmp_path / "focus.parquet"
    out = io.StringIO()
    call_command("export_focus", tenant=tenant.slug, out=str(csv_path), stdout=out)
    call_command("export_focus", tenant=tenant.slug, out=str(parquet_path), stdout=out)
    with in_schema(tenant):
        lines = one("SELECT count(*) FROM dcl_view_cost")
    assert f"{lines:,} cost lines written as FOCUS 1.2 (csv)" in out.getvalue()
    table = pq.read_table(parquet_path)
    assert table.column_names == list(FOCUS_NAMES) and len(FOCUS_NAMES) == 57 and table.num_rows == lines
    header = csv_path.read_text().splitlines()[0].split(",")
    assert header == list(FOCUS_NAMES)
    rows = table.to_pylist()

    # FOCUS 1.2 additions and the columns the old validator names differently
    committed = [r for r in rows if r["CommitmentDiscountId"]]
    assert {r["ProviderName"] for r in committed} == {"AWS", "Microsoft"}
    assert {r["PricingCategory"] for r in rows} <= {"Standard", "Dynamic", "Committed", "Other", None}
    assert {r["ChargeFrequency"] for r in rows} <= {"One-Time", "Recurring", "Usage-Based"}
    assert {r["ChargeClass"] for r in rows} == {None}
    assert {r["CommitmentDiscountStatus"] for r in rows} <= {"Used", "Unused", None}
    by_type = {(r["CommitmentDiscountType"], r["CommitmentDiscountCategory"]) for r in committed}
    assert by_type == {("Savings Plan", "Spend"), ("Reservation", "Usage")}
    assert {r["CommitmentDiscountStatus"] for r in committed if r["ProviderName"] == "Microsoft"} == {"Used", "Unused"}
    assert all(r["CommitmentDiscountStatus"] is None and r["CommitmentDiscountCategory"] is None
               for r in rows if not r["CommitmentDiscountId"])
    assert all(r["PricingCurrency"] is None or pycountry.currencies.get(alpha_3=r["PricingCurrency"]) for r in rows)
    assert all(pycountry.currencies.get(alpha_3=r["BillingCurrency"]) for r in rows)
    assert all(r["ProviderName"] and r["PublisherName"] and r["InvoiceIssuerName"] for r in rows)
    assert any(r["ResourceId"] for r in rows) and "ResourceId" in table.column_names
    assert {r["InvoiceId"] for r in rows if r["ProviderName"] == "Microsoft"} - {None}  # closed months invoiced
    assert {r["SubAccountName"] for r in rows if r["ProviderName"] == "Microsoft"} == {"Demo Co Production EU"}
    assert all(r["ChargePeriodEnd"] > r["ChargePeriodStart"] for r in rows)
    tagged = [json.loads(r["Tags"]) for r in rows if r["Tags"]]
    assert tagged and all(isinstance(t, dict) for t in tagged)

    exe = _validator()
    if exe is None:
        if os.environ.get("FOCUS_VALIDATOR_REQUIRED"):
            pytest.fail("focus-validator is not installed (requirements-focus.txt)")
        pytest.skip("focus-validator is not installed: python3.11 -m venv .venv-focus && "
                    ".venv-focus/bin/pip install -r requirements-focus.txt")
    override = tmp_path / "override.yaml"
    override.write_text("overrides:\n" + "".join(f"  - {r}\n" for r in VALIDATOR_OVERRIDES))
    # Its currency-code check reads focus_validator/utils/currency_codes.csv relative to the working directory.
    where = subprocess.run([str(Path(exe).parent / "python"), "-c", "import focus_validator, os; "
                            "print(os.path.dirname(os.path.dirname(focus_validator.__file__)))"],
                           capture_output=True, text=True, check=True).stdout.strip()
    done = subprocess.run([exe, "--data-file", str(parquet_path), "--validate-version", "1.0",
                           "--override-file", str(override)], capture_output=True, text=True, timeout=300, cwd=where)
    # it exits 0 either way: its verdict is in what it prints
    assert "Validation succeeded" in done.stdout and "failed" not in done.stdout, done.stdout[-3000:] + done.stderr


def test_an_empty_tenant_exports_nothing_and_says_why(committed_tenants, tmp_path):
    beta = committed_tenants[1]
    path = tmp_path / "focus.csv"
    with pytest.raises(CommandError, match="no cost view|no lines"):
        call_command("export_focus", tenant=beta.slug, out=str(path), stdout=io.StringIO())
    assert not path.exists()
    with pytest.raises(CommandError, match="csv or parquet"):
        call_command("export_focus", tenant=beta.slug, out=str(tmp_path / "focus.xlsx"), stdout=io.StringIO())


def test_bad_input_is_stated_not_summed_as_zero(demo):
    """A currency without a rate, a tag nobody uses, no customer tag, days without data: each is said."""
    from agents.services import agents_run
    from agents.services import finops_sql as f
    from tenants.money.models import FxRate

    tenant, _ = demo
    with in_schema(tenant):
        # EUR is the base of every rate (ECB): without USD-per-EUR rates the Azure lines cannot be converted
        FxRate.objects.filter(currency="USD").delete()
    call_command("materialize", tenant=tenant.slug, full=True, stdout=io.StringIO(), stderr=io.StringIO())
    with in_schema(tenant):
        fin = next(r for r in agents_run(tenant=tenant, agents=["finops"], today=AS_OF))
        eur_lines, eur_cost = q("SELECT count(*), sum(billed_cost) FROM dcl_view_cost "
                                "WHERE billing_currency = 'EUR'")[0]
        left_out = next(x for x in fin.findings if x["kind"] == "unconverted_amounts")
        assert left_out["count"] == eur_lines and "EUR" in left_out["title"] and "no USD rate" in left_out["title"]
        group = left_out["by_currency"][0]
        assert group["reasons"] == {"no_reporting_rate": eur_lines} and close(group["amount"], eur_cost)
        assert close(fin.metrics["total_spend"], one(f"SELECT sum({SPEND}) FROM dcl_view_cost"))  # without them
        assert q(left_out["query"]["sql"], left_out["query"]["params"])[0][0] == "EUR"

        source = f.materialize()
        try:
            empty = f.Scope(date(2020, 1, 1), date(2020, 1, 31), source)  # no data in those days
            nobody = f.showback(empty, "team", ["Team"])
            assert nobody["values"] == [] and "no cost line carries a 'team' tag" in nobody["statement"]
            assert f.coverage(empty)["coverage_pct"] is None and f.commitments(empty)["commitments"] == []
            assert f.unit_economics(empty, [])["statement"].startswith("no unit economics")
            assert f.showback(empty, "department", [])["statement"]
        finally:
            f.release()
