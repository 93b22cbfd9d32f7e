"""The RevOps SQL analyses (agents/services/revenue.py) over hand-made history, views and quotas.

The tenant's `dcl_view_opportunity` / `dcl_view_quota` are stand-in tables with the columns the
analyses read (a fresh test schema has no materialized view); the history and the quotas are the
real models; each figure is worked out by hand in the test, and every stored query is run again and
must give the same figure.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from agents.services import revenue
from agents.services.revenue import Period

PERIOD = Period(start=date(2026, 10, 1), end=date(2026, 12, 31), since=date(2026, 11, 1), until=date(2026, 12, 1))
T1 = datetime(2026, 10, 20, tzinfo=UTC)  # before `since`
T2 = datetime(2026, 11, 15, tzinfo=UTC)  # between the two days
TODAY = date(2026, 12, 2)

VIEW_COLUMNS = """unified_id text, status text, stage_category text, forecast_category text, amount numeric,
    currency text, amount_reporting numeric, close_date date, created_at timestamptz, owner_id text,
    lead_source text, account_unified_id text"""


def _view(rows: list[dict]) -> None:
    with connection.cursor() as cur:
        cur.execute(f"CREATE TABLE dcl_view_opportunity ({VIEW_COLUMNS})")
        for r in rows:
            cur.execute("INSERT INTO dcl_view_opportunity (" + ", ".join(r) + ") VALUES ("
                        + ", ".join(["%s"] * len(r)) + ")", list(r.values()))


def _version(uid: str, version: int, at: datetime, until: datetime | None, *, status="open", close=None,
             amount=None, currency="USD", category="qualify", deleted=False) -> None:
    from dcl.models import OpportunityHistory

    OpportunityHistory.objects.create(unified_id=uid, version=version, valid_from=at, valid_to=until, deleted=deleted,
                                      status=status, stage_category=category, close_date=close,
                                      amount=None if amount is None else Decimal(str(amount)), currency=currency)


def _rate(currency: str, per_eur: str, day: date = date(2026, 9, 1)) -> None:
    from tenants.money.models import FxRate

    FxRate.objects.create(currency=currency, day=day, per_eur=Decimal(per_eur), source="test")


def _rerun(query: dict) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(query["sql"], query["params"])
        return cur.fetchall()


def _rerun_dicts(query: dict) -> list[dict]:
    with connection.cursor() as cur:
        cur.execute(query["sql"], query["params"])
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@pytest.fixture
def waterfall_history(in_tenant_a):
    """Nine deals, each a case of the waterfall (amounts in USD unless said; EUR at 1.1 USD)."""
    _rate("USD", "1.1")
    inside, after = date(2026, 12, 15), date(2027, 2, 1)
    _version("a", 1, T1, None, close=inside, amount=1000)  # unchanged
    _version("b", 1, T1, T2, close=inside, amount=500)  # raised to 600, then won
    _version("b", 2, T2, None, status="won", close=inside, amount=600, category="won")
    _version("c", 1, T1, T2, close=inside, amount=300)  # pushed past the period end
    _version("c", 2, T2, None, close=after, amount=300)
    _version("d", 1, T2, None, close=inside, amount=200)  # created in between
    _version("e", 1, T1, T2, close=after, amount=700)  # pulled in
    _version("e", 2, T2, None, close=inside, amount=700)
    _version("f", 1, T1, T2, close=inside, amount=400, currency="EUR")  # cut: 440 → 330 USD
    _version("f", 2, T2, None, close=inside, amount=300, currency="EUR")
    _version("g", 1, T1, None, close=inside, amount=9000, currency="JPY")  # no JPY rate: left out
    _version("h", 1, T1, T2, close=inside, amount=250)  # lost
    _version("h", 2, T2, None, status="lost", close=inside, amount=250, category="lost")
    _version("i", 1, T1, T2, close=inside, amount=100)  # deleted at the source
    _version("i", 2, T2, None, close=inside, amount=100, deleted=True)
    return in_tenant_a


def test_the_waterfall_puts_every_deal_in_its_bar_and_adds_up_to_the_cent(waterfall_history):
    wf = revenue.pipeline_waterfall(PERIOD, reporting_currency="USD", rate_day=TODAY)
    bars = {b["bar"]: (b["deals"], b["amount"]) for b in wf["bars"]}
    assert bars == {
        "opening": (6, 2590.0), "created": (1, 200.0), "pulled_in": (1, 700.0), "other_in": (0, 0.0),
        "increased": (1, 100.0), "decreased": (1, -110.0), "won": (1, -600.0), "lost": (1, -250.0),
        "pushed_out": (1, -300.0), "removed": (1, -100.0), "other_out": (0, 0.0), "closing": (4, 2230.0)}
    assert wf["balanced"] is True
    assert sum(a for bar, (_, a) in bars.items() if bar != "closing") == pytest.approx(2230.0)
    by_bar = {b["bar"]: b for b in wf["bars"]}
    assert by_bar["pushed_out"]["records"]["unified_ids"] == ["c"]
    assert by_bar["opening"]["records"]["unified_ids"] == ["a", "b", "f", "c", "h", "i"]  # largest first
    assert [(x["currency"], x["deals"]) for x in wf["left_out"]] == [("JPY", 1)]
    assert "JPY" in wf["left_out_statement"] and "no rate" in wf["left_out_statement"]
    (row,) = _rerun_dicts(wf["query"])
    assert (row["closing_deals"], row["closing_amount"]) == (4, Decimal("2230.00"))
    assert (row["won_deals"], row["won_amount"], row["won_ids"]) == (1, Decimal("-600.00"), ["b"])


def test_a_period_with_no_deal_says_so(waterfall_history):
    empty = Period(start=date(2030, 1, 1), end=date(2030, 3, 31), since=date(2026, 11, 1), until=date(2026, 12, 1))
    wf = revenue.pipeline_waterfall(empty, reporting_currency="USD", rate_day=TODAY)
    assert all(b["deals"] == 0 and b["amount"] == 0 for b in wf["bars"])
    assert "nothing to show" in wf["statement"]
    with pytest.raises(ValueError, match="ends"):
        Period(start=date(2026, 12, 31), end=date(2026, 10, 1), since=TODAY, until=TODAY).check()


def _quota_view(rows: list[tuple]) -> None:
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE dcl_view_quota (owner_id text, period_start date, period_end date, amount numeric, "
                    "currency text)")
        for r in rows:
            cur.execute("INSERT INTO dcl_view_quota VALUES (%s, %s, %s, %s, %s)", list(r))


def test_the_rollup_weighs_pipeline_against_quota_and_says_when_there_is_none(in_tenant_a):
    from agents.models import Quota

    _rate("USD", "1.1")
    q = (date(2026, 10, 1), date(2026, 12, 31))
    _quota_view([("o1", *q, 1000, "USD"), ("o2", *q, 1000, "EUR"), ("o4", *q, 5000, "JPY"), ("o5", *q, 100, "USD")])
    Quota.objects.create(owner_id="o1", period_start=q[0], period_end=q[1], amount=Decimal(2000), currency="USD")
    inside = date(2026, 11, 20)
    _view([
        {"unified_id": "1", "status": "open", "forecast_category": "commit", "amount_reporting": 2000, "amount": 2000,
         "close_date": inside, "owner_id": "o1"},
        {"unified_id": "2", "status": "open", "forecast_category": "best_case", "amount_reporting": 1000,
         "amount": 1000, "close_date": inside, "owner_id": "o1"},
        {"unified_id": "3", "status": "won", "forecast_category": "closed", "amount_reporting": 500, "amount": 500,
         "close_date": inside, "owner_id": "o1"},
        {"unified_id": "4", "status": "open", "forecast_category": "pipeline", "amount_reporting": 800, "amount": 800,
         "close_date": inside, "owner_id": "o3"},
        {"unified_id": "5", "status": "open", "forecast_category": "commit", "amount_reporting": 550, "amount": 550,
         "close_date": inside, "owner_id": "o2"},
        {"unified_id": "6", "status": "won", "amount_reporting": 300, "amount": 300, "close_date": inside,
         "owner_id": "o5"},
        {"unified_id": "7", "status": "open", "amount_reporting": 999, "amount": 999, "close_date": date(2027, 5, 1),
         "owner_id": "o1"},  # closes after the period
    ])
    fc = revenue.forecast_rollup(PERIOD, reporting_currency="USD", rate_day=TODAY)
    owners = {o["owner_id"]: o for o in fc["owners"]}
    o1 = owners["o1"]
    # the admin's 2,000 wins over the loaded 1,000; 3,000 open against 2,000 - 500 left
    assert (o1["quota"], o1["won"], o1["remaining"], o1["open_pipeline"], o1["coverage"]) == (2000, 500, 1500, 3000, 2)
    assert (o1["commit"], o1["best_case"], o1["quota_sources"]) == (3000 - 1000, 1000, "admin")
    assert owners["o2"]["quota"] == 1100 and owners["o2"]["coverage"] == 0.5  # 1,000 EUR at 1.1
    assert owners["o3"]["quota"] is None and "No quota for o3" in owners["o3"]["statement"]
    assert owners["o4"]["coverage"] is None and "JPY" in owners["o4"]["statement"]
    assert "met the quota" in owners["o5"]["statement"]
    assert fc["owners_without_quota"] == ["o3"] and "1 owners have no quota" in fc["quota_statement"]
    rerun = {r[0]: r for r in _rerun(fc["query"])}
    assert rerun["o1"][-1] == Decimal("2.0000")


def test_conversion_time_in_stage_slippage_and_history_risks(in_tenant_a):
    day = timedelta(days=1)
    t0 = datetime(2026, 9, 1, tzinfo=UTC)
    # x: qualify 10 days, develop 20 days, propose since; close date pushed twice (+10, +5 days), amount cut
    _version("x", 1, t0, t0 + 10 * day, close=date(2026, 12, 1), amount=100, category="qualify")
    _version("x", 2, t0 + 10 * day, t0 + 30 * day, close=date(2026, 12, 11), amount=100, category="develop")
    _version("x", 3, t0 + 30 * day, None, close=date(2026, 12, 16), amount=80, category="propose")
    # y: qualify 30 days then won; z: develop and still there (lost earlier? no: open); w: lost from the start
    _version("y", 1, t0, t0 + 30 * day, close=date(2026, 11, 1), amount=50, category="qualify")
    _version("y", 2, t0 + 30 * day, None, status="won", close=date(2026, 10, 25), amount=50, category="won")
    _version("z", 1, t0, None, close=date(2026, 12, 1), amount=70, category="develop")
    _version("w", 1, t0, None, status="lost", close=date(2026, 10, 1), amount=10, category="lost")
    _view([{"unified_id": u, "status": s, "stage_category": c, "amount": a, "currency": "USD", "close_date": d}
           for u, s, c, a, d in (("x", "open", "propose", 80, date(2026, 12, 16)),
                                 ("y", "won", "won", 50, date(2026, 10, 25)),
                                 ("z", "open", "develop", 70, date(2026, 12, 1)),
                                 ("w", "lost", "lost", 10, date(2026, 10, 1)))])
    conv = {s["stage_category"]: s for s in revenue.stage_conversion()["steps"]}
    assert [(c, conv[c]["reached"]) for c in revenue.FUNNEL] == [
        ("qualify", 3), ("develop", 3), ("propose", 2), ("negotiate", 1), ("won", 1)]  # y went qualify → won
    assert [conv[c]["conversion_pct"] for c in revenue.FUNNEL] == [100.0, 66.67, 50.0, 100.0, None]
    tis = {s["stage_category"]: s for s in revenue.time_in_stage()["stages"]}
    assert (tis["qualify"]["completed_stays"], tis["qualify"]["median_days"]) == (2, 20.0)  # 10 and 30 days
    assert (tis["develop"]["completed_stays"], tis["develop"]["median_days"]) == (1, 20.0)
    assert tis["propose"]["median_days"] is None
    sl = revenue.slippage()
    assert (sl["deals"], sl["deals_moved"], sl["pushes"], sl["pulls"], sl["deals_pushed_twice"]) == (4, 2, 2, 1, 1)
    assert (sl["median_push_days"], sl["longest_push_days"]) == (7.5, 10)
    now = t0 + 60 * day
    risk = revenue.deals_at_risk(now=now)
    # x: pushed twice and cut from 100 to 80 (propose has no median: not stuck); z: 60 days in develop > 20
    assert {u: [c for c, _ in s] for u, s in risk["signals"].items()} == {
        "x": ["pushed_twice", "amount_cut"], "z": ["stuck"]}
    assert risk["signals"]["z"][0][1] == "in stage develop for 60 days (median 20)"
    assert sorted(r[0] for r in _rerun(risk["query"])) == ["x", "z"]
    # The run's way: the history's versions written once (revops_starts), the risks kept in a temporary
    # table with their points for the at-risk score in SQL: the same signals, the same digest.
    out = revenue.revenue_analyze(today=TODAY, now=now, reporting_currency="USD", period=PERIOD,
                                  keep_history_risk=True)
    try:
        held = out["history_risk"]
        assert held.signals(["x", "y", "z", "w"]) == risk["signals"]
        assert held.counts == {"stuck": 1, "pushed_twice": 1, "amount_cut": 1}
        with connection.cursor() as cur:
            cur.execute(f"SELECT unified_id, points FROM pg_temp.{held.table} WHERE points > 0 ORDER BY 1")
            assert cur.fetchall() == [("x", 35), ("z", 20)]
        assert sorted((r[0], r[-1]) for r in _rerun(held.query) if r[-1]) == [("x", 35), ("z", 20)]
    finally:
        revenue.history_release()
    assert out["metrics"]["slippage"]["deals_moved"] == sl["deals_moved"]
    assert out["metrics"]["time_in_stage"]["stages"] == revenue.time_in_stage()["stages"]


def test_an_empty_tenant_gets_statements_not_zeros(in_tenant_a):
    _view([])
    out = revenue.revenue_analyze(today=TODAY, now=datetime(2026, 12, 2, tzinfo=UTC), reporting_currency="USD",
                                  period=PERIOD)
    m = out["metrics"]
    assert "nothing to show" in m["waterfall"]["statement"]
    assert "nothing to roll up" in m["forecast"]["statement"] and m["forecast"]["coverage"] is None
    assert "no conversion" in m["conversion"]["statement"]
    assert "no time in stage" in m["time_in_stage"]["statement"]
    assert m["velocity"]["per_day"] is None and "no deal has closed" in m["velocity"]["statement"]
    assert "No deal has closed" in m["win_rates"]["statement"]
    assert "No deal in the history" in m["slippage"]["statement"]
    assert out["findings"] == [] and out["history_risk"].counts == {"stuck": 0, "pushed_twice": 0, "amount_cut": 0}


def test_velocity_and_win_rates_and_a_deal_without_close_date(in_tenant_a):
    created = datetime(2026, 1, 1, tzinfo=UTC)
    _view([
        {"unified_id": "1", "status": "won", "amount_reporting": 1000, "close_date": date(2026, 1, 31),
         "created_at": created, "lead_source": "web", "owner_id": "o1"},
        {"unified_id": "2", "status": "won", "amount_reporting": 3000, "close_date": date(2026, 3, 2),
         "created_at": created, "lead_source": "web", "owner_id": "o2"},
        {"unified_id": "3", "status": "lost", "amount_reporting": 5000, "close_date": date(2026, 2, 1),
         "created_at": created, "lead_source": "partner", "owner_id": "o1"},
        {"unified_id": "4", "status": "open", "amount_reporting": 10, "close_date": None, "owner_id": "o1"},
        {"unified_id": "5", "status": "open", "amount_reporting": 10, "close_date": date(2026, 5, 1)},
    ])
    v = revenue.sales_velocity(reporting_currency="USD")
    # 2 open × 2/3 × 2,000 average won ÷ 45 days (30 and 60)
    assert (v["open_deals"], v["average_won"], v["cycle_days"]) == (2, 2000.0, 45.0)
    assert v["per_day"] == pytest.approx(round(2 * (2 / 3) * 2000 / 45, 2))
    assert "1 open deals have no close date" in v["close_date_statement"]
    wr = revenue.win_rates()
    assert [(x["value"], x["won"], x["lost"], x["win_rate_pct"]) for x in wr["lead_source"]] == [
        ("partner", 0, 1, 0.0), ("web", 2, 0, 100.0)]
    assert [(x["value"], x["win_rate_pct"]) for x in wr["owner_id"]] == [("o1", 50.0), ("o2", 100.0)]
    assert wr["industry"] == [{"value": "(none)", "won": 2, "lost": 1, "win_rate_pct": 66.67}]


def test_an_admin_quota_needs_an_iso_currency_and_an_ordered_period(in_tenant_a):
    from django.core.exceptions import ValidationError

    from agents.models import Quota

    quota = Quota(owner_id="o1", period_start=date(2026, 10, 1), period_end=date(2026, 12, 31), amount=Decimal(10),
                  currency="usd")
    quota.full_clean()
    assert quota.currency == "USD"
    with pytest.raises(ValidationError, match="ISO 4217"):
        Quota(owner_id="o1", period_start=date(2026, 10, 1), period_end=date(2026, 12, 31), amount=Decimal(10),
              currency="US").full_clean()
    with pytest.raises(ValidationError):
        Quota(owner_id="o1", period_start=date(2026, 12, 31), period_end=date(2026, 10, 1), amount=Decimal(10),
              currency="USD").full_clean()
