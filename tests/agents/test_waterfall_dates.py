"""The pipeline waterfall between two dates a person chooses (issue #20): the page
/agents/revops/waterfall/ and GET /api/agents/revops/waterfall/ over the hand-made history of
tests/agents/test_revenue.py (nine deals, one per case of the waterfall), bad dates, and tenants with
nothing to compute from."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from agents.services.revenue import Period
from agents.services.waterfall import default_period, parse_period
from tests.agents.test_revenue import PERIOD, _rerun_dicts, _view, waterfall_history  # noqa: F401
from tests.agents.test_revenue_demo import demo  # noqa: F401

API = "/api/agents/revops/waterfall/"
PAGE = "/agents/revops/waterfall/"
DATES = {"period_start": "2026-10-01", "period_end": "2026-12-31", "from": "2026-11-01", "to": "2026-12-01"}
EXPECTED = {
    "opening": (6, 2590.0), "created": (1, 200.0), "pulled_in": (1, 700.0), "other_in": (0, 0.0),
    "increased": (1, 100.0), "decreased": (1, -110.0), "won": (1, -600.0), "lost": (1, -250.0),
    "pushed_out": (1, -300.0), "removed": (1, -100.0), "other_out": (0, 0.0), "closing": (4, 2230.0)}


# _view builds the stand-in table from VIEW_COLUMNS, which has no name: add it before the rows.
@pytest.fixture(autouse=True)
def _named_view(monkeypatch):
    import tests.agents.test_revenue as tr

    monkeypatch.setattr(tr, "VIEW_COLUMNS", tr.VIEW_COLUMNS + ", name text")


@pytest.fixture
def history(waterfall_history):  # noqa: F811
    """The history, and the published view (with its catalog row, which the page reads the deals'
    names through) holding the deals that still exist."""
    from django.utils import timezone

    from dcl.models import MaterializedView

    _view([{"unified_id": uid, "name": f"Deal {uid.upper()}", "status": "open", "amount": 1, "currency": "USD"}
           for uid in "abcdefgh"])
    MaterializedView.objects.create(
        entity="opportunity", data_table="dcl_view_opportunity", materialized_at=timezone.now(),
        columns=[{"name": "name", "kind": "string"}, {"name": "amount", "kind": "decimal"},
                 {"name": "currency", "kind": "string"}, {"name": "close_date", "kind": "date"}])
    return waterfall_history


def test_the_api_gives_the_bars_their_deals_and_the_query_for_the_chosen_dates(history, api_a):
    response = api_a.get(API, DATES)
    assert response.status_code == 200, response.content
    wf = response.json()
    assert {b["bar"]: (b["deals"], b["amount"]) for b in wf["bars"]} == EXPECTED
    assert (wf["period_start"], wf["period_end"], wf["since"], wf["until"]) == tuple(DATES.values())
    assert wf["currency"] == "USD" and wf["rate_day"] == "2026-12-01" and wf["balanced"] is True
    bars = {b["bar"]: b for b in wf["bars"]}
    assert bars["pushed_out"]["records"] == {"entity": "opportunity", "unified_ids": ["c"], "count": 1}
    assert bars["opening"]["records"]["unified_ids"] == ["a", "b", "f", "c", "h", "i"]
    assert bars["other_in"]["records"] is None
    assert [(x["currency"], x["deals"]) for x in wf["left_out"]] == [("JPY", 1)]
    connection.set_tenant(history)
    (row,) = _rerun_dicts(wf["query"])
    assert (row["closing_deals"], row["closing_amount"], row["pulled_in_ids"]) == (4, Decimal("2230.00"), ["e"])


def test_other_dates_give_other_figures(history, api_a):
    """From 2026-11-20 (after every change) to 2026-12-01 nothing moved: opening = closing."""
    wf = api_a.get(API, {**DATES, "from": "2026-11-20"}).json()
    bars = {b["bar"]: (b["deals"], b["amount"]) for b in wf["bars"]}
    assert bars["opening"] == bars["closing"] == (4, 2230.0)
    assert all(bars[b] == (0, 0.0) for b in bars if b not in ("opening", "closing"))


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"period_start": "2026/10/01"}, "period_start", "YYYY-MM-DD"),
    ({"from": "yesterday"}, "from", "not a date"),
    ({"to": "2026-02-30"}, "to", "not a date"),
    ({"period_start": "2026-12-31", "period_end": "2026-10-01"}, "period_end", "before it starts"),
    ({"from": "2026-12-01", "to": "2026-11-01"}, "to", "before"),
    ({"period_start": "2020-01-01", "period_end": "2026-12-31"}, "period_end", "three years"),
    ({"from": "2019-01-01"}, "to", "three years"),
    ({"to": "9999-12-31", "from": "9999-12-01"}, "to", "outside"),
    ({"period_start": "0001-01-01"}, "period_start", "outside"),
], ids=["slashes", "word", "no-such-day", "period-reversed", "to-before-from", "period-too-long",
        "comparison-too-long", "far-future", "year-one"])
def test_bad_dates_get_a_400_naming_the_field(history, api_a, web_a, params, field, words):
    response = api_a.get(API, {**DATES, **params})
    assert response.status_code == 400, response.content
    details = response.json()["error"]["details"]
    assert words in " ".join(details[field]), details
    page = web_a.get(PAGE, {**DATES, **params})
    assert page.status_code == 400
    html = page.content.decode()
    assert "data-input-error" in html and words in html.replace("&quot;", '"') and "data-waterfall-page" not in html


def test_a_tenant_without_the_view_or_without_history_gets_a_statement(in_tenant_a, api_a, web_a):
    wf = api_a.get(API, DATES).json()
    assert wf["bars"] == [] and "not published" in wf["statement"]
    connection.set_tenant(in_tenant_a)
    _view([])
    wf = api_a.get(API, DATES).json()
    assert wf["bars"] == [] and "No opportunity history yet" in wf["statement"]
    page = web_a.get(PAGE, DATES)
    assert page.status_code == 200
    html = page.content.decode()
    assert "No opportunity history yet" in html and "chart-waterfall" not in html


def test_the_page_draws_the_chosen_dates_lists_each_bars_deals_and_shows_the_query(history, web_a):
    response = web_a.get(PAGE, DATES)
    assert response.status_code == 200
    html = response.content.decode()
    for name, value in DATES.items():
        assert f'name="{name}" value="{value}"' in html
    assert 'id="chart-waterfall"' in html and 'id="waterfall-data"' in html and "js/waterfall.js" in html
    assert html.count("<tr data-bar=") == 10  # the ten bars with deals, opening and closing among them
    pushed = html.split('data-bar-deals="pushed_out"')[1].split("</details>")[0]
    assert 'data-record="c"' in pushed and "Deal C" in pushed and 'data-record="a"' not in pushed
    removed = html.split('data-bar-deals="removed"')[1].split("</details>")[0]
    assert 'data-record="i"' in removed  # deleted at the source: not in the view, listed by its id
    assert "data-query" in html and "dcl_history_opportunity" in html
    assert "JPY" in html  # the deal without a rate is said, not dropped silently
    assert "/api/agents/revops/waterfall/?period_start=2026-10-01&amp;period_end=2026-12-31" in html


def test_without_dates_the_page_uses_the_agent_runs_defaults(history, web_a):
    default = default_period()
    html = web_a.get(PAGE).content.decode()
    assert f'name="period_start" value="{default.start}"' in html and f'name="to" value="{default.until}"' in html
    assert f'name="from" value="{default.since}"' in html and f'name="period_end" value="{default.end}"' in html


def test_parse_period_fills_missing_dates_from_the_default():
    today = date(2026, 12, 8)
    assert parse_period({}, today) == Period.default(today)
    assert parse_period({"from": "2026-11-01"}, today) == Period(date(2026, 10, 1), date(2026, 12, 31),
                                                                 date(2026, 11, 1), today)
    assert parse_period({**DATES}, today) == PERIOD


def test_a_day_to_come_is_read_at_todays_rates_and_as_the_history_stands(history, api_a):
    """A "to" after today: the closing pipeline is what the history holds now, converted at today's
    rates (there are none later), so the figures are those of today's end."""
    from django.utils import timezone

    wf = api_a.get(API, {**DATES, "to": "2027-06-30"}).json()
    assert wf["rate_day"] == timezone.now().date().isoformat() and wf["until"] == "2027-06-30"
    assert {b["bar"]: (b["deals"], b["amount"]) for b in wf["bars"]} == EXPECTED  # nothing changed after 12-01


def test_the_openapi_schema_documents_the_endpoint_its_dates_and_its_answer():
    from drf_spectacular.generators import SchemaGenerator

    spec = SchemaGenerator().get_schema(request=None, public=True)
    operation = spec["paths"][API]["get"]
    assert {p["name"]: p["schema"].get("format") for p in operation["parameters"] if p["in"] == "query"} == {
        "period_start": "date", "period_end": "date", "from": "date", "to": "date"}
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    properties = spec["components"]["schemas"][body]["properties"]
    assert {"bars", "currency", "query", "statement", "balanced", "left_out"} <= set(properties)
    bar = spec["components"]["schemas"][properties["bars"]["items"]["$ref"].rsplit("/", 1)[1]]["properties"]
    assert {"bar", "label", "deals", "amount", "records"} <= set(bar)


def test_the_agents_pages_waterfall_card_links_to_the_page_with_the_runs_dates(history, web_a):
    from agents.models import AgentRun
    from agents.services import revenue

    connection.set_tenant(history)  # (web_a's login left the connection on the public schema)
    wf = revenue.pipeline_waterfall(PERIOD, reporting_currency="USD", rate_day=date(2026, 12, 2))
    AgentRun.objects.create(agent="revops", status=AgentRun.Status.SUCCEEDED,
                            metrics={"reporting_currency": "USD", "revenue": {"waterfall": wf}})
    html = web_a.get("/agents/").content.decode()
    link = html.split("data-waterfall-link")[1].split(">")[0]
    assert (f'href="{PAGE}?period_start=2026-10-01&amp;period_end=2026-12-31&amp;from=2026-11-01&amp;to=2026-12-01"'
            in link)
    assert "js/waterfall.js" in html  # the agents page draws its waterfall with the shared function


@pytest.mark.slow
def test_over_the_demo_the_runs_dates_give_the_runs_waterfall(demo):  # noqa: F811
    """The endpoint at the dates of the agent run's waterfall returns its bars, ids and query (the run
    converts at its day's rates, the endpoint at `to`'s: the run's day, for the run's dates)."""
    from tests.conftest import _jwt_client

    alpha, run = demo
    wf = run.metrics["revenue"]["waterfall"]
    dates = {"period_start": wf["period_start"], "period_end": wf["period_end"], "from": wf["since"], "to": wf["until"]}
    got = _jwt_client(alpha).get(API, dates).json()
    assert [(b["bar"], b["deals"], b["amount"], b["records"]) for b in got["bars"]] == [
        (b["bar"], b["deals"], b["amount"], b["records"]) for b in wf["bars"]]
    assert sum(b["deals"] for b in got["bars"] if b["bar"] not in ("opening", "closing")) > 0
    assert got["query"] == wf["query"] and got["balanced"] is True
