"""The connect job over the real pipeline (connectors → mapping → streams → DCL → views → agents).

Committed data: the job syncs in threads with their own database connections. SaaS sources are
the connectors' fake servers on 127.0.0.1 (the only stand-in the rules allow for them).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection as db

from agents.models import AgentRun, Job
from agents.services import connect_job_execute, connect_job_start
from autonomos.core.events import read_events
from connectors.kinds.hubspot.testserver import FakeHubSpot, make_companies
from tests.waiting import wait_until

from .helpers import in_schema

AS_OF = dt.date(2026, 3, 1)


@pytest.fixture
def pipeline_settings(settings):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True  # the fake SaaS servers listen on 127.0.0.1
    settings.CONNECTORS_HTTP_MAX_WAIT = 0.05
    settings.CONNECTORS_HTTP_BACKOFF_BASE = 0.005
    settings.CONNECTORS_HTTP_MAX_RETRIES = 1
    settings.AOA_SOURCE_RETRIES = 1
    settings.AOA_RETRY_BACKOFF_SECONDS = 0.01
    settings.AOA_SYNC_PARALLELISM = 2
    return settings


def _deals(n: int) -> list[dict]:
    return [{"hs_object_id": str(9_000_000 + i), "dealname": f"Deal {i}", "amount": str(1000 * (i + 1)),
             "dealstage": "contractsent", "closedate": "2026-04-01T00:00:00.000Z",
             "createdate": "2026-01-01T00:00:00.000Z", "hs_lastmodifieddate": "2026-02-01T00:00:00.000Z"}
            for i in range(n)]


class DealsBreakAfterDiscovery(FakeHubSpot):
    """Discovery and the companies read fine, then every read of deals answers 500: the source
    dies half way through its sync, after publishing its companies."""

    deals_reads = 0

    def route(self, request):
        if request.path == "/crm/v3/objects/deals":
            self.deals_reads += 1
            if self.deals_reads > 1:
                return 500, {"status": "error", "message": "internal error"}, {}
        return super().route(request)


def _run(tenant, **start):
    with in_schema(tenant):
        job = connect_job_start(**start)
        connect_job_execute(job_id=job.pk)
        job.refresh_from_db()
        return job


def _children(tenant, job):
    with in_schema(tenant):
        return {(c.kind, c.connection.name if c.connection else None): c for c in job.children.select_related(
            "connection")}


def test_a_source_failing_mid_job_leaves_the_others_to_finish_and_agents_run_on_what_landed(
        committed_tenants, tmp_path, pipeline_settings):
    from connectors.demo import generate
    from connectors.services import connection_create, demo_connections_ensure
    from dcl.selectors import view_all

    alpha, _ = committed_tenants
    generate(tmp_path / "demo", as_of=AS_OF)
    with DealsBreakAfterDiscovery(objects={"companies": make_companies(4), "deals": _deals(3)}) as hubspot:
        with in_schema(alpha):
            demo = demo_connections_ensure(directory=tmp_path / "demo")
            live = connection_create(name="HubSpot (live)", kind="hubspot", config=hubspot.config(),
                                     secrets=hubspot.secrets())
        job = _run(alpha)

    assert job.status == "partial", (job.error, job.result)
    sources = {s["name"]: s for s in job.result["sources"]}
    assert {name for name, s in sources.items() if s["status"] == "succeeded"} == {c.name for c in demo}
    failed = sources["HubSpot (live)"]
    assert failed["status"] == "failed" and failed["attempts"] == 2  # one retry of a transient error
    assert "500" in failed["error"] or "Transient" in failed["error"]
    assert job.error.startswith("HubSpot (live): ")
    assert job.result["summary"].startswith(f"{len(demo)} of {len(demo) + 1} sources synced")
    assert all(sources[c.name]["records_published"] > 0 for c in demo)

    children = _children(alpha, job)
    assert children[("sync", "HubSpot (live)")].status == "failed"
    assert children[("materialize", None)].status == "succeeded"
    assert children[("agents", None)].status == "succeeded"
    assert job.result["views"]["opportunity"] > 0 and job.result["views"]["cost"] > 0
    assert {a["agent"]: a["status"] for a in job.result["agents"]} == {"revops": "succeeded", "finops": "succeeded"}

    with in_schema(alpha):
        runs = {r.agent: r for r in AgentRun.objects.filter(job=children[("agents", None)])}
        opportunities = view_all(entity="opportunity")
        accounts = view_all(entity="account")
    # The pilots read exactly what landed, including the companies the failing source got through.
    assert runs["revops"].metrics["deals_total"] == len(opportunities)
    assert runs["revops"].inputs["views"]["opportunity"]["rows"] == len(opportunities)
    assert any(s["connection_id"] == live.pk for a in accounts for s in a["sources"])
    assert runs["finops"].metrics["total_spend"] > 0
    assert runs["finops"].metrics["anomaly_count"] >= 1  # the demo CUR has one clear spike

    progress = [e["payload"] for e in read_events(alpha) if e["type"] == "job_progress"
                and e["payload"]["job_id"] == job.pk]
    assert progress[-1]["status"] == "partial" and progress[-1]["progress"] == 100
    assert [p["progress"] for p in progress] == sorted(p["progress"] for p in progress)


def test_without_materialized_data_the_agents_step_is_skipped_not_failed(committed_tenants, tmp_path,
                                                                          pipeline_settings):
    from connectors.services import connection_create

    alpha, _ = committed_tenants
    (tmp_path / "empty").mkdir()  # a folder without exports yet: the sync has nothing to read
    with in_schema(alpha):
        connection_create(name="empty export", kind="filesource", config={"folder": str(tmp_path / "empty")})
    job = _run(alpha)
    assert job.status == "succeeded", job.error
    agents = _children(alpha, job)[("agents", None)]
    assert agents.status == "skipped"
    assert agents.step.startswith("skipped: no materialized data")
    assert "agents: skipped: no materialized data" in job.result["summary"]
    with in_schema(alpha):
        assert not AgentRun.objects.exists()


def test_when_every_source_fails_the_job_fails_and_nothing_after_the_syncs_runs(committed_tenants, tmp_path,
                                                                                 pipeline_settings):
    from connectors.services import connection_create

    alpha, _ = committed_tenants
    with FakeHubSpot() as hubspot:
        with in_schema(alpha):
            connection_create(name="bad token", kind="hubspot", config=hubspot.config(),
                              secrets={"access_token": "pat-na1-wrong"})
        job = _run(alpha)
    assert job.status == "failed"
    [source] = job.result["sources"]
    assert source["attempts"] == 1  # bad credentials are permanent: never retried
    children = _children(alpha, job)
    assert children[("materialize", None)].status == "skipped"
    assert children[("agents", None)].status == "skipped"
    assert "pat-na1-wrong" not in job.error and "pat-na1-wrong" not in str(job.result)


class CancellingHubSpot(FakeHubSpot):
    """Asks for the job's cancellation when the first records are read, as a person would mid-sync."""

    job_pk: int | None = None
    tenant = None

    def route(self, request):
        if self.job_pk and "/objects/" in request.path:
            from agents.services import job_cancel

            db.set_tenant(self.tenant)
            try:
                job_cancel(job=Job.objects.get(pk=self.job_pk))
            except Exception:  # noqa: BLE001 - already cancelling
                pass
            finally:
                db.close()
            self.job_pk = None
        return super().route(request)


def test_a_cancelled_job_stops_at_the_next_step_boundary(committed_tenants, tmp_path, pipeline_settings):
    from connectors.services import connection_create

    pipeline_settings.AOA_SYNC_PARALLELISM = 1
    alpha, _ = committed_tenants
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "accounts.csv").write_text("id,name\n1,Acme\n")
    with CancellingHubSpot(objects={"companies": make_companies(3)}) as hubspot:
        with in_schema(alpha):
            first = connection_create(name="hubspot", kind="hubspot", config=hubspot.config(),
                                      secrets=hubspot.secrets())
            later = connection_create(name="later", kind="filesource", config={"folder": str(tmp_path / "later")})
            job = connect_job_start(connection_ids=[first.pk, later.pk])
        hubspot.tenant, hubspot.job_pk = alpha, job.pk
        with in_schema(alpha):
            connect_job_execute(job_id=job.pk)
            job.refresh_from_db()
    assert job.status == "cancelled"
    sources = {s["name"]: s["status"] for s in job.result["sources"]}
    assert sources == {"hubspot": "succeeded", "later": "cancelled"}  # the running sync finished its work
    children = _children(alpha, job)
    assert children[("sync", "later")].status == "cancelled"
    assert children[("materialize", None)].status == "cancelled"
    assert children[("agents", None)].status == "cancelled"


@pytest.mark.live
def test_the_api_queues_a_connect_job_that_a_real_worker_runs_to_the_end(celery_worker_process, committed_tenants):
    from django.conf import settings

    from connectors.services import connection_create
    from tests.conftest import _jwt_client

    alpha, _ = committed_tenants
    folder = settings.DATA_DIR / "live-export"  # inside the worker's default filesource roots
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Opportunity.csv").write_text(
        # CurrencyIsoCode as a multi-currency org's export has it: the agents sum converted amounts only
        "Id,Name,StageName,Amount,CurrencyIsoCode,Probability,CloseDate,CreatedDate,LastModifiedDate,IsClosed,IsWon\n"
        "006000000000001AAA,Big deal,Negotiation/Review,50000,USD,80,2026-04-01,2026-01-05T00:00:00Z,"
        "2026-02-20T00:00:00Z,false,false\n"
        "006000000000002AAA,Won deal,Closed Won,20000,USD,100,2026-01-31,2025-12-01T00:00:00Z,"
        "2026-01-31T00:00:00Z,true,true\n")
    with in_schema(alpha):
        connection_create(name="sf export", kind="filesource",
                          config={"folder": str(folder), "source_system": "salesforce"})
    client = _jwt_client(alpha)
    response = client.post("/api/aoa/connect/", {}, format="json")
    assert response.status_code == 202, response.content
    job_id = response.json()["job_id"]
    last = {}

    def finished():  # poll the API like the dashboard does
        last.update(client.get(f"/api/aoa/jobs/{job_id}/").json())
        return last["status"] not in ("queued", "running")

    wait_until(finished, timeout=120, interval=0.25, message=lambda: f"job {job_id} to finish ({last})")
    body = last
    assert body["status"] == "succeeded", body
    assert body["attempts"] == 1 and body["progress"] == 100
    assert [c["kind"] for c in body["children"]] == ["sync", "materialize", "agents"]
    results = client.get("/api/agents/revops/results/").json()
    assert results["latest"]["metrics"]["deals_total"] == 2
    metrics = results["latest"]["metrics"]
    assert (metrics["open_pipeline"], metrics["reporting_currency"], metrics["unconverted"]["count"]) == (
        50000, "USD", 0)
    assert (metrics["open_count"], metrics["won_count"]) == (1, 1)  # from the canonical status
