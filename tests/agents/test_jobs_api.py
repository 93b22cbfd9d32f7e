"""AOA jobs: the connect endpoint, the one-active-connect rule, listing, detail, cancel, limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import Job
from tests.conftest import host_of

from .helpers import assert_error, in_schema, make_connection, make_job

pytestmark = pytest.mark.django_db


def test_connect_queues_a_job_over_all_connections_and_answers_202(api_a, tenant_a,
                                                                    django_capture_on_commit_callbacks):
    c1 = make_connection(tenant_a, name="sf")
    c2 = make_connection(tenant_a, name="hs", kind="hubspot")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_a.post("/api/aoa/connect/", {}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert response["Location"] == f"/api/aoa/jobs/{body['job_id']}/"
    job = body["job"]
    assert (job["kind"], job["status"], job["progress"]) == ("connect", "queued", 0)
    assert job["params"] == {"connection_ids": sorted([c1.pk, c2.pk]), "full": False}
    assert job["requested_by"] == "admin"
    assert len(callbacks) == 2  # the job_progress event and the Celery task, both only after commit


def test_connect_with_chosen_connections_keeps_only_those(api_a, tenant_a, django_capture_on_commit_callbacks):
    c1 = make_connection(tenant_a, name="sf")
    make_connection(tenant_a, name="hs", kind="hubspot")
    with django_capture_on_commit_callbacks(execute=False):
        response = api_a.post("/api/aoa/connect/", {"connection_ids": [c1.pk, c1.pk], "full": True}, format="json")
    assert response.status_code == 202
    assert response.json()["job"]["params"] == {"connection_ids": [c1.pk], "full": True}


def test_a_second_connect_request_while_one_is_active_gets_409_with_its_id(api_a, tenant_a,
                                                                           django_capture_on_commit_callbacks):
    make_connection(tenant_a)
    with django_capture_on_commit_callbacks(execute=False):
        first = api_a.post("/api/aoa/connect/", {}, format="json")
        second = api_a.post("/api/aoa/connect/", {}, format="json")
    error = assert_error(second, 409)
    assert error["code"] == "conflict"
    assert error["details"]["job_id"] == first.json()["job_id"]
    with in_schema(tenant_a):
        assert Job.objects.filter(kind="connect").count() == 1


def test_a_finished_connect_job_does_not_block_the_next(api_a, tenant_a, django_capture_on_commit_callbacks):
    make_connection(tenant_a)
    make_job(tenant_a, status="succeeded")
    make_job(tenant_a, status="failed")
    with django_capture_on_commit_callbacks(execute=False):
        assert api_a.post("/api/aoa/connect/", {}, format="json").status_code == 202


def test_the_database_refuses_a_second_active_connect_job(tenant_a):
    from django.db import IntegrityError, transaction

    make_job(tenant_a, status="running")
    with in_schema(tenant_a), pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(kind="connect", status="queued")


def test_a_stale_connect_job_is_reaped_so_a_new_one_can_start(api_a, tenant_a, settings,
                                                              django_capture_on_commit_callbacks):
    settings.AOA_JOB_STALE_SECONDS = 60
    make_connection(tenant_a)
    stale = make_job(tenant_a, status="running")
    with in_schema(tenant_a):
        Job.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=False):
        response = api_a.post("/api/aoa/connect/", {}, format="json")
    assert response.status_code == 202
    with in_schema(tenant_a):
        stale.refresh_from_db()
    assert stale.status == "failed"
    assert stale.error.startswith("lost: no progress")


def test_connect_without_connections_is_400(api_a):
    error = assert_error(api_a.post("/api/aoa/connect/", {}, format="json"), 400)
    assert "no connections" in str(error["details"]["connection_ids"])


def test_connect_with_a_connection_of_another_tenant_is_400(api_a, tenant_a, tenant_b):
    make_connection(tenant_a)
    foreign = make_connection(tenant_b, name="theirs", pk=987654)
    error = assert_error(api_a.post("/api/aoa/connect/", {"connection_ids": [foreign.pk]}, format="json"), 400)
    assert "987654" in str(error["details"]["connection_ids"])


@pytest.mark.parametrize("body", [
    {"connection_ids": "1"},
    {"connection_ids": ["x"]},
    {"connection_ids": [-1]},
    {"connection_ids": []},
    {"connection_ids": [2**70]},
    {"connection_ids": list(range(1, 600))},
    {"full": "maybe"},
    [1, 2],
])
def test_connect_rejects_malformed_input(api_a, tenant_a, body):
    make_connection(tenant_a)
    assert_error(api_a.post("/api/aoa/connect/", body, format="json"), 400)
    with in_schema(tenant_a):
        assert not Job.objects.exists()


def test_job_list_shows_top_level_jobs_newest_first_and_filters(api_a, tenant_a):
    older = make_job(tenant_a, status="succeeded")
    make_job(tenant_a, kind="sync", status="succeeded", parent=older)
    newer = make_job(tenant_a, kind="agents", status="failed", error="boom")
    body = api_a.get("/api/aoa/jobs/").json()
    assert [j["id"] for j in body["results"]] == [newer.pk, older.pk]
    assert [j["id"] for j in api_a.get("/api/aoa/jobs/?status=failed").json()["results"]] == [newer.pk]
    assert [j["id"] for j in api_a.get("/api/aoa/jobs/?kind=connect").json()["results"]] == [older.pk]
    assert_error(api_a.get("/api/aoa/jobs/?status=exploded"), 400)


def test_job_detail_shows_children_and_agent_runs(api_a, tenant_a):
    from agents.models import AgentRun

    parent = make_job(tenant_a, status="partial", result={"summary": "1 of 2 sources synced"})
    child = make_job(tenant_a, kind="sync", status="failed", parent=parent, error="bad credentials")
    with in_schema(tenant_a):
        run = AgentRun.objects.create(agent="revops", status="succeeded", job=parent)
    body = api_a.get(f"/api/aoa/jobs/{parent.pk}/").json()
    assert body["result"]["summary"] == "1 of 2 sources synced"
    assert [(c["id"], c["status"], c["error"]) for c in body["children"]] == [(child.pk, "failed", "bad credentials")]
    assert [r["id"] for r in body["agent_runs"]] == [run.pk]


def test_a_job_of_another_tenant_is_404_and_a_token_on_another_host_is_401(api_a, api_b, tenant_a, tenant_b):
    ours = make_job(tenant_a, status="succeeded")
    other = make_job(tenant_b, kind="agents", status="queued", pk=ours.pk + 1000)
    assert api_a.get(f"/api/aoa/jobs/{ours.pk}/").status_code == 200
    assert_error(api_a.get(f"/api/aoa/jobs/{other.pk}/"), 404)
    assert_error(api_a.post(f"/api/aoa/jobs/{other.pk}/cancel/"), 404)
    with in_schema(tenant_b):
        other.refresh_from_db()
    assert not other.cancel_requested
    foreign_host = APIClient(HTTP_HOST=host_of(tenant_b))
    foreign_host.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    for url in (f"/api/aoa/jobs/{ours.pk}/", "/api/aoa/jobs/", "/api/aoa/state/"):
        assert_error(foreign_host.get(url), 401)
    assert_error(foreign_host.post(f"/api/aoa/jobs/{ours.pk}/cancel/"), 401)
    assert_error(foreign_host.post("/api/aoa/connect/", {}, format="json"), 401)


@pytest.mark.parametrize("url", ["/api/aoa/jobs/0/", "/api/aoa/jobs/99999999999999999999/", "/api/aoa/jobs/abc/"])
def test_odd_job_ids_are_404_not_500(api_a, url):
    assert_error(api_a.get(url), 404)


def test_cancelling_a_queued_job_stops_it_and_its_children_at_once(api_a, tenant_a):
    job = make_job(tenant_a, status="queued")
    child = make_job(tenant_a, kind="sync", status="queued", parent=job)
    response = api_a.post(f"/api/aoa/jobs/{job.pk}/cancel/")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    with in_schema(tenant_a):
        child.refresh_from_db()
        assert child.status == "cancelled"
        assert Job.objects.get(pk=job.pk).finished_at is not None
    error = assert_error(api_a.post(f"/api/aoa/jobs/{job.pk}/cancel/"), 409)
    assert error["details"]["job_id"] == job.pk


def test_cancelling_a_running_job_asks_it_to_stop_at_the_next_step(api_a, tenant_a):
    job = make_job(tenant_a, status="running", step="syncing crm")
    body = api_a.post(f"/api/aoa/jobs/{job.pk}/cancel/").json()
    assert (body["status"], body["cancel_requested"]) == ("running", True)
    assert body["step"] == "syncing crm (cancelling)"


def test_a_cancelled_queued_job_is_not_claimed_by_its_task(tenant_a):
    from agents.services import job_claim

    job = make_job(tenant_a, kind="agents", status="queued", cancel_requested=True)
    with in_schema(tenant_a):
        assert job_claim(job_id=job.pk) is None
        job.refresh_from_db()
    assert job.status == "cancelled"


def test_agents_jobs_beyond_the_active_limit_get_429(api_a, tenant_a, settings, django_capture_on_commit_callbacks):
    settings.AOA_MAX_ACTIVE_JOBS = 2
    with django_capture_on_commit_callbacks(execute=False):
        assert api_a.post("/api/agents/run/", {}, format="json").status_code == 202
        assert api_a.post("/api/agents/run/", {"agents": ["finops"]}, format="json").status_code == 202
        assert assert_error(api_a.post("/api/agents/run/", {}, format="json"), 429)["code"] == "throttled"


def test_a_job_over_the_running_limit_waits_queued(tenant_a, settings):
    from agents.services import JobBusy, job_claim

    settings.AOA_MAX_RUNNING_JOBS = 1
    make_job(tenant_a, kind="connect", status="running")  # connect jobs have their own rule
    first = make_job(tenant_a, kind="agents", status="queued")
    second = make_job(tenant_a, kind="agents", status="queued")
    with in_schema(tenant_a):
        assert job_claim(job_id=first.pk, limited=True).status == "running"
        with pytest.raises(JobBusy):
            job_claim(job_id=second.pk, limited=True)
        second.refresh_from_db()
        assert second.status == "queued"
        Job.objects.filter(pk=first.pk).update(status="succeeded")
        claimed = job_claim(job_id=second.pk, limited=True)
    assert (claimed.status, claimed.attempts) == ("running", 1)


def test_progress_never_goes_backwards_and_is_published(tenant_a):
    from agents.services import job_progress_set
    from autonomos.core.events import read_events

    job = make_job(tenant_a, status="running")
    with in_schema(tenant_a):
        job_progress_set(job=job, progress=40, step="syncing", force=True)
        job_progress_set(job=job, progress=20, step="still syncing", force=True)
        job.refresh_from_db()
        assert (job.progress, job.step) == (40, "still syncing")
        events = [e for e in read_events(tenant_a) if e["type"] == "job_progress"]
    assert [e["payload"]["progress"] for e in events] == [40, 40]
    assert events[-1]["payload"]["job_id"] == job.pk


@pytest.mark.parametrize("body", [{"agents": ["sales"]}, {"agents": []}, {"agents": "revops"}])
def test_agents_run_rejects_bad_agent_lists(api_a, body):
    assert_error(api_a.post("/api/agents/run/", body, format="json"), 400)
