"""/api/agents/, /api/agents/<agent>/results/, /api/aoa/state/ and /api/dcl/telemetry/."""

from __future__ import annotations

from datetime import date

import pytest
from rest_framework.test import APIClient

from agents.models import AgentRun
from agents.services import agents_run
from autonomos.core.redis import get_redis
from autonomos.core.redis_names import tenant_key
from tests.conftest import host_of

from .helpers import assert_error, in_schema, make_connection, make_job
from .test_revops_pilot import ACCOUNTS, OPPORTUNITIES

pytestmark = pytest.mark.django_db


def _foreign_host_client(api_a, tenant_b):
    client = APIClient(HTTP_HOST=host_of(tenant_b))
    client.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    return client


def test_agents_lists_both_pilots_with_their_routed_sources(api_a, tenant_a):
    sf = make_connection(tenant_a, name="sf", kind="salesforce")
    make_connection(tenant_a, name="costs", kind="filesource", config={"source_system": "aws"})
    body = api_a.get("/api/agents/").json()
    assert [a["agent"] for a in body] == ["revops", "finops"]
    assert body[0]["sources"] == [{"connection_id": sf.pk, "name": "sf", "kind": "salesforce",
                                   "reason": "salesforce is a CRM"}]
    assert [s["name"] for s in body[1]["sources"]] == ["costs"]
    assert body[0]["last_run"] is None and body[0]["latest_result"] is None


def test_results_serve_the_latest_success_the_last_run_and_the_history(api_a, tenant_a):
    with in_schema(tenant_a):
        [ok] = agents_run(tenant=tenant_a, agents=["revops"], views={"opportunity": OPPORTUNITIES,
                                                                     "account": ACCOUNTS}, today=date(2026, 3, 1))
        [skipped] = agents_run(tenant=tenant_a, agents=["revops"], views={})
    body = api_a.get("/api/agents/revops/results/").json()
    assert body["agent"] == "revops"
    assert body["latest"]["id"] == ok.pk
    assert body["latest"]["metrics"]["open_pipeline"] == 570000
    assert body["latest"]["narrative"].startswith("- Open pipeline: 570,000 USD")
    assert body["last_run"]["id"] == skipped.pk and body["last_run"]["status"] == "skipped"
    assert [r["id"] for r in body["history"]] == [skipped.pk, ok.pk]
    assert body["count"] == 2
    page = api_a.get("/api/agents/revops/results/?page_size=1&page=2").json()
    assert [r["id"] for r in page["history"]] == [ok.pk] and page["previous"]
    detail = api_a.get(f"/api/agents/revops/results/{ok.pk}/").json()
    assert detail["findings_count"] == len(detail["findings"]) > 0
    assert api_a.get("/api/agents/finops/results/").json()["latest"] is None


def test_unknown_agents_and_runs_are_404(api_a, tenant_a):
    assert_error(api_a.get("/api/agents/sales/results/"), 404)
    with in_schema(tenant_a):
        run = AgentRun.objects.create(agent="finops", status="succeeded")
    assert_error(api_a.get(f"/api/agents/revops/results/{run.pk}/"), 404)  # a finops run is not a revops run
    assert_error(api_a.get("/api/agents/revops/results/99999999999999999999/"), 404)


def test_runs_of_another_tenant_are_404_and_tokens_on_another_host_401(api_a, tenant_a, tenant_b):
    with in_schema(tenant_b):
        theirs = AgentRun.objects.create(agent="revops", status="succeeded", narrative="beta's secret plan",
                                         pk=424242)
    assert_error(api_a.get(f"/api/agents/revops/results/{theirs.pk}/"), 404)
    assert "beta's secret plan" not in api_a.get("/api/agents/revops/results/").content.decode()
    foreign = _foreign_host_client(api_a, tenant_b)
    for url in ("/api/agents/", "/api/agents/revops/results/", f"/api/agents/revops/results/{theirs.pk}/",
                "/api/dcl/telemetry/", "/api/aoa/state/"):
        assert_error(foreign.get(url), 401)
    assert_error(foreign.post("/api/agents/run/", {}, format="json"), 401)


def test_state_shows_connections_routes_jobs_agents_and_llm(api_a, tenant_a):
    make_connection(tenant_a, name="hs", kind="hubspot", domain="finops", last_error="token expired")
    older = make_job(tenant_a, status="succeeded")
    active = make_job(tenant_a, status="running", progress=40, step="syncing hs")
    body = api_a.get("/api/aoa/state/").json()
    [conn] = body["connections"]
    assert (conn["name"], conn["routed_to"], conn["last_error"]) == ("hs", ["finops"], "token expired")
    assert body["active_job"]["id"] == active.pk and body["active_job"]["progress"] == 40
    assert body["last_job"]["id"] == active.pk != older.pk
    assert [a["agent"] for a in body["agents"]] == ["revops", "finops"]
    assert body["llm"]["configured"] is False
    assert body["llm"]["calls"] == 0


def test_telemetry_counts_this_tenants_streams_and_jobs_only(api_a, tenant_a, tenant_b):
    ours = make_connection(tenant_a, name="sf")
    theirs = make_connection(tenant_b, name="sf")
    client = get_redis()
    key = tenant_key(tenant_a, "aam", "dcl", ours.pk)
    group = f"dcl_engine:{tenant_a.tenant_id}"
    client.xgroup_create(key, group, id="0", mkstream=True)
    client.xadd(key, {"batch_id": "b1"})
    client.xadd(key, {"batch_id": "b2"})
    client.xreadgroup(group, "c1", {key: ">"}, count=1)  # one delivered, not acknowledged
    client.xadd(tenant_key(tenant_b, "aam", "dcl", theirs.pk), {"batch_id": "x"})
    make_job(tenant_a, status="succeeded")
    make_job(tenant_a, kind="agents", status="failed")
    body = api_a.get("/api/dcl/telemetry/").json()
    assert body["tenant"] == "alpha"
    assert body["llm"]["calls"] == 0 and body["llm"]["configured"] is False
    pipeline = body["pipeline"]
    assert pipeline["streams"] == [{"connection_id": ours.pk, "name": "sf", "kind": "salesforce", "length": 2,
                                    "pending": 1}]
    assert (pipeline["batches_in_streams"], pipeline["batches_pending"]) == (2, 1)
    assert pipeline["jobs_by_status"] == {"succeeded": 1, "failed": 1}


def test_state_and_telemetry_list_the_materialized_views(api_a, tenant_a):
    from .test_run_agents_command import _materialize_opportunities

    _materialize_opportunities(tenant_a, n=5)
    state = api_a.get("/api/aoa/state/").json()
    assert state["views_available"] is True
    assert [(v["entity"], v["row_count"]) for v in state["views"]] == [("opportunity", 5)]
    telemetry = api_a.get("/api/dcl/telemetry/").json()
    assert [(v["entity"], v["row_count"]) for v in telemetry["views"]] == [("opportunity", 5)]


def test_a_run_stored_before_issue_18_is_served_with_its_repeats_merged_and_every_finding_actionable(api_a, tenant_a):
    from .test_findings import _stored_demo_run_findings

    with in_schema(tenant_a):
        run = AgentRun.objects.create(agent="finops", status="succeeded", findings=_stored_demo_run_findings(),
                                      metrics={"reporting_currency": "USD", "total_spend": 11853.0})
    detail = api_a.get(f"/api/agents/finops/results/{run.pk}/").json()
    assert detail["findings_count"] == len(detail["findings"]) == 3
    anomaly, saving, at_risk = detail["findings"]
    assert (anomaly["kind"], anomaly["from"], anomaly["to"], anomaly["days"]) == ("anomaly", "2026-11-21",
                                                                                  "2026-11-23", 3)
    assert all(f["action"] and f["currency"] == "USD" for f in detail["findings"])
    assert all(f["links"]["page"] == f"/agents/runs/{run.pk}/findings/{f['id']}/" for f in detail["findings"])
    assert saving["links"]["view"] == "/dcl/views/cloud_resource/?field=unified_id&value=res_1"
    assert saving["links"]["api"] == "/api/dcl/views/cloud_resource/?unified_id=res_1"
    assert at_risk["links"]["view"] == "/dcl/views/opportunity/?field=unified_id&value=opp_1"
    assert "view" not in anomaly["links"] and "api" not in anomaly["links"]  # old anomalies kept no lines
    latest = api_a.get("/api/agents/finops/results/").json()
    assert latest["latest"]["findings"] == detail["findings"]
    assert latest["history"][0]["findings_count"] == 3
