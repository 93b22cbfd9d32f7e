"""Findings people can act on (issue 18, item 8): repeats over consecutive days are one finding with
a date range, every finding has an action specific to its kind and data, amounts carry the reporting
currency, and findings stored before all this are read in the same shape.

Pure functions over hand-made rows; no database (the links over real views: test_finding_links.py).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from agents.narrative import heuristic_finops, heuristic_revops, summary_lines
from agents.pilots import finops, revops
from agents.pilots.findings import ACTIONS, RECORDS_MAX, action_for, finding_id, records_ref
from agents.pilots.normalize import findings_normalize

from .helpers import in_usd
from .test_finops_pilot import RESOURCES, _dataset
from .test_revops_pilot import ACCOUNTS, OPPORTUNITIES, TODAY

START = date(2026, 1, 1)


def _spiky(spike_days: dict[int, float], *, days: int = 30, service: str = "AmazonEC2"):
    """`service` billed 100 a day on two resources (60 on i-a, 40 on i-b) for `days` days; on the days
    in `spike_days` i-b costs that much more. Every line has a unified id u<day>-<resource>."""
    rows = []
    for i in range(days):
        d = START + timedelta(days=i)
        for rid, amount in (("i-a", 60.0), ("i-b", 40.0 + spike_days.get(i, 0.0))):
            rows.append({"unified_id": f"u{i}-{rid}", "service_name": service, "resource_id": rid,
                         "charge_period_start": f"{d}T00:00:00Z", "billed_cost": amount, "charge_category": "Usage"})
    return rows


# --- repeats over consecutive days: one finding with from / to ------------------------------


def test_a_spike_over_three_consecutive_days_is_one_finding_with_its_range():
    """Days 20, 21, 22 at +300 each (median 100, scale 5 → z = 60): three flagged days, one finding."""
    out = finops.analyze(costs=in_usd(_spiky({20: 300, 21: 300, 22: 300})))
    [a] = [f for f in out.findings if f["kind"] == "anomaly"]
    assert (a["from"], a["to"], a["days"]) == ("2026-01-21", "2026-01-23", 3)
    assert (a["amount"], a["baseline"], a["delta"]) == (1200, 300, 900)
    assert [d["day"] for d in a["by_day"]] == ["2026-01-21", "2026-01-22", "2026-01-23"]
    assert (out.metrics["anomaly_count"], out.metrics["anomaly_days"]) == (1, 3)
    assert a["title"] == ("AmazonEC2 spike from 2026-01-21 to 2026-01-23 (3 days): 1,200.00 USD against an expected "
                          "300.00 USD (+900.00 USD)")
    # Its records are exactly the usage lines of that service on those days; the driver is i-b.
    assert sorted(a["records"]["unified_ids"]) == sorted(f"u{i}-{r}" for i in (20, 21, 22) for r in ("i-a", "i-b"))
    assert a["records"]["count"] == 6 and a["records"]["entity"] == "cost"
    assert a["drivers"] == [{"resource_id": "i-b", "amount": 1020, "delta": 900}]


def test_a_gap_a_direction_or_a_service_starts_another_finding():
    rows = _spiky({20: 300, 21: 300, 25: 300}) + _spiky({20: 300}, service="AmazonRDS")
    out = finops.analyze(costs=in_usd(rows))
    periods = sorted((f["service"], f["from"], f["to"]) for f in out.findings if f["kind"] == "anomaly")
    assert periods == [("AmazonEC2", "2026-01-21", "2026-01-22"), ("AmazonEC2", "2026-01-26", "2026-01-26"),
                       ("AmazonRDS", "2026-01-21", "2026-01-21")]


def test_anomaly_periods_merge_days_of_one_service_and_direction_only():
    def day(n, service="s", direction="spike", severity="medium"):
        return {"service": service, "direction": direction, "day": f"2026-03-{n:02d}", "amount": 50.0,
                "baseline": 10.0, "delta": 40.0, "z": n * 1.0, "severity": severity}

    periods = finops.anomaly_periods([day(3), day(1), day(2, severity="high"), day(2, direction="drop"),
                                      day(2, service="t"), day(5)])
    spans = sorted((p["service"], p["direction"], p["from"], p["to"], p["days"]) for p in periods)
    assert spans == [("s", "drop", "2026-03-02", "2026-03-02", 1), ("s", "spike", "2026-03-01", "2026-03-03", 3),
                     ("s", "spike", "2026-03-05", "2026-03-05", 1), ("t", "spike", "2026-03-02", "2026-03-02", 1)]
    three = next(p for p in periods if p["days"] == 3)
    assert (three["amount"], three["baseline"], three["delta"], three["z"], three["severity"]) == (150, 30, 120, 3.0,
                                                                                                   "high")


def _stored_demo_run_findings():
    """What the demo's FinOps run stored before issue 18: one anomaly finding per day, no currency, no
    action, a savings title without currency."""
    day = {"z": 68.83, "kind": "anomaly", "delta": 293.76, "amount": 379.12, "service": "AmazonEC2",
           "baseline": 85.36, "severity": "high", "direction": "spike", "change_pct": 344.13}
    anomalies = [{**day, "day": d, "title": f"AmazonEC2 spike on {d}: 379.12 vs baseline 85.36 (+293.76)"}
                 for d in ("2026-11-21", "2026-11-22", "2026-11-23")]
    saving = {"kind": "savings", "rule": "idle_resource", "severity": "low", "estimated_monthly": 3.6,
              "title": "54.185.248.141 is idle (not in use) and costs 3.6/month",
              "action": "delete or release it, or attach it to something that uses it",
              "subject": {"id": "eipalloc-1", "name": "54.185.248.141", "entity": "cloud_resource", "status": None,
                          "unified_id": "res_1", "window_spend": 3.6, "monthly_run_rate": 3.6}}
    at_risk = {"kind": "at_risk_deal", "severity": "high", "score": 80, "title": "Big deal is at risk (80/100)",
               "reasons": ["close date 2026-12-01 passed 6 days ago", "no update in 39 days",
                           "large deal (106,600) at 10% probability"],
               "subject": {"entity": "opportunity", "unified_id": "opp_1", "name": "Big deal", "amount": 106600.0,
                           "close_date": "2026-12-01"}}
    return [*anomalies, saving, at_risk]


def test_findings_already_stored_are_read_with_their_repeats_merged_and_actions_currency_and_records():
    found = findings_normalize(_stored_demo_run_findings(), currency="USD")
    assert [f["kind"] for f in found] == ["anomaly", "savings", "at_risk_deal"]
    anomaly, saving, at_risk = found
    assert (anomaly["from"], anomaly["to"], anomaly["days"], anomaly["amount"], anomaly["delta"]) == (
        "2026-11-21", "2026-11-23", 3, 1137.36, 881.28)
    assert anomaly["title"] == ("AmazonEC2 spike from 2026-11-21 to 2026-11-23 (3 days): 1,137.36 USD against an "
                                "expected 256.08 USD (+881.28 USD)")
    assert "records" not in anomaly  # the old per-day findings never kept their cost lines
    assert saving["title"] == "54.185.248.141 is idle (not in use) and costs 3.60 USD/month"
    assert saving["action"] == ("Delete or release 54.185.248.141, or attach it to something that uses it; saves "
                                "3.60 USD a month.")
    assert saving["records"] == {"entity": "cloud_resource", "unified_ids": ["res_1"], "count": 1}
    assert at_risk["reasons"][-1] == "large deal (106,600 USD) at 10% probability"
    assert at_risk["action"].startswith("Big deal: move its close date (2026-12-01) to when it will really close")
    assert all(f["currency"] == "USD" and f["id"] for f in found)


def test_normalizing_is_idempotent_and_keeps_ids():
    once = findings_normalize(_stored_demo_run_findings(), currency="USD")
    twice = findings_normalize(once, currency="USD")
    assert twice == once
    fresh = finops.analyze(costs=in_usd(_dataset()), resources=RESOURCES).findings
    assert findings_normalize(findings_normalize(fresh, currency="USD"), currency="USD") == findings_normalize(
        fresh, currency="USD")


def test_finding_ids_are_stable_and_distinct_within_a_run():
    fresh = findings_normalize(revops.analyze(opportunities=OPPORTUNITIES, accounts=ACCOUNTS, today=TODAY).findings)
    ids = [f["id"] for f in fresh]
    assert len(set(ids)) == len(ids)
    assert ids == [finding_id(f) for f in fresh]


# --- a recommended action per type, from the finding's data ---------------------------------


@pytest.fixture(scope="module")
def revops_findings():
    rows = [*OPPORTUNITIES,
            {"unified_id": "P1", "name": "Pending deal", "stage": "Stage 9", "status": None, "amount": 99,
             "amount_reporting": 99, "currency": "USD", "reporting_currency": "USD", "account_unified_id": "acc-acme"},
            {"unified_id": "G1", "name": "London deal", "stage": "Prospecting", "status": "open", "amount": 5000,
             "amount_reporting": None, "currency": "GBP", "fx_missing": "no_rate", "reporting_currency": "USD",
             "account_unified_id": "acc-acme"}]
    return revops.analyze(opportunities=rows, accounts=ACCOUNTS, today=TODAY).findings


@pytest.fixture(scope="module")
def finops_findings():
    rows = in_usd(_dataset()) + [{"unified_id": "eur-1", "service_name": "AmazonS3", "charge_period_start": START,
                                  "billed_cost": 12, "billing_currency": "EUR", "fx_missing": "no_rate",
                                  "reporting_currency": "USD"}]
    return finops.analyze(costs=rows, resources=RESOURCES).findings


def _one(findings, kind, **match):
    return next(f for f in findings if f["kind"] == kind and all(
        (f.get("subject") or {}).get(k, f.get(k)) == v for k, v in match.items()))


REVENUE_KINDS = {"waterfall_pushed_out", "waterfall_lost", "quota_missing", "low_coverage", "slippage"}


def test_every_kind_the_pilots_report_has_its_own_action(revops_findings, finops_findings):
    from agents.services.finops_sql import FINDING_KINDS  # the demo's run has them (test_finops_focus_demo.py)

    kinds = {f["kind"] for f in revops_findings + finops_findings}
    # the datasets cover every kind, and every kind has an action of its own; the SQL analyses' kinds
    # (agents/services/revenue.py, finops_sql.py) are covered by tests/agents/test_revenue*.py and
    # test_finops_focus_demo.py
    assert kinds | REVENUE_KINDS | FINDING_KINDS == set(ACTIONS) and not kinds & (REVENUE_KINDS | FINDING_KINDS)
    for f in revops_findings + finops_findings:
        assert f["action"] and f["action"] != "–" and f["action"] == action_for(f), f


@pytest.mark.parametrize(("kind", "match", "expected"), [
    ("at_risk_deal", {"unified_id": "O2"},
     "Acme renewal: move its close date (2026-02-15) to when it will really close, or close it as lost; get an update "
     "from its owner (none logged in 50 days); record the next step."),
    ("at_risk_deal", {"unified_id": "O7"},
     "Stark: give it a close date; get an update from its owner (none logged in 76 days); record the next step."),
    ("overdue_deal", {"unified_id": "O2"},
     "Close Acme renewal as won or lost, or move its close date (2026-02-15, 14 days ago) to when it will really "
     "close."),
    ("stale_deal", {"unified_id": "O2"},
     "Ask its owner where Acme renewal (100,000 USD, closing 2026-02-15) stands; log the answer (no update in 50 "
     "days), or close it as lost if it has gone cold."),
    ("status_pending", {},
     "Decide what the stage “Stage 9” means (open, won or lost) on the Values page (/aam/values/); its deal counts in "
     "the pipeline and win rate again once it is decided."),
    ("unlinked_deals", {},
     "Map the account (company) column of salesforce to the deal's account_id in the connection's mapping and sync "
     "again, so these deals join their accounts; deals with no account in the source need one there."),
    ("unconverted_amounts", {},
     "Load GBP rates covering their dates (manage.py fx_load, or Money in the admin); the amounts join the totals "
     "when the views are next materialized."),
])
def test_revops_actions_name_the_deal_its_dates_amounts_and_what_to_change(revops_findings, kind, match, expected):
    assert _one(revops_findings, kind, **match)["action"] == expected


@pytest.mark.parametrize(("kind", "match", "expected"), [
    ("anomaly", {},
     "Find what drove AmazonEC2 up on 2026-02-10 (+295.00 USD over its usual spend; the largest change is on i-web "
     "(+295.00 USD)); if it was not planned, stop or right-size it and set a budget alert on the service."),
    ("savings", {"id": "i-old"},
     "Snapshot old batch box and release its storage, addresses and licences, or terminate it; saves 42.00 USD a "
     "month."),
    ("savings", {"id": "vol-orphan"},
     "Delete or release orphan volume, or attach it to something that uses it; saves 28.00 USD a month."),
    ("savings", {"id": "i-web"}, "Move web-1 to the current generation of the same size; saves 345.00 USD a month."),
    ("untagged_resource", {"id": "vol-orphan"},
     "Tag orphan volume with its owner, team and cost centre; 28.00 USD of spend in the last 30 days is charged to no "
     "one."),
    ("untagged_resource", {"id": "i-nocost"},
     "Tag new box with its owner, team and cost centre; so its cost is charged to someone once it starts costing."),
    ("unconverted_amounts", {},
     "Load EUR rates covering their dates (manage.py fx_load, or Money in the admin); the amounts join the totals "
     "when the views are next materialized."),
])
def test_finops_actions_name_the_service_period_resource_and_saving(finops_findings, kind, match, expected):
    assert _one(finops_findings, kind, **match)["action"] == expected


def test_a_drop_asks_whether_it_is_intended_or_missing_data():
    rows = [{"service_name": "db", "charge_period_start": START + timedelta(days=i),
             "billed_cost": 10 if i == 10 else (100 if i % 2 else 104)} for i in range(11)]
    [a] = [f for f in finops.analyze(costs=in_usd(rows)).findings if f["kind"] == "anomaly"]
    assert a["action"] == ("Check that the drop of db on 2026-01-11 (-92.00 USD) is intended (something stopped, a "
                           "discount) and not cost data missing from the export.")


@pytest.mark.parametrize("reason, expected", [
    ("no_currency", "Set the source's currency (the connection's currency) or map its currency column"),
    ("unknown_currency", "Correct the currency code XYZ at the source (not ISO 4217)"),
    ("no_date", "Map a date for them (close date or charge period start) so a rate can be chosen"),
    ("no_reporting_rate", "Load USD rates covering their dates (manage.py fx_load)"),
])
def test_an_unconverted_amounts_action_follows_why_they_were_not_converted(reason, expected):
    finding = {"kind": "unconverted_amounts", "currency": "USD",
               "by_currency": [{"currency": "XYZ", "count": 1, "amount": 1.0, "reasons": {reason: 1}}]}
    assert action_for(finding).startswith(expected)


# --- amounts carry the reporting currency ----------------------------------------------------


def test_every_finding_and_summary_line_with_money_names_the_reporting_currency(revops_findings, finops_findings):
    for f in revops_findings + finops_findings:
        assert f["currency"] == "USD", f
    money_titles = [f["title"] for f in finops_findings if f["kind"] in ("anomaly", "savings")]
    money_titles += [f["title"] for f in revops_findings if f["kind"] in ("status_pending", "unlinked_deals")]
    assert money_titles and all(" USD" in t for t in money_titles), money_titles
    rev = revops.analyze(opportunities=OPPORTUNITIES, accounts=ACCOUNTS, today=TODAY)
    fin = finops.analyze(costs=in_usd(_dataset()), resources=RESOURCES)
    for text in (heuristic_revops(rev.metrics, rev.findings), heuristic_finops(fin.metrics, fin.findings)):
        for line in summary_lines(text):
            if any(word in line for word in ("pipeline", "Spend", "Savings", "account", "Anomalies")):
                assert "USD" in line, line


def test_a_large_deal_reason_carries_the_currency():
    deal = revops.deal_from_row({"unified_id": "X", "status": "open", "stage_category": "develop", "probability": 0.3,
                                 "amount_reporting": 500000, "close_date": "2026-06-01", "updated_at": "2026-02-28",
                                 "next_step": "call"})
    _, reasons = revops.risk_score(deal, today=TODAY, stale_days=30, big_deal_amount=400000, next_step_in_use=True,
                                   currency="EUR")
    assert reasons == ["large deal (500,000 EUR) at 30% probability"]


def test_the_tenants_currency_names_amounts_when_no_row_does():
    rows = [{k: v for k, v in r.items() if k != "reporting_currency"} for r in in_usd(_dataset())]
    out = finops.analyze(costs=rows, reporting_currency="EUR")
    assert out.metrics["reporting_currency"] == "EUR"
    assert all(f["currency"] == "EUR" for f in out.findings)


# --- the summary is short lines -------------------------------------------------------------


def test_the_summaries_are_a_few_short_lines_not_a_paragraph():
    rev = revops.analyze(opportunities=OPPORTUNITIES, accounts=ACCOUNTS, today=TODAY)
    fin = finops.analyze(costs=in_usd(_dataset()), resources=RESOURCES)
    for text in (heuristic_revops(rev.metrics, rev.findings), heuristic_finops(fin.metrics, fin.findings)):
        lines = text.splitlines()
        assert 3 <= len(lines) <= 8, lines
        assert all(line.startswith("- ") and len(line) <= 130 for line in lines), lines
    assert summary_lines("- a\n• b\n\n* c") == ["a", "b", "c"]
    assert summary_lines("One old paragraph. Two sentences.") == ["One old paragraph. Two sentences."]


# --- records ---------------------------------------------------------------------------------


def test_records_keep_at_most_what_one_api_filter_takes_and_say_so():
    ref = records_ref("cost", [f"c{i}" for i in range(RECORDS_MAX + 20)] + ["c0", ""])
    assert ref["count"] == RECORDS_MAX + 20 and len(ref["unified_ids"]) == RECORDS_MAX and ref["truncated"]
    assert records_ref("cost", ["b", "a", "b"]) == {"entity": "cost", "unified_ids": ["b", "a"], "count": 2}
    assert records_ref("cost", [None, ""]) is None
    from dcl.selectors import MAX_IN_VALUES

    assert RECORDS_MAX <= MAX_IN_VALUES


def test_deal_findings_point_at_their_deal_and_status_pending_at_every_pending_deal(revops_findings):
    for f in revops_findings:
        if f["kind"] in ("at_risk_deal", "overdue_deal", "stale_deal"):
            assert f["records"] == {"entity": "opportunity", "unified_ids": [f["subject"]["unified_id"]], "count": 1}
    assert _one(revops_findings, "status_pending")["records"]["unified_ids"] == ["P1"]
    assert _one(revops_findings, "unconverted_amounts")["records"]["unified_ids"] == ["G1"]
    assert _one(revops_findings, "unlinked_deals")["records"]["unified_ids"] == ["O7"]
