"""RevOps pilot against a small dataset whose every figure is worked out by hand below.

today = 2026-03-01, stale after 30 days, at risk from 40 points.

open deals (amount, probability used):
  O1 Acme expansion   200000  80% (own, given as 80)        close 2026-03-20  updated 2026-02-25
  O2 Acme renewal     100000  90% (stage contractsent)      close 2026-02-15  updated 2026-01-10, no next step
  O3 Globex pilot      20000  10% (stage Prospecting)       close 2026-03-10  updated 2026-02-20
  O7 Stark              —     20% (own, given as 0.2)       no close date     created 2025-12-15, never updated
  O8 Wayne            250000  40% (stage Id. Decision Makers) close 2026-04-30 updated 2026-02-28
closed: O4 Initech won 30000 (created 2025-12-02, closed 2026-01-31: 60 days)
        O5 Umbrella lost 10000
        O6 Hooli won 50000 (created 2026-01-01, closed 2026-02-10: 40 days)

open pipeline = 200000 + 100000 + 20000 + 250000 = 570000
weighted      = 160000 + 90000 + 2000 + 0 + 100000 = 352000
win rate      = 2 / 3 = 66.67%; by value 80000 / 90000 = 88.89%
average won deal = (30000 + 50000) / 2 = 40000; cycle = (60 + 40) / 2 = 50.0 days
stale: O2 (50 days since 2026-01-10), O7 (76 days since created 2025-12-15) → 2, value 100000
overdue: O2 (14 days) → 1, value 100000
risk: O2 = 35 overdue + 25 stale + 10 no next step = 70; O7 = 25 stale + 10 no close date + 10 no next
      step = 45; O3 = 20 (closes in 9 days at 10%) → below 40; others 0
top accounts: Acme 300000 (O1 Salesforce + O2 HubSpot, one unified account), Wayne 250000, Globex 20000
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from agents.pilots import revops

TODAY = date(2026, 3, 1)


def src(kind, cid=1):
    return [{"connection_id": cid, "connection_kind": kind, "source_object": "x", "source_id": "1"}]


OPPORTUNITIES = [
    {"unified_id": "O1", "name": "Acme expansion", "stage": "Negotiation/Review", "amount": Decimal("200000"),
     "probability": Decimal("80"), "close_date": date(2026, 3, 20), "created_at": datetime(2025, 12, 1, tzinfo=UTC),
     "updated_at": datetime(2026, 2, 25, 9, 30, tzinfo=UTC), "is_closed": False, "is_won": False,
     "account_unified_id": "acc-acme", "next_step": "Send contract", "currency": "USD", "sources": src("salesforce")},
    {"unified_id": "O2", "name": "Acme renewal", "stage": "contractsent", "amount": 100000, "probability": None,
     "close_date": "2026-02-15", "created_at": "2025-11-01T00:00:00Z", "updated_at": "2026-01-10T12:00:00Z",
     "is_closed": None, "is_won": None, "account_unified_id": "acc-acme", "next_step": "", "currency": "usd",
     "sources": src("hubspot", 2)},
    {"unified_id": "O3", "name": "Globex pilot", "stage": "Prospecting", "amount": "20000", "probability": None,
     "close_date": date(2026, 3, 10), "created_at": date(2026, 2, 1), "updated_at": date(2026, 2, 20),
     "account_unified_id": "acc-globex", "next_step": "Demo", "currency": "USD", "sources": src("salesforce")},
    {"unified_id": "O4", "name": "Initech deal", "stage": "Closed Won", "amount": 30000, "close_date": "2026-01-31",
     "created_at": "2025-12-02", "updated_at": "2026-01-31", "account_unified_id": "acc-initech",
     "next_step": "", "currency": "USD", "sources": src("salesforce")},
    {"unified_id": "O5", "name": "Umbrella", "stage": "closedlost", "amount": 10000, "close_date": "2026-01-15",
     "created_at": "2025-12-01", "updated_at": "2026-01-15", "account_unified_id": "acc-umbrella",
     "next_step": "", "currency": "USD", "sources": src("hubspot", 2)},
    {"unified_id": "O6", "name": "Hooli", "stage": "Closed Won", "amount": 50000, "is_closed": True, "is_won": True,
     "close_date": "2026-02-10", "created_at": "2026-01-01", "updated_at": "2026-02-10",
     "account_unified_id": "acc-hooli", "next_step": "", "currency": "USD", "sources": src("salesforce")},
    {"unified_id": "O7", "name": "Stark", "stage": "Qualification", "amount": None, "probability": 0.2,
     "close_date": None, "created_at": "2025-12-15", "updated_at": None, "account_unified_id": None,
     "next_step": None, "currency": "USD", "sources": src("salesforce")},
    {"unified_id": "O8", "name": "Wayne", "stage": "Id. Decision Makers", "amount": "250000.00", "probability": "",
     "close_date": "2026-04-30", "created_at": "2026-02-01", "updated_at": "2026-02-28",
     "account_unified_id": "acc-wayne", "next_step": "Call CFO", "currency": "USD", "sources": src("dynamics", 3)},
]
ACCOUNTS = [
    {"unified_id": "acc-acme", "name": "Acme Corp", "sources": src("salesforce") + src("hubspot", 2)},
    {"unified_id": "acc-wayne", "name": "Wayne Enterprises", "sources": src("dynamics", 3)},
    {"unified_id": "acc-globex", "name": "Globex", "sources": src("salesforce")},
]


@pytest.fixture(scope="module")
def result():
    return revops.analyze(opportunities=OPPORTUNITIES, accounts=ACCOUNTS, today=TODAY,
                          config=revops.RevOpsConfig(stale_days=30, at_risk_threshold=40))


def test_open_pipeline_and_weighted_forecast_match_hand_computation(result):
    m = result.metrics
    assert m["deals_total"] == 8
    assert m["open_count"] == 5
    assert m["open_pipeline"] == 570000
    assert m["weighted_forecast"] == 352000
    assert m["probability_from_stage_count"] == 3  # O2, O3 and O8 (an empty string is no probability)
    assert m["missing_amount_count"] == 1


def test_pipeline_by_stage_is_in_funnel_order_with_weighted_amounts(result):
    stages = [(s["stage"], s["count"], s["amount"], s["weighted"]) for s in result.metrics["pipeline_by_stage"]]
    assert stages == [
        ("Prospecting", 1, 20000, 2000),
        ("Qualification", 1, 0, 0),
        ("Id. Decision Makers", 1, 250000, 100000),
        ("Negotiation/Review", 1, 200000, 160000),
        ("contractsent", 1, 100000, 90000),
    ]


def test_forecast_by_close_month(result):
    months = {m["month"]: (m["count"], m["amount"], m["weighted"]) for m in result.metrics["forecast_by_close_month"]}
    assert months == {"(no close date)": (1, 0, 0), "2026-02": (1, 100000, 90000), "2026-03": (2, 220000, 162000),
                      "2026-04": (1, 250000, 100000)}


def test_win_rate_deal_size_and_cycle_length(result):
    m = result.metrics
    assert (m["won_count"], m["lost_count"]) == (2, 1)
    assert m["win_rate_pct"] == pytest.approx(66.67, abs=0.01)
    assert m["win_rate_by_value_pct"] == pytest.approx(88.89, abs=0.01)
    assert m["average_deal_size"] == 40000
    assert m["average_sales_cycle_days"] == 50.0


def test_stale_and_overdue_deals(result):
    m = result.metrics
    assert (m["stale_count"], m["stale_value"]) == (2, 100000)
    assert (m["overdue_count"], m["overdue_value"]) == (1, 100000)
    stale = {f["subject"]["unified_id"]: f["days"] for f in result.findings if f["kind"] == "stale_deal"}
    assert stale == {"O2": 50, "O7": 76}
    overdue = {f["subject"]["unified_id"]: f["days"] for f in result.findings if f["kind"] == "overdue_deal"}
    assert overdue == {"O2": 14}


def test_at_risk_deals_are_scored_with_their_reasons(result):
    at_risk = [f for f in result.findings if f["kind"] == "at_risk_deal"]
    assert [(f["subject"]["unified_id"], f["score"], f["severity"]) for f in at_risk] == [("O2", 70, "high"),
                                                                                          ("O7", 45, "medium")]
    o2 = at_risk[0]["reasons"]
    assert o2 == ["close date 2026-02-15 passed 14 days ago", "no update in 50 days", "no next step recorded"]
    assert at_risk[1]["reasons"] == ["no update in 76 days", "no close date", "no next step recorded"]
    assert result.metrics["at_risk_count"] == 2
    assert result.metrics["at_risk_value"] == 100000


def test_top_accounts_count_one_company_across_crms_once(result):
    top = result.metrics["top_accounts"]
    assert [(a["name"], a["open_pipeline"], a["open_deals"]) for a in top] == [
        ("Acme Corp", 300000, 2), ("Wayne Enterprises", 250000, 1), ("Globex", 20000, 1)]
    assert top[0]["systems"] == ["hubspot", "salesforce"]
    assert result.metrics["unlinked_open_deals"] == 1


def test_closing_soon_at_low_probability_scores_twenty():
    deal = revops.deal_from_row(OPPORTUNITIES[2])
    score, reasons = revops.risk_score(deal, today=TODAY, stale_days=30, big_deal_amount=None, next_step_in_use=True)
    assert (score, reasons) == (20, ["closes in 9 days at only 10% probability"])


def test_big_deal_at_low_probability_scores_ten():
    deal = revops.deal_from_row({"unified_id": "X", "stage": "Value Proposition", "amount": 500000,
                                 "close_date": "2026-06-01", "updated_at": "2026-02-28", "next_step": "call"})
    assert deal.probability == 0.30
    score, reasons = revops.risk_score(deal, today=TODAY, stale_days=30, big_deal_amount=400000,
                                       next_step_in_use=True)
    assert score == 10
    assert reasons == ["large deal (500,000) at 30% probability"]


@pytest.mark.parametrize(("row", "expected"), [
    ({"stage": "Closed Won"}, (True, True)),
    ({"stage": "closedlost"}, (True, False)),
    ({"stage": "Negotiation/Review"}, (False, False)),
    ({"stage": "Negotiation/Review", "is_closed": "true", "is_won": "false"}, (True, False)),
    ({"stage": "anything", "is_won": True}, (True, True)),
])
def test_closed_and_won_come_from_flags_or_stage_names(row, expected):
    deal = revops.deal_from_row(row)
    assert (deal.is_closed, deal.is_won) == expected


def test_mixed_currencies_are_flagged_not_converted():
    rows = [{"unified_id": "a", "stage": "Prospecting", "amount": 10, "currency": "USD"},
            {"unified_id": "b", "stage": "Prospecting", "amount": 10, "currency": "EUR"}]
    out = revops.analyze(opportunities=rows, today=TODAY)
    assert out.metrics["currencies"] == ["EUR", "USD"]
    assert any(f["kind"] == "mixed_currencies" for f in out.findings)


def test_no_deals_gives_empty_metrics_without_errors():
    out = revops.analyze(opportunities=[], today=TODAY)
    assert out.metrics["open_pipeline"] == 0
    assert out.metrics["win_rate_pct"] is None
    assert out.metrics["average_deal_size"] is None
    assert out.findings == []


def test_systems_are_named_by_the_callers_map_else_by_connection_kind():
    rows = [{"unified_id": "a", "stage": "Prospecting", "amount": 10, "account_unified_id": "acc",
             "sources": [{"connection_id": 4, "connection_kind": "filesource"}]},
            {"unified_id": "b", "stage": "Prospecting", "amount": 5, "account_unified_id": "acc",
             "sources": [{"connection_id": 5, "connection_kind": "hubspot"}]}]
    out = revops.analyze(opportunities=rows, today=TODAY, systems={4: "salesforce"})
    assert out.metrics["top_accounts"][0]["systems"] == ["hubspot", "salesforce"]
    assert out.metrics["deals_by_source"] == {"hubspot": 1, "salesforce": 1}
