"""The narrative of an agent run: the LLM (a local chat-completions server) when configured, a
deterministic summary otherwise or when the LLM fails; LLM usage shows in the telemetry."""

from __future__ import annotations

import json
import threading
from datetime import date
from http.server import ThreadingHTTPServer

import pytest

from agents.services import agents_run
from tests.aam.conftest import FakeLLM, _handler

from .helpers import in_schema
from .test_revops_pilot import ACCOUNTS, OPPORTUNITIES

pytestmark = pytest.mark.django_db
VIEWS = {"opportunity": OPPORTUNITIES, "account": ACCOUNTS}


@pytest.fixture
def llm(settings):
    fake = FakeLLM()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    settings.LLM_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}/v1"
    settings.LLM_MODEL = "test-model"
    settings.LLM_MAX_RETRIES = 0
    settings.LLM_TIMEOUT = 5.0
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


def test_with_an_llm_the_narrative_is_its_answer_from_the_pilots_numbers(tenant_a, api_a, llm):
    llm.reply("Acme renewal is overdue; chase it this week.", prompt_tokens=300, completion_tokens=12)
    with in_schema(tenant_a):
        [run] = agents_run(tenant=tenant_a, agents=["revops"], views=VIEWS, today=date(2026, 3, 1))
    assert (run.narrative, run.narrative_source) == ("Acme renewal is overdue; chase it this week.", "llm")
    [request] = llm.requests
    assert request["model"] == "test-model"
    digest = json.loads(next(m["content"] for m in request["messages"] if m["role"] == "user"))
    assert digest["metrics"]["open_pipeline"] == 570000
    assert digest["top_findings"][0]["title"].startswith("Acme renewal is at risk")
    system = next(m["content"] for m in request["messages"] if m["role"] == "system")
    assert "do not invent" in system
    telemetry = api_a.get("/api/dcl/telemetry/").json()["llm"]
    assert (telemetry["calls"], telemetry["prompt_tokens"], telemetry["completion_tokens"]) == (1, 300, 12)
    assert telemetry["by_purpose"]["agent_narrative_revops"]["calls"] == 1
    assert telemetry["configured"] is True and telemetry["model"] == "test-model"


def test_a_failing_llm_falls_back_to_the_heuristic_summary(tenant_a, llm):
    llm.fail(500)
    with in_schema(tenant_a):
        [run] = agents_run(tenant=tenant_a, agents=["revops"], views=VIEWS, today=date(2026, 3, 1))
    assert run.status == "succeeded"
    assert run.narrative_source == "heuristic"
    assert run.narrative.startswith("- Open pipeline: 570,000 USD in 5 deals")


def test_an_empty_llm_answer_falls_back_to_the_heuristic_summary(tenant_a, llm):
    llm.reply("   ")
    with in_schema(tenant_a):
        [run] = agents_run(tenant=tenant_a, agents=["revops"], views=VIEWS, today=date(2026, 3, 1))
    assert run.narrative_source == "heuristic"


def test_the_heuristic_summary_is_deterministic_and_cites_the_numbers(tenant_a):
    with in_schema(tenant_a):
        first, = agents_run(tenant=tenant_a, agents=["revops"], views=VIEWS, today=date(2026, 3, 1))
        second, = agents_run(tenant=tenant_a, agents=["revops"], views=VIEWS, today=date(2026, 3, 1))
    assert first.narrative == second.narrative
    # A few short lines, one key figure each, every amount with its currency (issue 18: not one paragraph).
    assert first.narrative.splitlines() == [
        "- Open pipeline: 570,000 USD in 5 deals (weighted forecast 352,000 USD)",
        "- Win rate: 66.67% (2 won, 1 lost); average won deal 40,000 USD, 50 days to close",
        "- Needs attention: 2 at risk, 1 past the close date, 2 with no update in 30 days",
        "- Riskiest: Acme renewal (70/100: close date 2026-02-15 passed 14 days ago; no update in 50 days)",
        "- Largest account: Acme Corp, 300,000 USD in 2 deals (hubspot, salesforce)",
    ]
    assert all(len(line) <= 110 for line in first.narrative.splitlines())


def test_the_heuristic_summary_says_which_amounts_its_totals_leave_out(tenant_a):
    gbp = {**OPPORTUNITIES[0], "unified_id": "O9", "name": "London deal", "currency": "GBP", "amount": 5000,
           "amount_reporting": None, "fx_missing": "no_rate"}
    with in_schema(tenant_a):
        [run] = agents_run(tenant=tenant_a, agents=["revops"], views={**VIEWS, "opportunity": [*OPPORTUNITIES, gbp]},
                           today=date(2026, 3, 1))
    assert run.metrics["open_pipeline"] == 570000  # the GBP deal has no rate: not in the sum
    assert run.narrative.endswith("\n- Left out: 1 deal is left out of the totals in USD: 1 deal (5,000.00 GBP: no "
                                  "GBP rate on or before their date)")
