"""The RevOps pilot's figures computed in PostgreSQL (agents/services/revops_sql.py) are the Python pilot's
(agents/pilots/revops.py `analyze`, the reference): the hand-worked deals of test_revops_pilot.py and a few
harder ones (a stage awaiting review, amounts without a rate, a merged deal of two CRMs, a deal without
lineage, a large deal at low probability), written into an opportunity view in the tenant's schema,
both ways, every metric and every finding compared; routing (a connection not routed to RevOps) and the
history's risk points too. Every stored query runs again and returns its figure.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from agents.pilots import revops
from agents.pilots.values import day, num
from agents.services import revops_sql

from .test_revops_pilot import ACCOUNTS, OPPORTUNITIES, TODAY, src

COLUMNS = {"unified_id": "text", "id": "text", "name": "text", "stage": "text", "amount": "numeric",
           "currency": "text", "probability": "numeric", "close_date": "date", "created_at": "timestamptz",
           "updated_at": "timestamptz", "status": "text", "stage_category": "text", "forecast_category": "text",
           "amount_reporting": "numeric", "reporting_currency": "text", "fx_missing": "text",
           "account_unified_id": "text", "next_step": "text", "owner_id": "text", "sources": "jsonb"}

EXTRA = [  # beyond the hand-worked eight
    {"unified_id": "P1", "name": "Pending", "stage": "Custom Stage", "amount": 5000, "amount_reporting": 5000,
     "currency": "USD", "status": None, "stage_category": None, "close_date": "2026-03-05",
     "created_at": "2026-02-01", "updated_at": "2026-02-20", "sources": src("salesforce")},
    {"unified_id": "P2", "name": "No stage", "stage": "", "amount": None, "currency": "USD", "status": "pending?",
     "created_at": "2026-02-01", "sources": src("hubspot", 2)},
    {"unified_id": "E1", "name": "Euro deal", "stage": "Prospecting", "amount": 7000, "amount_reporting": None,
     "currency": "EUR", "fx_missing": "no_rate", "status": "open", "stage_category": "qualify",
     "forecast_category": "pipeline", "close_date": "2026-05-01", "created_at": "2026-01-10",
     "updated_at": "2026-01-11", "account_unified_id": "acc-globex", "next_step": "x", "sources": src("hubspot", 2)},
    {"unified_id": "E2", "name": "Yen deal", "stage": "Prospecting", "amount": 900000, "amount_reporting": None,
     "currency": "JPY", "fx_missing": "no_rate", "status": "open", "stage_category": "qualify",
     "close_date": "2026-05-01", "created_at": "2026-01-10", "updated_at": "2026-01-11", "sources": None},
    {"unified_id": "E3", "name": "No currency", "stage": "Prospecting", "amount": 100, "amount_reporting": None,
     "currency": None, "fx_missing": "", "status": "open", "stage_category": "develop", "probability": 0.3,
     "close_date": "2026-03-08", "created_at": "2026-02-27", "sources": src("salesforce")},
    {"unified_id": "M1", "name": "Merged big deal", "stage": "Prospecting", "amount": 900000,
     "amount_reporting": 900000, "currency": "USD", "status": "open", "stage_category": "qualify",
     "forecast_category": "pipeline", "close_date": "2026-03-12", "created_at": "2026-01-01",
     "updated_at": "2026-02-27", "account_unified_id": "acc-new", "next_step": "",
     "sources": src("salesforce") + src("hubspot", 2)},
    {"unified_id": None, "id": " X9 ", "name": "Only an id", "stage": "Prospecting", "amount": 3000,
     "amount_reporting": 3000, "currency": "USD", "status": "open", "stage_category": "qualify",
     "close_date": "2026-06-01", "created_at": "2025-10-01", "updated_at": "2025-11-01", "next_step": "x",
     "account_unified_id": "acc-wayne", "sources": src("salesforce")},
    {"unified_id": "W1", "name": "Won, no forecast category", "stage": "Closed Won", "amount": 1234.5,
     "amount_reporting": 1234.5, "currency": "USD", "status": "won", "stage_category": "won",
     "forecast_category": None, "close_date": "2026-02-20", "created_at": "2026-01-01", "sources": src("hubspot", 2)},
]


def _row(r: dict) -> dict:
    """A row as the view holds it (typed), from the tests' loosely typed dicts."""
    out = {k: r.get(k) for k in COLUMNS}
    for k in ("amount", "amount_reporting", "probability"):
        value = num(out[k])
        out[k] = Decimal(str(value)) if value is not None else None
    for k in ("close_date", "created_at", "updated_at"):
        out[k] = day(out[k])
    out["sources"] = json.dumps(out["sources"]) if out["sources"] is not None else None
    out["reporting_currency"] = "USD"
    return out


def _view(rows: list[dict], accounts: list[dict] = ACCOUNTS) -> list[dict]:
    """The opportunity and account views of the tenant; returns the rows as the pilot reads them."""
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE dcl_view_opportunity (" + ", ".join(f"{k} {t}" for k, t in COLUMNS.items()) + ")")
        for r in rows:
            cur.execute(f"INSERT INTO dcl_view_opportunity ({', '.join(COLUMNS)}) VALUES "
                        f"({', '.join(['%s'] * len(COLUMNS))})", list(_row(r).values()))
        cur.execute("CREATE TABLE dcl_view_account (unified_id text, name text, sources jsonb)")
        for a in accounts:
            cur.execute("INSERT INTO dcl_view_account VALUES (%s, %s, %s)",
                        [a["unified_id"], a["name"], json.dumps(a["sources"])])
        cur.execute("SELECT * FROM dcl_view_opportunity")
        names = [c.name for c in cur.description]
        read = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    for r in read:
        r["sources"] = json.loads(r["sources"]) if isinstance(r["sources"], str) else r["sources"]
    return read


def _without_queries(result) -> tuple[dict, list[dict]]:
    metrics = {k: v for k, v in result.metrics.items() if k != "queries"}
    return metrics, [{k: v for k, v in f.items() if k != "query"} for f in result.findings]


CONFIG = revops.RevOpsConfig(stale_days=30, at_risk_threshold=40)
SYSTEMS = {1: "salesforce", 2: "hubspot", 3: "dynamics"}


def _sql(**kw):
    result, used = revops_sql.analyze(today=TODAY, config=CONFIG, systems=SYSTEMS, reporting_currency="USD", **kw)
    return result, used


def test_the_figures_in_sql_are_the_python_pilots(in_tenant_a):
    rows = _view(OPPORTUNITIES + EXTRA)
    reference = revops.analyze(opportunities=rows, accounts=ACCOUNTS, today=TODAY, config=CONFIG, systems=SYSTEMS,
                               reporting_currency="USD")
    result, used = _sql()
    assert used == len(rows) == 16
    assert _without_queries(result) == _without_queries(reference)
    m = result.metrics
    # Non-trivial: every kind of finding, a merged deal in two systems, amounts left out in three currencies.
    assert {f["kind"] for f in result.findings} == {"at_risk_deal", "overdue_deal", "stale_deal",
                                                    "unconverted_amounts", "status_pending", "unlinked_deals"}
    assert m["status_pending_count"] == 2 and m["unconverted"]["count"] == 3
    assert m["deals_by_source"] == {"dynamics": 1, "hubspot": 6, "salesforce": 9, "unknown": 1}
    assert any("large deal" in r for f in result.findings for r in f.get("reasons", ()))
    # Open and won deals without a forecast category are one group, as the pilot has it.
    pending = [g for g in m["pipeline_by_forecast_category"] if g["forecast_category"] == revops.PENDING]
    assert [(g["count"], g["amount"]) for g in pending] == [(5, 4234.5)]  # O7 E2 E3 X9 open, W1 won
    # A deal the view names by its `id` only is found again by it (listed: stale).
    assert "X9" in {f["subject"]["unified_id"] for f in result.findings if f["kind"] == "stale_deal"}


def test_every_figure_keeps_a_query_that_returns_it(in_tenant_a):
    _view(OPPORTUNITIES + EXTRA)
    result, _ = _sql()
    q = result.metrics["queries"]
    with connection.cursor() as cur:
        cur.execute(q["totals"]["sql"], q["totals"]["params"])
        names = [c.name for c in cur.description]
        totals = dict(zip(names, cur.fetchone(), strict=True))
        cur.execute(q["at_risk"]["sql"], q["at_risk"]["params"])
        at_risk = cur.fetchone()
        cur.execute(q["top_accounts"]["sql"], q["top_accounts"]["params"])
        top = cur.fetchall()
        cur.execute(q["groups"]["sql"], q["groups"]["params"])
        groups = cur.fetchall()
    assert float(totals["open_pipeline"]) == result.metrics["open_pipeline"]
    assert int(totals["stale_count"]) == result.metrics["stale_count"]
    assert (at_risk[0], float(at_risk[1])) == (result.metrics["at_risk_count"], result.metrics["at_risk_value"])
    assert [r[0] for r in top] == [a["account_unified_id"] for a in result.metrics["top_accounts"]]
    assert groups
    for f in result.findings:
        assert f["query"]["sql"].startswith("WITH revops_deals AS (SELECT"), f["kind"]
    assert not _temp_tables()  # the pass is dropped after the run


def _temp_tables() -> list[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT relname FROM pg_class WHERE relpersistence = 't' AND relname LIKE 'revops%%'")
        return [r[0] for r in cur.fetchall()]


def test_a_connection_not_routed_to_revops_does_not_count(in_tenant_a):
    """As agents/routing.py `row_in_domain`: dynamics (3) routed elsewhere; a deal with a source routed to
    RevOps counts (M1: Salesforce and HubSpot), one without lineage (E2) or only unknown connections counts."""
    rows = _view(OPPORTUNITIES + EXTRA + [
        {"unified_id": "U1", "name": "Unknown conn", "stage": "Prospecting", "amount": 10, "amount_reporting": 10,
         "currency": "USD", "status": "open", "stage_category": "qualify", "close_date": "2026-03-30",
         "created_at": "2026-02-20", "sources": src("salesforce", 99)},
        {"unified_id": "D2", "name": "Dynamics and HubSpot", "stage": "Prospecting", "amount": 20,
         "amount_reporting": 20, "currency": "USD", "status": "open", "stage_category": "qualify",
         "close_date": "2026-03-30", "created_at": "2026-02-20", "sources": src("dynamics", 3) + src("hubspot", 2)}])
    kept = [r for r in rows if not any(s["connection_id"] == 3 for s in r["sources"] or ())
            or any(s["connection_id"] in (1, 2) for s in r["sources"] or ())]
    assert {r["unified_id"] for r in rows} - {r["unified_id"] for r in kept} == {"O8"}
    reference = revops.analyze(opportunities=kept, accounts=ACCOUNTS, today=TODAY, config=CONFIG, systems=SYSTEMS,
                               reporting_currency="USD")
    result, used = _sql(excluded=[3], routed=[1, 2])
    assert used == len(kept)
    assert _without_queries(result) == _without_queries(reference)
    assert "O8" not in {t.get("subject", {}).get("unified_id") for t in result.findings}


def test_the_historys_points_add_to_the_score_and_their_reasons_to_the_listed_deals(in_tenant_a):
    rows = _view(OPPORTUNITIES + EXTRA)
    history = {"O3": [("pushed_twice", "close date pushed 2 times")],
               "O1": [("stuck", "in stage negotiate for 30 days (median 10)"),
                      ("pushed_twice", "close date pushed 3 times"),
                      ("amount_cut", "amount cut from 250,000 to 200,000 USD")],
               "O4": [("amount_cut", "amount cut from 40,000 to 30,000 USD")]}  # closed: no score
    with connection.cursor() as cur:
        cur.execute("CREATE TEMPORARY TABLE hist_points (unified_id text, points int)")
        cur.execute("INSERT INTO hist_points VALUES ('O3', 20), ('O1', 55), ('O4', 15)")
    try:
        asked = []

        def signals(ids):
            asked.append(list(ids))
            return {u: s for u, s in history.items() if u in ids}

        stored = {"sql": "SELECT * FROM (VALUES ('O3', 20), ('O1', 55), ('O4', 15)) h(unified_id, points)",
                  "params": {}}
        result, _ = _sql(history_table="hist_points", history_signals=signals, history_query=stored)
    finally:
        with connection.cursor() as cur:
            cur.execute("DROP TABLE pg_temp.hist_points")
    reference = revops.analyze(opportunities=rows, accounts=ACCOUNTS, today=TODAY, config=CONFIG, systems=SYSTEMS,
                               reporting_currency="USD", history_signals=history)
    assert _without_queries(result) == _without_queries(reference)
    at_risk = [(f["subject"]["unified_id"], f["score"]) for f in result.findings if f["kind"] == "at_risk_deal"]
    assert ("O1", 55) in at_risk and ("O3", 40) in at_risk
    assert asked == [[u for u, _ in at_risk]]  # only the listed deals' reasons are read
    # The stored at-risk query holds the history's query, not the temporary table: it runs on its own.
    q = result.metrics["queries"]["at_risk"]
    assert "hist_points" not in q["sql"]
    with connection.cursor() as cur:
        cur.execute(q["sql"], q["params"])
        count, value, listed = cur.fetchone()
    assert (count, listed) == (result.metrics["at_risk_count"], [u for u, _ in at_risk])


def test_an_empty_view_gives_zeros_and_nones_as_the_pilot_does(in_tenant_a):
    _view([], accounts=[])
    result, used = _sql()
    reference = revops.analyze(opportunities=[], accounts=[], today=TODAY, config=CONFIG, reporting_currency="USD")
    assert used == 0 and _without_queries(result) == _without_queries(reference)
    assert result.metrics["win_rate_pct"] is None and result.findings == []


@pytest.mark.parametrize("max_listed", [1, 2])
def test_findings_list_at_most_max_listed_deals_largest_first(in_tenant_a, max_listed):
    rows = _view(OPPORTUNITIES + EXTRA)
    config = revops.RevOpsConfig(stale_days=30, at_risk_threshold=40, max_listed=max_listed)
    reference = revops.analyze(opportunities=rows, accounts=ACCOUNTS, today=TODAY, config=config, systems=SYSTEMS,
                               reporting_currency="USD")
    result, _ = revops_sql.analyze(today=TODAY, config=config, systems=SYSTEMS, reporting_currency="USD")
    assert _without_queries(result) == _without_queries(reference)
    assert sum(1 for f in result.findings if f["kind"] == "stale_deal") == max_listed


def test_the_day_is_the_runs(in_tenant_a):
    _view(OPPORTUNITIES)
    later, _ = revops_sql.analyze(today=date(2026, 6, 1), config=CONFIG, systems=SYSTEMS, reporting_currency="USD")
    assert later.metrics["overdue_count"] == 4  # everything open with a close date is past by June
