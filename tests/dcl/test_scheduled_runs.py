"""Scheduled runs (dcl/schedules/runs.py): beat's tick reaches the pipeline's one entry, a tick while
a run goes is skipped and recorded, a failed run retries with growing delays and then alerts (event and
Slack), and the freshness API reports the last good sync, the stream lag, the schedule and each run's
counts per object."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from celery.exceptions import Retry
from django.db import connection

from aam.ingest import services as ingest
from aam.sync_lock import SyncLock
from autonomos.core.events import read_events
from connectors.errors import PermanentError
from connectors.models import Connection
from dcl.models import ConnectionRun, MaterializedView
from dcl.schedules import runs as runs_module
from dcl.schedules.runs import retry_delay, scheduled_run
from dcl.schedules.services import SCHEDULED_RUN_TASK, periodic_task_name
from dcl.tasks import connection_scheduled_sync_task
from tests.pipeline.support import SF_OPPORTUNITY, Mapping, MemoryDriver, RecordError, opportunity_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(monkeypatch, in_tenant_a):
    """A Salesforce-like connection read from memory (the real pipeline after the driver)."""
    state = {"driver": MemoryDriver({"Opportunity": opportunity_records(120)}, page_size=50,
                                    errors={"Opportunity": [RecordError(7, "unreadable row", {"Id": "bad"})]})}
    monkeypatch.setattr(ingest, "_driver_for", lambda conn: state["driver"])
    monkeypatch.setattr(ingest, "_mapping_ensure", lambda conn, obj: Mapping("opportunity", SF_OPPORTUNITY))
    state["connection"] = Connection.objects.create(name="SF sched", kind="salesforce")
    return state


def _events(tenant, type_):
    return [e["payload"] for e in read_events(tenant) if e["type"] == type_]


def _run_task(tenant, connection_id, **options):
    """The task as a worker runs it: with the headers beat sends (the tenant's schema and id)."""
    headers = {"_schema_name": tenant.schema_name, "_tenant_id": str(tenant.tenant_id)}
    return connection_scheduled_sync_task.apply(args=[connection_id], headers=headers, **options)


def test_a_beat_tick_sends_the_task_for_the_tenant_and_the_run_goes_through_the_pipeline(source, api_a, tenant_a,
                                                                                        monkeypatch):
    """django-celery-beat's DatabaseScheduler reads the connection's periodic task and sends its task
    with the tenant in the headers; run as a worker would, it drives pipeline_run to the views."""
    from django_celery_beat.schedulers import DatabaseScheduler

    from autonomos.celery import app

    conn = source["connection"]
    connection.set_schema_to_public()
    assert api_a.put(f"/api/connections/{conn.pk}/schedule/", {"kind": "interval", "every_seconds": 1},
                     format="json").status_code == 200
    # Beat closes stale connections between ticks; here the test's transaction holds the only one.
    monkeypatch.setattr("django_celery_beat.schedulers.close_old_connections", lambda: None)
    sent = []
    monkeypatch.setattr(app, "send_task", lambda name, args=None, kwargs=None, **options:
                        sent.append((name, args, kwargs, options)))
    scheduler = DatabaseScheduler(app=app, lazy=True)
    scheduler.setup_schedule()
    entry = scheduler.schedule[periodic_task_name(tenant_a, conn.pk)]
    scheduler.apply_async(entry, producer=None)
    assert len(sent) == 1
    name, args, _kwargs, options = sent[0]
    assert name == SCHEDULED_RUN_TASK and list(args) == [conn.pk]
    assert options["headers"]["_schema_name"] == tenant_a.schema_name
    assert options["headers"]["_tenant_id"] == str(tenant_a.tenant_id)
    assert options["expires"] == 60  # a tick not started within a minute gives way to the next

    result = _run_task(tenant_a, conn.pk, task_id="tick-1")
    assert result.successful(), result.traceback
    assert result.result["status"] == "succeeded"
    connection.set_tenant(tenant_a)
    run = ConnectionRun.objects.get()
    assert run.trigger == "schedule" and run.status == "succeeded" and run.task_id == "tick-1" and run.attempt == 1
    assert run.info["trigger"] == "schedule"
    steps = [s["step"] for s in run.info["steps"]]
    assert steps[:2] == ["read", "consume"] and steps[-1] == "materialize"
    assert run.records_read == 121 and run.quarantined == 1  # 120 records and the unreadable one
    assert run.object_counts == [{"object": "Opportunity", "entity": "opportunity", "read": 121, "published": 120,
                                  "quarantined": 1, "inserted": 120, "updated": 0, "deleted": 0}]
    assert (run.inserted, run.updated, run.deleted) == (120, 0, 0)
    assert MaterializedView.objects.get(entity="opportunity").row_count == 120


def test_a_tick_while_a_run_goes_is_skipped_and_recorded_and_skips_share_a_row(source, tenant_a):
    conn = source["connection"]
    with SyncLock(tenant_a, conn.pk):
        first = _run_task(tenant_a, conn.pk).result
        second = _run_task(tenant_a, conn.pk).result
    connection.set_tenant(tenant_a)
    assert first["status"] == second["status"] == "skipped"
    assert source["driver"].pages_read == 0  # nothing started
    run = ConnectionRun.objects.get()
    assert run.status == "skipped" and run.skipped_count == 2 and "going" in run.error
    assert [p["skipped"] for p in _events(tenant_a, "run_skipped")] == [1, 2]
    assert _run_task(tenant_a, conn.pk).result["status"] == "succeeded"  # lock released: the next tick runs
    connection.set_tenant(tenant_a)
    assert list(ConnectionRun.objects.order_by("id").values_list("status", flat=True)) == ["skipped", "succeeded"]


def test_two_ticks_passing_the_check_at_once_still_start_one_run(source, tenant_a, monkeypatch):
    """The check is not the guard: the read stage's lease is. A tick that loses it is a skip, not a failure."""
    conn = source["connection"]
    monkeypatch.setattr(runs_module, "sync_running", lambda tenant, connection_id: False)
    with SyncLock(tenant_a, conn.pk):
        outcome = scheduled_run(tenant=tenant_a, connection_id=conn.pk)
    assert outcome.status == "skipped" and outcome.retry_in is None
    assert list(ConnectionRun.objects.values_list("status", "skipped_count")) == [("skipped", 1)]
    assert _events(tenant_a, "run_failed") == [] and _events(tenant_a, "alert") == []


def test_the_backoff_grows_and_is_capped(settings):
    settings.SCHEDULE_RETRY_BASE_SECONDS, settings.SCHEDULE_RETRY_MAX_SECONDS = 30, 900
    assert [retry_delay(a) for a in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]


class _Webhook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server naming
        type(self).received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def slack(settings):
    _Webhook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SLACK_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/services/T/B/X"
    yield _Webhook.received
    server.shutdown()


def test_a_failed_run_retries_with_backoff_then_alerts_by_event_and_slack(source, tenant_a, settings, slack,
                                                                          monkeypatch):
    settings.SCHEDULE_MAX_RETRIES = 2
    settings.SCHEDULE_RETRY_BASE_SECONDS = 30
    source["driver"] = MemoryDriver({"Opportunity": opportunity_records(120)}, page_size=50, fail_after_pages=0)
    countdowns = []

    def retry(*args, **kwargs):  # what the task asks of Celery; the worker would send it back after countdown
        countdowns.append(kwargs.get("countdown"))
        return Retry("retry", when=kwargs.get("countdown"))

    monkeypatch.setattr(connection_scheduled_sync_task, "retry", retry)
    # Each attempt as the worker runs it: the first, then the retries (request.retries 1, 2).
    states = [_run_task(tenant_a, source["connection"].pk, retries=n, throw=False).state for n in range(3)]
    # The last attempt ends the task: its failure is in the run's record and the alert.
    assert states == ["RETRY", "RETRY", "SUCCESS"]
    connection.set_tenant(tenant_a)
    assert countdowns == [30, 60]
    runs = list(ConnectionRun.objects.order_by("attempt"))
    assert [(r.attempt, r.status) for r in runs] == [(1, "failed"), (2, "failed"), (3, "failed")]
    assert all("source went away" in r.error for r in runs)
    assert [r.retry_at is not None for r in runs] == [True, True, False]
    assert round((runs[1].retry_at - runs[1].finished_at).total_seconds()) == 60
    failed = _events(tenant_a, "run_failed")
    assert [(p["attempt"], p["retry_in"]) for p in failed] == [(1, 30), (2, 60), (3, None)]
    alerts = _events(tenant_a, "alert")
    assert len(alerts) == 1 and alerts[0]["kind"] == "sync_failed" and alerts[0]["attempts"] == 3
    assert alerts[0]["connection_id"] == source["connection"].pk and "source went away" in alerts[0]["error"]
    assert len(slack) == 1 and "SF sched" in slack[0]["text"] and "3 attempt" in slack[0]["text"]


def test_a_permanent_failure_alerts_at_once_without_retrying(source, tenant_a, monkeypatch):
    class BadCredentials:
        def __enter__(self):
            raise PermanentError("invalid_grant: the refresh token was revoked")

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr(ingest, "_driver_for", lambda conn: BadCredentials())
    outcome = scheduled_run(tenant=tenant_a, connection_id=source["connection"].pk)
    assert outcome.status == "failed" and outcome.retry_in is None
    assert [p["permanent"] for p in _events(tenant_a, "run_failed")] == [True]
    assert len(_events(tenant_a, "alert")) == 1


class _Unreachable(MemoryDriver):
    def discover(self):
        raise ConnectionError("source unreachable")


def test_repeated_failures_alert_each_time_but_slack_hears_once(source, tenant_a, slack, settings):
    settings.SCHEDULE_MAX_RETRIES = 0
    source["driver"] = _Unreachable({})
    for _ in range(2):
        assert scheduled_run(tenant=tenant_a, connection_id=source["connection"].pk).status == "failed"
    assert [a["repeat"] for a in _events(tenant_a, "alert")] == [False, True]
    assert len(slack) == 1
    source["driver"] = MemoryDriver({"Opportunity": opportunity_records(10)}, page_size=50)
    assert scheduled_run(tenant=tenant_a, connection_id=source["connection"].pk).status == "succeeded"
    source["driver"] = _Unreachable({})
    assert scheduled_run(tenant=tenant_a, connection_id=source["connection"].pk).status == "failed"
    assert len(slack) == 2  # a new streak after a good run


def test_a_frozen_connection_is_skipped_not_failed(source, tenant_a):
    Connection.objects.filter(pk=source["connection"].pk).update(status=Connection.Status.FROZEN)
    assert scheduled_run(tenant=tenant_a, connection_id=source["connection"].pk).status == "skipped"
    run = ConnectionRun.objects.get()
    assert run.status == "skipped" and "frozen" in run.error and source["driver"].pages_read == 0
    assert _events(tenant_a, "alert") == []


def test_a_tick_for_a_deleted_connection_runs_nothing(tenant_a, in_tenant_a):
    assert _run_task(tenant_a, 424242).result == {"status": "gone", "run_id": None, "retry_in": None, "error": "",
                                                   "info": None}
    connection.set_tenant(tenant_a)
    assert not ConnectionRun.objects.exists()


def test_a_sync_task_run_is_recorded_too(source, tenant_a):
    from dcl.tasks import connection_sync_task

    headers = {"_schema_name": tenant_a.schema_name, "_tenant_id": str(tenant_a.tenant_id)}
    result = connection_sync_task.apply(args=[source["connection"].pk], headers=headers)
    assert result.successful(), result.traceback
    connection.set_tenant(tenant_a)
    run = ConnectionRun.objects.get()
    assert run.trigger == "task" and run.status == "succeeded" and run.object_counts[0]["read"] == 121


def test_freshness_reports_the_last_good_sync_the_lag_the_schedule_and_the_runs(source, tenant_a, api_a):
    conn = source["connection"]
    connection.set_schema_to_public()
    api_a.put(f"/api/connections/{conn.pk}/schedule/", {"kind": "cron", "cron": "0 6 * * *"}, format="json")
    before = api_a.get(f"/api/connections/{conn.pk}/freshness/").json()
    assert before["last_good_sync_at"] is None and before["seconds_since_good_sync"] is None
    assert before["runs"] == [] and before["last_run"] is None
    assert before["schedule"]["cron"] == "0 6 * * *" and before["schedule"]["next_run_at"].endswith("T06:00:00Z")
    assert _run_task(tenant_a, conn.pk).result["status"] == "succeeded"
    connection.set_schema_to_public()
    body = api_a.get(f"/api/connections/{conn.pk}/freshness/").json()
    assert body["last_good_sync_at"] is not None and 0 <= body["seconds_since_good_sync"] < 60
    assert body["stream"]["lag"] == 0 and body["stream"]["pending"] == 0 and body["stream"]["unapplied"] == 0
    assert body["last_run"]["status"] == "succeeded" and body["schedule"]["last_tick_at"] is not None
    assert body["runs"][0]["objects"][0]["quarantined"] == 1 and body["runs"][0]["objects"][0]["inserted"] == 120
    assert (body["runs"][0]["inserted"], body["runs"][0]["updated"], body["runs"][0]["deleted"]) == (120, 0, 0)
    runs = api_a.get(f"/api/connections/{conn.pk}/runs/?limit=1").json()["results"]
    assert [r["status"] for r in runs] == ["succeeded"]
    bad = api_a.get(f"/api/connections/{conn.pk}/runs/?limit=0")
    assert bad.status_code == 400 and "limit" in bad.json()["error"]["message"]
    views = api_a.get("/api/dcl/views/").json()["results"]
    opportunity = next(v for v in views if v["entity"] == "opportunity")
    assert opportunity["materialized_at"] is not None and 0 <= opportunity["age_seconds"] < 60


def test_a_failed_run_after_the_last_read_does_not_count_as_good(source, tenant_a, monkeypatch):
    """A run whose read stamped last_synced_at and whose materialization failed is not a good sync."""
    import dcl.pipeline.run as pipeline_run_module
    from dcl.schedules.selectors import last_good_sync_at

    def disk_full(tenant, **_):
        raise OSError("disk full")

    conn = source["connection"]
    monkeypatch.setattr(pipeline_run_module, "views_rebuild", disk_full)
    outcome = scheduled_run(tenant=tenant_a, connection_id=conn.pk)
    assert outcome.status == "failed" and "disk full" in outcome.error
    conn.refresh_from_db()
    assert conn.last_synced_at is not None  # the read succeeded
    assert last_good_sync_at(conn) is None


def test_the_connection_page_shows_freshness_and_the_runs_with_their_counts(source, tenant_a, web_a):
    assert _run_task(tenant_a, source["connection"].pk).result["status"] == "succeeded"
    connection.set_schema_to_public()
    html = web_a.get(f"/connections/{source['connection'].pk}/").content.decode()
    assert 'data-fresh="good-sync"' in html and 'data-run-status="succeeded"' in html
    assert "Opportunity" in html and "not counted: the run did not get that far" not in html
    assert '<td class="num">120</td>' in html  # read 121 (one unreadable), inserted 120
