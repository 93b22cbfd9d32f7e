"""agents_run: routing the unified rows to the pilots, storing each run, events, skips and failures.

Rows are handed in through `views=` (the same shape `dcl.selectors.view_all` returns), so these
tests pin down the orchestration; the metrics themselves are checked by hand in the pilot tests.
"""

from __future__ import annotations

import copy
from datetime import date

import pytest

from agents.models import AgentRun
from agents.services import agents_run
from autonomos.core.events import read_events

from .helpers import in_schema, in_usd, make_connection
from .test_finops_pilot import RESOURCES, _dataset
from .test_revops_pilot import ACCOUNTS, OPPORTUNITIES

pytestmark = pytest.mark.django_db
TODAY = date(2026, 3, 1)


def _sourced(rows, connection, entity="x"):
    out = copy.deepcopy(rows)
    for row in out:
        row["sources"] = [{"connection_id": connection.pk, "connection_kind": connection.kind,
                           "source_object": entity, "source_id": str(row.get("unified_id", ""))}]
    return out


@pytest.fixture
def sources(tenant_a):
    crm = make_connection(tenant_a, name="sf", kind="salesforce")
    billing = make_connection(tenant_a, name="aws exports", kind="filesource", config={"source_system": "aws"})
    return crm, billing


def test_each_pilot_run_is_stored_with_inputs_metrics_findings_and_narrative(tenant_a, sources):
    crm, billing = sources
    views = {"opportunity": _sourced(OPPORTUNITIES, crm), "account": ACCOUNTS,
             "cost": _sourced(in_usd(_dataset()), billing), "cloud_resource": _sourced(RESOURCES, billing)}
    with in_schema(tenant_a):
        runs = agents_run(tenant=tenant_a, views=views, today=TODAY)
        stored = {r.agent: r for r in AgentRun.objects.all()}
    assert [(r.agent, r.status) for r in runs] == [("revops", "succeeded"), ("finops", "succeeded")]
    revops, finops = stored["revops"], stored["finops"]
    assert revops.metrics["open_pipeline"] == 570000
    assert revops.metrics["weighted_forecast"] == 352000
    assert finops.metrics["total_spend"] == 6595
    assert revops.inputs["views"]["opportunity"] == {"rows": 8, "rows_used": 8}
    assert finops.inputs["views"]["cost"]["rows_used"] == len(views["cost"])
    assert [c["name"] for c in revops.inputs["connections"]] == ["sf"]
    assert [c["name"] for c in finops.inputs["connections"]] == ["aws exports"]
    assert revops.narrative_source == finops.narrative_source == "heuristic"
    assert revops.narrative.startswith("- Open pipeline: 570,000 USD in 5 deals (weighted forecast 352,000 USD)\n")
    assert "Acme Corp" in revops.narrative
    assert "- Spend: 6,595 USD from 2026-01-01 to 2026-02-14\n" in finops.narrative
    assert any(f["kind"] == "at_risk_deal" for f in revops.findings)
    assert revops.started_at <= revops.finished_at


def test_agent_events_are_published_in_order(tenant_a, sources):
    crm, _ = sources
    with in_schema(tenant_a):
        runs = agents_run(tenant=tenant_a, agents=["revops"], views={"opportunity": _sourced(OPPORTUNITIES, crm)},
                          today=TODAY)
    events = [(e["type"], e["payload"].get("agent")) for e in read_events(tenant_a) if e["type"].startswith("agent_")]
    assert events == [("agent_started", "revops"), ("agent_completed", "revops")]
    completed = [e for e in read_events(tenant_a) if e["type"] == "agent_completed"][0]["payload"]
    assert completed["run_id"] == runs[0].pk and completed["status"] == "succeeded"


def test_without_materialized_data_the_pilots_are_skipped_with_a_reason(tenant_a):
    with in_schema(tenant_a):
        runs = agents_run(tenant=tenant_a, views={}, today=TODAY)
    assert [(r.agent, r.status) for r in runs] == [("revops", "skipped"), ("finops", "skipped")]
    assert runs[0].skipped_reason == "no opportunity rows are materialized yet: nothing for the revops pilot to read"
    assert runs[1].skipped_reason == "no cost rows are materialized yet: nothing for the finops pilot to read"
    completed = [e["payload"] for e in read_events(tenant_a) if e["type"] == "agent_completed"]
    assert [p["status"] for p in completed] == ["skipped", "skipped"]


def test_a_crm_forced_to_finops_does_not_feed_the_revops_pilot(tenant_a):
    forced = make_connection(tenant_a, name="hs", kind="hubspot", domain="finops")
    with in_schema(tenant_a):
        [run] = agents_run(tenant=tenant_a, agents=["revops"], views={"opportunity": _sourced(OPPORTUNITIES, forced)},
                           today=TODAY)
    assert run.status == "skipped"
    assert run.skipped_reason == "8 opportunity rows are materialized but none come from a source routed to revops"


def test_a_generic_source_is_routed_by_the_entities_it_produced(tenant_a):
    db = make_connection(tenant_a, name="warehouse", kind="postgres")
    with in_schema(tenant_a):
        runs = agents_run(tenant=tenant_a, views={"cost": _sourced(_dataset(), db, "cost")}, today=TODAY)
    finops = next(r for r in runs if r.agent == "finops")
    assert finops.status == "succeeded"
    assert finops.inputs["connections"] == [{"connection_id": db.pk, "name": "warehouse", "kind": "postgres",
                                             "routed_to": ["finops"],
                                             "reason": "by the entities it produced (cost)"}]


def test_a_failing_pilot_is_recorded_and_does_not_stop_the_other(tenant_a, sources):
    crm, _ = sources
    with in_schema(tenant_a):
        runs = agents_run(tenant=tenant_a, views={"opportunity": _sourced(OPPORTUNITIES, crm), "cost": ["not a row"]},
                          today=TODAY)
    status = {r.agent: r for r in runs}
    assert status["revops"].status == "succeeded"
    assert status["finops"].status == "failed"
    assert status["finops"].error.startswith("AttributeError")
    failed = [e["payload"] for e in read_events(tenant_a) if e["type"] == "agent_failed"]
    assert [p["agent"] for p in failed] == ["finops"]


def test_unknown_agent_names_are_refused(tenant_a):
    with in_schema(tenant_a), pytest.raises(ValueError, match="unknown agents"):
        agents_run(tenant=tenant_a, agents=["sales"], views={})


def test_agents_run_refuses_a_tenant_other_than_the_connections(tenant_a, tenant_b):
    from autonomos.core.tenancy import TenantRequired

    with in_schema(tenant_a), pytest.raises(TenantRequired):
        agents_run(tenant=tenant_b, views={})
