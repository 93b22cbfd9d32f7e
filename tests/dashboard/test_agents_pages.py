"""Agents and Discovery pages over real pilot runs and a real (built-in) discovery scan."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db
TODAY = date(2026, 3, 1)


def _in(tenant, fn):
    connection.set_tenant(tenant)
    try:
        return fn()
    finally:
        connection.set_schema_to_public()


def _source(conn):
    return [{"connection_id": conn.pk, "connection_kind": conn.kind, "source_object": "x", "source_id": "1"}]


def _views(crm, billing):
    """Rows as the unified views hold them: the vendor's own `stage` beside the canonical `status` and
    `stage_category` the value stage derives, amounts converted to the reporting currency (USD here,
    so `amount_reporting` equals `amount`), cost lines with their FOCUS categories."""
    opportunities = [
        {"unified_id": f"O{i}", "name": f"Deal {i}", "stage": stage, "status": status,
         "stage_category": category, "amount": amount, "amount_reporting": amount, "close_date": close,
         "created_at": "2025-12-01T00:00:00Z", "updated_at": "2026-02-25T00:00:00Z", "is_closed": status != "open",
         "is_won": status == "won", "currency": "USD", "reporting_currency": "USD", "sources": _source(crm)}
        for i, (stage, status, category, amount, close) in enumerate([
            ("Prospecting", "open", "qualify", 20000, "2026-03-20"),
            ("Negotiation/Review", "open", "negotiate", 200000, "2026-04-10"),
            ("Proposal/Price Quote", "open", "propose", 50000, "2026-01-15"),  # overdue
            ("Closed Won", "won", "won", 30000, "2026-01-31"),
            ("Closed Lost", "lost", "lost", 10000, "2026-01-20"),
        ])
    ]
    costs = []
    for n in range(40):
        d = TODAY - timedelta(days=40 - n)
        ec2 = 900 if n == 35 else 100
        costs.append({"service_name": "AmazonEC2", "service_category": "Compute", "charge_category": "Usage",
                      "sub_account_id": "111", "region_id": "us-east-1", "charge_period_start": f"{d}T00:00:00Z",
                      "effective_cost": ec2, "effective_cost_reporting": ec2, "billing_currency": "USD",
                      "reporting_currency": "USD", "tags": {"team": "web"}, "sources": _source(billing)})
        costs.append({"service_name": "AmazonS3", "service_category": "Storage", "charge_category": "Usage",
                      "sub_account_id": "111", "region_id": "eu-west-1", "charge_period_start": f"{d}T00:00:00Z",
                      "effective_cost": 20, "effective_cost_reporting": 20, "billing_currency": "USD",
                      "reporting_currency": "USD", "sources": _source(billing)})
    return {"opportunity": opportunities, "cost": costs}


@pytest.fixture
def runs(tenant_a):
    from agents.services import agents_run
    from connectors.models import Connection

    def go():
        crm = Connection.objects.create(name="Salesforce", kind="salesforce")
        billing = Connection.objects.create(name="AWS CUR", kind="filesource", config={"source_system": "aws_cur"})
        return agents_run(tenant=tenant_a, views=_views(crm, billing), today=TODAY)

    return _in(tenant_a, go)


def test_agents_page_shows_each_pilots_figures_charts_data_and_findings(web_a, runs):
    assert {r.agent: r.status for r in runs} == {"revops": "succeeded", "finops": "succeeded"}
    html = web_a.get("/agents/").content.decode()
    revops = html[html.index('id="agent-revops"'):html.index('id="agent-finops"')]
    assert "Open pipeline" in revops and '270,000 <span class="stat-unit">USD</span>' in revops  # 20k + 200k + 50k
    assert "$" not in revops  # the reporting currency is named, never assumed to be dollars
    assert "Win rate" in revops and "50.0%" in revops
    assert "was due to close" in revops  # the overdue deal is a finding
    finops = html[html.index('id="agent-finops"'):]
    assert "Total spend" in finops and "Anomalies" in finops
    assert "AmazonEC2 spike" in finops
    assert 'id="agent-runs"' in html and "pipeline_by_stage" in html and "spend_by_day" in html
    assert "/static/vendor/chartjs/chart.umd.min.js" in html


def test_home_lists_the_latest_findings(web_a, runs):
    html = web_a.get("/").content.decode()
    assert "was due to close" in html
    assert "The RevOps and FinOps agents have not run yet" not in html
    revops = next(r for r in runs if r.agent == "revops")
    assert f'href="/agents/runs/{revops.pk}/findings/' in html  # each finding opens its page


def test_a_findings_page_shows_what_to_do_and_links_its_record(web_a, tenant_a, runs):
    from agents.selectors import run_findings

    revops = next(r for r in runs if r.agent == "revops")
    overdue = next(f for f in _in(tenant_a, lambda: run_findings(revops)) if f["kind"] == "overdue_deal")
    html = web_a.get(overdue["links"]["page"]).content.decode()
    assert "Deal 2 was due to close 45 days ago" in html
    assert "Close Deal 2 as won or lost, or move its close date (2026-01-15, 45 days ago)" in html
    assert "50,000 USD" in html
    assert 'href="/dcl/views/opportunity/?field=unified_id&amp;value=O2"' in html
    # The view is not materialized in this test: the page says its record is not there, never a 500.
    assert "None of its records are in the view now" in html


def test_an_unknown_finding_or_run_is_404(web_a, runs):
    run = runs[0]
    assert web_a.get(f"/agents/runs/{run.pk}/findings/000000000000/").status_code == 404
    assert web_a.get("/agents/runs/999999/findings/000000000000/").status_code == 404


def test_a_run_stored_before_issue_18_shows_one_anomaly_for_its_three_days(web_a, tenant_a):
    from agents.models import AgentRun
    from tests.agents.test_findings import _stored_demo_run_findings

    _in(tenant_a, lambda: AgentRun.objects.create(agent="finops", status="succeeded", narrative="Spend was 1 USD.",
                                                  findings=_stored_demo_run_findings(),
                                                  metrics={"reporting_currency": "USD", "total_spend": 1.0}))
    html = web_a.get("/agents/").content.decode()
    finops = html[html.index('id="agent-finops"'):]
    assert finops.count('data-kind="anomaly"') == 1
    assert "AmazonEC2 spike from 2026-11-21 to 2026-11-23 (3 days)" in finops
    assert "+881.28 USD" in finops and "3.60 USD/month" in finops
    assert "<p>Spend was 1 USD.</p>" in finops  # an old one-paragraph summary stays one paragraph


def test_run_now_queues_an_agents_job(web_a, tenant_a):
    from agents.models import Job

    response = web_a.post("/agents/run/", {"agent": "revops"}, follow=True)
    assert response.status_code == 200
    job = _in(tenant_a, lambda: Job.objects.get(kind="agents"))
    assert job.params == {"agents": ["revops"]}
    assert f"Agents job #{job.pk} queued" in response.content.decode()


def test_an_unknown_agent_runs_both(web_a, tenant_a):
    from agents.models import Job

    web_a.post("/agents/run/", {"agent": "sales"})
    assert _in(tenant_a, lambda: Job.objects.get(kind="agents").params) == {"agents": []}


def test_discovery_page_counts_asset_items_by_risk_and_lists_high_and_medium_ones(web_a, tenant_a):
    from aam.models import ReviewItem
    from agents.services.discovery import discovery_run
    from connectors.models import Connection

    def scan():
        Connection.objects.create(name="Old CRM", kind="salesforce", status="error")  # no owner, in error
        return discovery_run(kind="scan")

    outcome = _in(tenant_a, scan)
    items = _in(tenant_a, lambda: list(ReviewItem.objects.filter(kind="asset")))
    assert items, outcome.assets
    html = web_a.get("/discover/").content.decode()
    assert "Last scan" in html
    risky = [item for item in items if item.risk in ("high", "medium")]
    assert risky, [(i.title, i.risk) for i in items]  # the connection in error is at least medium
    for item in risky:
        assert f'href="/aam/review/{item.pk}/"' in html
    high = sum(1 for i in items if i.risk == "high")
    assert f'data-risk="high">{high}</div>' in html


def test_discovery_iframe_only_when_the_external_dashboard_is_configured(web_a, settings):
    assert "<iframe" not in web_a.get("/discover/").content.decode()
    settings.AOD_DASHBOARD_URL = "https://discover.example/dashboard"
    html = web_a.get("/discover/").content.decode()
    assert '<iframe src="https://discover.example/dashboard"' in html
    assert 'target="_blank"' in html
