"""python manage.py run_agents."""

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("slug", ["nobody", "public"])
def test_an_unknown_or_public_tenant_is_a_clean_command_error(slug):
    with pytest.raises(CommandError, match=f"no tenant '{slug}'"):
        call_command("run_agents", tenant=slug)


def test_an_unknown_agent_is_refused_by_the_parser():
    with pytest.raises(CommandError):
        call_command("run_agents", "--tenant", "alpha", "--agent", "sales")


def _materialize_opportunities(tenant, n=30):
    """30 Salesforce opportunities in USD through the real stream → DCL → view path. Deal i has amount
    i × 10 + 0.50, stage Prospecting: in the tenant's reporting currency (USD) the view holds
    10 × (0 + … + 29) + 30 × 0.5 = 4365. The pilot's open / won figures read the canonical `status`
    the value stage derives (tests/agents/test_revops_pilot.py works them out by hand)."""
    from django.db import connection

    from connectors.models import Connection
    from dcl.pipeline.materialize import materialize_with_values
    from tests.pipeline.support import SF_OPPORTUNITY, batches_for, mappings_record, opportunity_records, publish

    connection.set_tenant(tenant)
    conn = Connection.objects.create(name="SF", kind="salesforce")
    records = [{**r, "CurrencyIsoCode": "USD"} for r in opportunity_records(n)]
    mapping = {**SF_OPPORTUNITY, "CurrencyIsoCode": "currency"}
    mappings_record(conn.pk, mapping)  # as a sync stores them: the value stage finds currency and stage
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, records, mapping=mapping))
    materialize_with_values(tenant=tenant)  # drain → value stage → build, as a sync does
    connection.set_schema_to_public()


def test_run_agents_reads_the_unified_views_and_records_a_job(tenant_a):
    import io

    from agents.models import AgentRun, Job

    from .helpers import in_schema

    _materialize_opportunities(tenant_a)
    out = io.StringIO()
    call_command("run_agents", tenant="alpha", stdout=out)
    text = out.getvalue()
    assert "revops: succeeded" in text
    assert "finops: skipped" in text and "no cost rows are materialized yet" in text
    with in_schema(tenant_a):
        run = AgentRun.objects.get(agent="revops")
        job = Job.objects.get(kind="agents")
    assert (run.metrics["deals_total"], run.metrics["reporting_currency"], run.metrics["unconverted"]["count"]) == (
        30, "USD", 0)
    assert run.job_id == job.pk and job.status == "succeeded" and job.params["source"] == "command"


def test_run_agents_json_output_for_one_agent(tenant_a):
    import io
    import json

    _materialize_opportunities(tenant_a, n=4)
    out = io.StringIO()
    call_command("run_agents", "--tenant", "alpha", "--agent", "revops", "--json", stdout=out)
    [run] = json.loads(out.getvalue())
    assert (run["agent"], run["status"]) == ("revops", "succeeded")
    assert (run["metrics"]["deals_total"], run["metrics"]["reporting_currency"]) == (4, "USD")


def test_an_agents_job_from_the_api_runs_the_pilots_over_the_views(api_a, tenant_a,
                                                                     django_capture_on_commit_callbacks):
    from agents.services import agents_job_execute

    from .helpers import in_schema

    _materialize_opportunities(tenant_a)
    with django_capture_on_commit_callbacks(execute=False):
        job_id = api_a.post("/api/agents/run/", {"agents": ["revops"]}, format="json").json()["job_id"]
    with in_schema(tenant_a):
        job = agents_job_execute(job_id=job_id)
    assert job.status == "succeeded"
    assert job.result["runs"][0]["agent"] == "revops"
    latest = api_a.get("/api/agents/revops/results/").json()["latest"]
    assert latest["job_id"] == job_id and latest["metrics"]["deals_total"] == 30
