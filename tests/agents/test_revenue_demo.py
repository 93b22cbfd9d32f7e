"""The RevOps analyses over the demo (its exports synced three times as seed_demo does: quotas, pushed
deals, amount changes, EUR and GBP deals), each figure recomputed by independent SQL written here, and
the page, the CSV export and Slack over the same run.

Committed data: the sync's consumer runs in a thread with its own database connection.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.db import connection
from django.test import Client

from tests.conftest import PASSWORD, _jwt_client, free_port, host_of

from .helpers import in_schema

pytestmark = pytest.mark.slow


@pytest.fixture
def demo(committed_tenants, settings):
    """alpha with the demo synced as seed_demo does (three snapshots) and the RevOps agent run."""
    from agents.management.commands.seed_demo import demo_sync
    from agents.services import agents_run

    alpha = committed_tenants[0]
    demo_sync(alpha, settings.DATA_DIR / "demo-exports", stdout=io.StringIO(), stderr=io.StringIO())
    with in_schema(alpha):
        (run,) = agents_run(tenant=alpha, agents=["revops"])
    assert run.status == "succeeded", run.error
    return alpha, run


def _one(sql: str, params: dict | None = None):
    with connection.cursor() as cur:
        cur.execute(sql, params or {})
        return cur.fetchall()


# Independent of agents/services/revenue.py: each deal's version at a moment by DISTINCT ON, the rate of
# each currency by DISTINCT ON, the factor through the euro.
FACTORS = """
WITH rate AS (SELECT DISTINCT ON (currency) currency, per_eur FROM money_fxrate WHERE day <= %(day)s::date
              ORDER BY currency, day DESC),
usd AS (SELECT per_eur FROM rate WHERE currency = 'USD')
SELECT c.currency, CASE WHEN c.currency = 'USD' THEN 1
                        ELSE (SELECT per_eur FROM usd) / coalesce(r.per_eur, CASE WHEN c.currency = 'EUR' THEN 1 END)
                   END AS factor
FROM (SELECT DISTINCT currency FROM dcl_history_opportunity) c LEFT JOIN rate r USING (currency)
"""
AT = """SELECT DISTINCT ON (unified_id) unified_id, deleted, status, close_date, amount, currency
        FROM dcl_history_opportunity WHERE valid_from <= %(at)s::timestamptz ORDER BY unified_id, version DESC"""


def _snapshot(at: str, factors: dict) -> dict:
    out = {}
    for uid, deleted, status, close, amount, currency in _one(AT, {"at": at}):
        if not deleted:
            value = Decimal(0) if amount is None else round(amount * factors[currency], 2)
            out[uid] = (status, close, value)
    return out


def test_the_demos_revops_figures_match_independent_sql(demo):
    tenant, run = demo
    rev = run.metrics["revenue"]
    wf, fc = rev["waterfall"], rev["forecast"]
    start, end = date.fromisoformat(wf["period_start"]), date.fromisoformat(wf["period_end"])
    with in_schema(tenant):
        factors = dict(_one(FACTORS, {"day": wf["rate_day"]}))
        # `since` at 00:00 UTC; `until` to its end (the next day at 00:00, exclusive: the last version before it)
        a = _snapshot(wf["query"]["params"]["since_at"], factors)
        b_all = _one(AT.replace("<=", "<"), {"at": wf["query"]["params"]["until_at"]})
        b = {u: (s, c, Decimal(0) if m is None else round(m * factors[cur], 2))
             for u, d, s, c, m, cur in b_all if not d}
        scope = {u for u, (s, c, _) in a.items() if s == "open" and c and start <= c <= end}
        closing = {u for u, (s, c, _) in b.items() if s == "open" and c and start <= c <= end}
        bars = {x["bar"]: x for x in wf["bars"]}
        assert (bars["opening"]["deals"], Decimal(str(bars["opening"]["amount"]))) == (
            len(scope), sum((a[u][2] for u in scope), Decimal(0)))
        assert (bars["closing"]["deals"], Decimal(str(bars["closing"]["amount"]))) == (
            len(closing), sum((b[u][2] for u in closing), Decimal(0)))
        pushed = {u for u in scope - closing if u in b and b[u][0] == "open" and b[u][1] and b[u][1] > end}
        won = {u for u in scope - closing if u in b and b[u][0] == "won"}
        created = {u for u in closing if u not in a}
        assert set(bars["pushed_out"]["records"]["unified_ids"]) == pushed
        assert Decimal(str(bars["pushed_out"]["amount"])) == -sum((b[u][2] for u in pushed), Decimal(0))
        assert set(bars["won"]["records"]["unified_ids"]) == won
        assert set((bars["created"]["records"] or {}).get("unified_ids", ())) == created
        assert wf["balanced"] is True and not wf["left_out"]
        # Non-trivial: the demo's snapshots push, cut, win and create deals, in three currencies.
        assert pushed and won and created and bars["decreased"]["deals"] > 0
        assert {cur for (cur,) in _one("SELECT DISTINCT currency FROM dcl_history_opportunity")} >= {"USD", "EUR",
                                                                                                    "GBP"}

        # Forecast: each owner's open pipeline closing in the period, and the quota loaded for it.
        pipeline = dict(_one("SELECT owner_id, sum(amount_reporting) FROM dcl_view_opportunity WHERE status = 'open' "
                             "AND close_date BETWEEN %(s)s AND %(e)s GROUP BY owner_id", {"s": start, "e": end}))
        won_by = dict(_one("SELECT owner_id, sum(amount_reporting) FROM dcl_view_opportunity WHERE status = 'won' "
                           "AND close_date BETWEEN %(s)s AND %(e)s GROUP BY owner_id", {"s": start, "e": end}))
        quota = {o: (q, cur) for o, q, cur in _one(
            "SELECT owner_id, sum(amount), min(currency) FROM dcl_view_quota WHERE period_start >= %(s)s "
            "AND period_end <= %(e)s GROUP BY owner_id", {"s": start, "e": end})}
        owners = {o["owner_id"]: o for o in fc["owners"]}
        covered = 0
        for owner, o in owners.items():
            assert Decimal(str(o["open_pipeline"])) == round(pipeline.get(owner) or Decimal(0), 2), owner
            if owner in quota and quota[owner][1] == "USD":
                q = quota[owner][0]
                assert Decimal(str(o["quota"])) == q
                remaining = q - (won_by.get(owner) or 0)
                if remaining > 0:
                    assert o["coverage"] == float(round((pipeline.get(owner) or 0) / remaining, 4)), owner
                    covered += 1
            elif owner not in quota:
                assert o["quota"] is None and "No quota for" in o["statement"]
        assert covered >= 2 and fc["owners_without_quota"]  # the Dynamics owners have none

        # Slippage: consecutive versions whose close dates differ.
        moved = _one("""SELECT count(DISTINCT h2.unified_id), count(*) FILTER (WHERE h2.close_date > h1.close_date)
                        FROM dcl_history_opportunity h1 JOIN dcl_history_opportunity h2
                          ON h2.unified_id = h1.unified_id AND h2.version = h1.version + 1
                        WHERE h1.close_date <> h2.close_date AND NOT h1.deleted AND NOT h2.deleted""")[0]
        assert (rev["slippage"]["deals_moved"], rev["slippage"]["pushes"]) == moved and moved[0] > 0
        # Conversion: deals that reached a stage category or a later one.
        ranks = "CASE stage_category WHEN 'qualify' THEN 1 WHEN 'develop' THEN 2 WHEN 'propose' THEN 3 " \
                "WHEN 'negotiate' THEN 4 WHEN 'won' THEN 5 END"
        for i, step in enumerate(rev["conversion"]["steps"], start=1):
            (n,) = _one(f"SELECT count(DISTINCT unified_id) FROM dcl_history_opportunity WHERE NOT deleted "
                        f"AND {ranks} >= %(i)s", {"i": i})[0]
            assert step["reached"] == n, step
        # Time in stage: a stay that ended is a version whose category differs from the one before it.
        ends = dict(_one("""SELECT h1.stage_category, count(*) FROM dcl_history_opportunity h1
                            JOIN dcl_history_opportunity h2 ON h2.unified_id = h1.unified_id
                             AND h2.version = h1.version + 1
                            WHERE h2.stage_category IS DISTINCT FROM h1.stage_category AND NOT h2.deleted
                            GROUP BY 1"""))
        for st in rev["time_in_stage"]["stages"]:
            assert st["completed_stays"] == ends.get(st["stage_category"], 0)
        # Velocity over the view.
        open_n, won_n, lost_n, avg_won = _one("""SELECT count(*) FILTER (WHERE status = 'open'),
            count(*) FILTER (WHERE status = 'won'), count(*) FILTER (WHERE status = 'lost'),
            avg(amount_reporting) FILTER (WHERE status = 'won') FROM dcl_view_opportunity""")[0]
        v = rev["velocity"]
        assert (v["open_deals"], v["win_rate_pct"], v["average_won"]) == (
            open_n, round(100 * won_n / (won_n + lost_n), 2), round(float(avg_won), 2))
        # Every stored query runs again in the tenant's schema and returns rows.
        for part in ("waterfall", "forecast", "conversion", "time_in_stage", "win_rates", "velocity", "slippage"):
            assert _one(rev[part]["query"]["sql"], rev[part]["query"]["params"]), part
    # Each finding of the analyses has its own action and the query of its figure.
    from agents.pilots.findings import ACTIONS, action_for

    revenue_findings = [f for f in run.findings if "query" in f]
    assert {f["kind"] for f in revenue_findings} >= {"waterfall_pushed_out", "quota_missing", "slippage"}
    for f in revenue_findings:
        assert f["kind"] in ACTIONS and f["action"] == action_for(f) and f["query"]["sql"]
    # The history's risks are in the at-risk findings' reasons.
    signals = {s for f in run.findings if f["kind"] == "at_risk_deal" for s in f.get("signals", ())}
    assert {"stuck", "amount_cut"} <= signals


def test_the_demos_snapshot_figures_in_sql_are_the_python_pilots(demo):
    """The run computed the pilot's figures in PostgreSQL (revops_sql) without reading the view's rows; the
    Python pilot over every row of the views (the reference) gives the same metrics and findings."""
    from django.utils import timezone

    from agents.pilots import revops
    from agents.services import revenue, revops_sql
    from agents.services.runs import revops_config, source_systems
    from dcl.selectors import view_all

    tenant, run = demo
    today = date.fromisoformat(run.inputs["today"])
    with in_schema(tenant):
        systems = source_systems()
        rows, accounts = list(view_all(entity="opportunity")), list(view_all(entity="account"))
        out = revenue.revenue_analyze(today=today, now=timezone.now(), reporting_currency="USD",
                                      keep_history_risk=True)
        held = out["history_risk"]
        try:
            sql, used = revops_sql.analyze(today=today, config=revops_config(), systems=systems,
                                           reporting_currency="USD", history_table=held.table,
                                           history_signals=held.signals, history_query=held.query)
            signals = held.signals([r["unified_id"] for r in rows])
        finally:
            revenue.history_release()
    reference = revops.analyze(opportunities=rows, accounts=accounts, today=today, config=revops_config(),
                               systems=systems, reporting_currency="USD", history_signals=signals)
    assert used == len(rows) == run.inputs["views"]["opportunity"]["rows_used"] > 50
    assert {k: v for k, v in sql.metrics.items() if k != "queries"} == reference.metrics
    assert [{k: v for k, v in f.items() if k != "query"} for f in sql.findings] == reference.findings
    # The run's own figures are these (its findings also hold the history analyses' findings).
    for key in ("open_pipeline", "weighted_forecast", "at_risk_count", "stale_count", "top_accounts",
                "deals_by_source", "unconverted", "pipeline_by_stage"):
        assert run.metrics[key] == reference.metrics[key], key
    assert reference.findings and sql.metrics["queries"]["totals"]["sql"].startswith("WITH revops_deals AS")
    # The run's stored at-risk query holds the history's risks inline: run again, the same deals.
    q = run.metrics["queries"]["at_risk"]
    assert "pg_temp" not in q["sql"]
    with in_schema(tenant):
        count, _, listed = _one(q["sql"], q["params"])[0]
    assert count == run.metrics["at_risk_count"] and listed == [
        f["subject"]["unified_id"] for f in run.findings if f["kind"] == "at_risk_deal"]


class _Slack(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server naming
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_the_page_the_csv_and_slack_show_the_demos_run(demo, settings):
    tenant, run = demo
    web = Client(HTTP_HOST=host_of(tenant))
    connection.set_tenant(tenant)
    assert web.login(username="admin", password=PASSWORD)
    connection.set_schema_to_public()
    page = web.get("/agents/").content.decode()
    assert "data-revenue" in page and 'data-bar="pushed_out"' in page and "data-forecast" in page
    assert "No quota for" in page  # the Dynamics owners: a statement, not a zero
    bar = web.get(f"/agents/runs/{run.pk}/waterfall/pushed_out/")
    pushed = next(b for b in run.metrics["revenue"]["waterfall"]["bars"] if b["bar"] == "pushed_out")
    rows = bar.content.decode().count("<tr data-record=")
    assert bar.status_code == 200 and rows == pushed["deals"] and "data-query" in bar.content.decode()
    assert web.get(f"/agents/runs/{run.pk}/waterfall/nonsense/").status_code == 404
    csv_page = web.get(f"/agents/runs/{run.pk}/findings.csv")
    assert csv_page.status_code == 200 and csv_page["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(csv_page.content.decode())))
    assert len(rows) == len(run.findings) and {"query_sql", "record_ids", "action"} <= set(rows[0])
    api = _jwt_client(tenant).get(f"/api/agents/revops/results/{run.pk}/findings.csv")
    assert api.status_code == 200 and api.content == csv_page.content
    assert "waterfall_pushed_out" in api.content.decode() and "dcl_history_opportunity" in api.content.decode()

    from agents.services import agents_run

    _Slack.received = []
    server = HTTPServer(("127.0.0.1", 0), _Slack)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings.SLACK_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/services/T/B/X"
        with in_schema(tenant):
            (sent,) = agents_run(tenant=tenant, agents=["revops"])
        assert sent.inputs["slack"] == {"sent": True}
        assert len(_Slack.received) == 1 and f"run #{sent.pk}" in _Slack.received[0]["text"]
    finally:
        server.shutdown()
    settings.SLACK_WEBHOOK_URL = f"http://127.0.0.1:{free_port()}/nobody-listens"
    with in_schema(tenant):
        (failed,) = agents_run(tenant=tenant, agents=["revops"])
    assert failed.status == "succeeded" and failed.inputs["slack"]["sent"] is False
