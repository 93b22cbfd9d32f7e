"""RevOps pilot against a small dataset whose every figure is worked out by hand below.

The rows are what the unified view holds: canonical `status`, `stage_category`, `forecast_category`,
`probability` (0-1; O2's comes from HubSpot's stage metadata, contractsent = 0.9) and
`amount_reporting` (all USD here, reporting in USD) beside the vendor's own `stage` and `amount`.

today = 2026-03-01, stale after 30 days, at risk from 40 points.

open deals (amount, probability used):
  O1 Acme expansion   200000  80% (own)      negotiate   close 2026-03-20  updated 2026-02-25
  O2 Acme renewal     100000  90% (own)      negotiate   close 2026-02-15  updated 2026-01-10, no next step
  O3 Globex pilot      20000  10% (qualify)  qualify     close 2026-03-10  updated 2026-02-20
  O7 Stark              —     20% (own)      qualify     no close date     created 2025-12-15, never updated
  O8 Wayne            250000  40% (develop)  develop     close 2026-04-30  updated 2026-02-28
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


CANONICAL = {  # unified_id → the canonical columns the pipeline derives for the row
    "O1": {"status": "open", "stage_category": "negotiate", "forecast_category": "commit",
           "probability": Decimal("0.8")},
    "O2": {"status": "open", "stage_category": "negotiate", "forecast_category": "commit", "probability": 0.9},
    "O3": {"status": "open", "stage_category": "qualify", "forecast_category": "pipeline", "probability": None},
    "O4": {"status": "won", "stage_category": "won", "forecast_category": "closed"},
    "O5": {"status": "lost", "stage_category": "lost", "forecast_category": "omitted"},
    "O6": {"status": "won", "stage_category": "won", "forecast_category": "closed"},
    "O7": {"status": "open", "stage_category": "qualify", "forecast_category": None, "probability": 0.2},
    "O8": {"status": "open", "stage_category": "develop", "forecast_category": "best_case", "probability": ""},
}

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
for _row in OPPORTUNITIES:
    _row.update(CANONICAL[_row["unified_id"]])
    _row["currency"] = "USD"
    _row["amount_reporting"] = _row["amount"]
    _row["reporting_currency"] = "USD"

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
    assert m["probability_from_stage_count"] == 2  # O3 and O8 (an empty string is no probability)
    assert m["missing_amount_count"] == 1


def test_pipeline_by_stage_is_by_canonical_category_in_funnel_order(result):
    stages = [(s["stage_category"], s["count"], s["amount"], s["weighted"])
              for s in result.metrics["pipeline_by_stage"]]
    assert stages == [
        ("qualify", 2, 20000, 2000),  # O3 Prospecting, O7 Qualification (no amount)
        ("develop", 1, 250000, 100000),  # O8 Id. Decision Makers
        ("negotiate", 2, 300000, 250000),  # O1 Negotiation/Review (Salesforce), O2 contractsent (HubSpot)
    ]


def test_pipeline_by_forecast_category_counts_open_and_won_deals(result):
    rows = [(r["forecast_category"], r["count"], r["amount"]) for r in result.metrics["pipeline_by_forecast_category"]]
    assert rows == [("pipeline", 1, 20000), ("best_case", 1, 250000), ("commit", 2, 300000), ("closed", 2, 80000),
                    ("(pending review)", 1, 0)]


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
    deal = revops.deal_from_row({"unified_id": "X", "stage": "Value Proposition", "status": "open",
                                 "stage_category": "develop", "probability": 0.3, "amount": 500000,
                                 "amount_reporting": 500000, "close_date": "2026-06-01", "updated_at": "2026-02-28",
                                 "next_step": "call"})
    assert deal.probability == 0.30
    score, reasons = revops.risk_score(deal, today=TODAY, stale_days=30, big_deal_amount=400000,
                                       next_step_in_use=True)
    assert score == 10
    assert reasons == ["large deal (500,000) at 30% probability"]


@pytest.mark.parametrize(("row", "expected"), [
    ({"status": "won"}, (False, True, True)),
    ({"status": "lost"}, (False, True, False)),
    ({"status": "open", "stage": "Closed Won"}, (True, False, False)),  # the vendor's stage name is a label only
    ({"status": None, "stage": "Closed Won", "is_won": True}, (False, False, False)),  # pending: no guess
    ({"status": "Closed Won"}, (False, False, False)),  # not a canonical status: pending, never guessed
])
def test_open_closed_and_won_come_from_the_canonical_status_only(row, expected):
    deal = revops.deal_from_row(row)
    assert (deal.is_open, deal.is_closed, deal.is_won) == expected


def test_probability_outside_zero_to_one_is_not_canonical_and_falls_back_to_the_stage_category():
    deal = revops.deal_from_row({"status": "open", "stage_category": "propose", "probability": 60})
    assert (deal.probability, deal.probability_source) == (0.60, "stage")


def test_deals_whose_status_awaits_review_are_counted_and_reported():
    rows = [{"unified_id": "a", "status": "open", "stage_category": "qualify", "amount": 10, "amount_reporting": 10,
             "currency": "USD"},
            {"unified_id": "b", "status": None, "stage": "Stage 9", "amount": 99, "amount_reporting": 99,
             "currency": "USD"}]
    out = revops.analyze(opportunities=rows, today=TODAY)
    assert (out.metrics["open_count"], out.metrics["open_pipeline"], out.metrics["status_pending_count"]) == (1, 10, 1)
    assert [f["count"] for f in out.findings if f["kind"] == "status_pending"] == [1]


def test_sums_use_converted_amounts_only_and_name_what_was_left_out():
    """Old: open pipeline 10 + 10 + 7 + 5 = 32 "in 3 currencies", a finding saying so. New: the converted
    amounts only (USD 10, EUR 10 at 1.1 = 11) = 21 USD; the GBP deals without a rate are left out and named."""
    rows = [
        {"unified_id": "a", "status": "open", "amount": 10, "currency": "USD", "amount_reporting": Decimal("10"),
         "reporting_currency": "USD"},
        {"unified_id": "b", "status": "open", "amount": 10, "currency": "EUR", "amount_reporting": Decimal("11.00"),
         "reporting_currency": "USD"},
        {"unified_id": "c", "status": "open", "amount": 7, "currency": "GBP", "amount_reporting": None,
         "fx_missing": "no_rate", "reporting_currency": "USD"},
        {"unified_id": "d", "status": "won", "amount": 5, "currency": "GBP", "amount_reporting": None,
         "fx_missing": "no_rate", "reporting_currency": "USD"},
        {"unified_id": "e", "status": "lost", "amount": 3, "currency": "EUR", "amount_reporting": Decimal("3.30"),
         "reporting_currency": "USD"},
    ]
    out = revops.analyze(opportunities=rows, today=TODAY)
    m = out.metrics
    assert m["open_pipeline"] == 21.0
    assert m["reporting_currency"] == "USD"
    assert (m["won_count"], m["lost_count"], m["won_value"], m["lost_value"]) == (1, 1, 0.0, 3.3)
    assert m["missing_amount_count"] == 0
    assert m["unconverted"] == {"count": 2, "by_currency": [
        {"currency": "GBP", "count": 2, "amount": 12.0, "reasons": {"no_rate": 2}}]}
    assert not any(f["kind"] == "mixed_currencies" for f in out.findings)
    finding = next(f for f in out.findings if f["kind"] == "unconverted_amounts")
    assert finding["title"] == ("2 deals are left out of the totals in USD: 2 deals (12.00 GBP: no GBP rate on or "
                                "before their date)")


def test_no_deals_gives_empty_metrics_without_errors():
    out = revops.analyze(opportunities=[], today=TODAY)
    assert out.metrics["open_pipeline"] == 0
    assert out.metrics["win_rate_pct"] is None
    assert out.metrics["average_deal_size"] is None
    assert out.findings == []


def test_systems_are_named_by_the_callers_map_else_by_connection_kind():
    rows = [{"unified_id": "a", "status": "open", "amount_reporting": 10, "account_unified_id": "acc",
             "sources": [{"connection_id": 4, "connection_kind": "filesource"}]},
            {"unified_id": "b", "status": "open", "amount_reporting": 5, "account_unified_id": "acc",
             "sources": [{"connection_id": 5, "connection_kind": "hubspot"}]}]
    out = revops.analyze(opportunities=rows, today=TODAY, systems={4: "salesforce"})
    assert out.metrics["top_accounts"][0]["systems"] == ["hubspot", "salesforce"]
    assert out.metrics["deals_by_source"] == {"hubspot": 1, "salesforce": 1}
