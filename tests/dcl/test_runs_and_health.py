"""A connection's runs (API and page, with their log and a retry), the facts its health is derived
from (dcl/health.py on the real database and Redis), the one state of /api/status/, and
`manage.py sync` exiting non-zero when a connection failed (issue #18 items 3 and 4)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from autonomos.core.roles import Role
from connectors.models import Connection
from dcl.models import ConnectionRun
from tests.conftest import host_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

READ_OK = {"step": "read", "connection_id": None, "rows": 50, "seconds": 1.25, "ok": True, "details": {
    "objects": 1, "records_read": 50, "records_published": 48, "quarantined": 2, "batches": 1,
    "details": [{"name": "Deals.csv", "entity": "opportunity", "records_read": 50, "records_published": 48,
                 "quarantined": 2, "batches": 1, "skipped": "", "row_count": 50, "from_start": True}]}}
READ_NOTHING_MAPPED = {"step": "read", "connection_id": None, "rows": 0, "seconds": 0.5, "ok": True, "details": {
    "objects": 1, "records_read": 0, "records_published": 0, "quarantined": 0, "batches": 0,
    "details": [{"name": "Blob.csv", "entity": None, "records_read": 0, "records_published": 0, "quarantined": 0,
                 "batches": 0, "skipped": "no canonical entity for this object", "row_count": 51910,
                 "from_start": True}]}}


def _run(conn, status="succeeded", steps=(), **kw) -> ConnectionRun:
    now = timezone.now()
    return ConnectionRun.objects.create(connection=conn, trigger=kw.pop("trigger", "manual"), status=status,
                                        started_at=kw.pop("started_at", now - timedelta(seconds=5)),
                                        finished_at=None if status == "running" else now, seconds=1.5,
                                        info={"trigger": "task", "full": False, "steps": list(steps)}, **kw)


@pytest.fixture
def conn_a(tenant_a):
    with schema_context(tenant_a.schema_name):
        return Connection.objects.create(name="Deals export", kind="filesource", status="ok")


def _client_of(tenant, role):
    from rest_framework.test import APIClient

    from tenants.auth import issue_tokens

    with schema_context(tenant.schema_name):
        user = UserFactory(username=f"{role.value}-runs", role=role, unusable_password=True)
        token = issue_tokens(user, tenant).access_token
    client = APIClient(HTTP_HOST=host_of(tenant))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


# --- the facts, on the real database and Redis ------------------------------------------------------


def test_health_reads_the_latest_run_and_skips_do_not_hide_it(tenant_a, conn_a):
    from connectors.health import connection_health

    with schema_context(tenant_a.schema_name):
        _run(conn_a, steps=[READ_NOTHING_MAPPED], started_at=timezone.now() - timedelta(minutes=3))
        ConnectionRun.objects.create(connection=conn_a, trigger="schedule", status="skipped",
                                     started_at=timezone.now(), finished_at=timezone.now(), skipped_count=3)
        health = connection_health(conn_a)
    assert health.state == "failed" and "Mapped nothing" in health.reason and "Blob.csv" in health.reason


def test_review_items_and_quarantine_reasons_come_from_the_database(tenant_a, conn_a):
    from aam.models import QuarantinedRecord, ReviewItem
    from connectors.health import connection_health

    with schema_context(tenant_a.schema_name):
        _run(conn_a, steps=[READ_OK], quarantined=2, records_read=50)
        QuarantinedRecord.objects.create(connection=conn_a, source_object="Deals.csv", reason="Amount is not a number")
        health = connection_health(conn_a)
        assert health.state == "needs_attention"
        assert health.reason == "The last sync quarantined 2 of 50 records (Amount is not a number)."
        item = ReviewItem.objects.create(kind="mapping", connection=conn_a, title="Deals.csv.Owner → ?")
        health = connection_health(conn_a)
        assert health.review_pending == 1 and health.reason == "1 review item waits for a decision."
        ReviewItem.objects.filter(pk=item.pk).update(status="approved")
        assert connection_health(conn_a).review_pending == 0


def test_a_run_left_running_by_a_dead_worker_is_failed_after_the_stale_limit(tenant_a, conn_a, settings):
    from connectors.health import connection_health

    settings.CONNECTION_RUN_STALE_SECONDS = 60
    with schema_context(tenant_a.schema_name):
        run = _run(conn_a, status="running", started_at=timezone.now() - timedelta(seconds=30))
        assert connection_health(conn_a).state == "syncing"
        ConnectionRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(minutes=5))
        health = connection_health(conn_a)
    assert health.state == "failed" and "stopped without finishing" in health.reason


def test_the_sync_lease_and_a_queued_run_are_syncing(tenant_a, conn_a):
    from aam.sync_lock import SyncLock, sync_queued_mark, syncs_queued
    from connectors.health import connection_health

    with schema_context(tenant_a.schema_name):
        sync_queued_mark(tenant_a, conn_a.pk)
        assert connection_health(conn_a).reason.startswith("Queued")
        with SyncLock(tenant_a, conn_a.pk):
            assert syncs_queued(tenant_a, [conn_a.pk]) == set()  # the read took it
            assert connection_health(conn_a).reason == "Reading the source."


# --- the API ----------------------------------------------------------------------------------------


def test_the_runs_api_lists_each_run_with_its_log(api_a, tenant_a, conn_a):
    with schema_context(tenant_a.schema_name):
        run = _run(conn_a, steps=[READ_OK, {"step": "materialize", "connection_id": None, "rows": 48, "seconds": 0.2,
                                             "ok": True, "details": {"views": {"opportunity": 48}}}])
    body = api_a.get(f"/api/connections/{conn_a.pk}/runs/").json()["results"]
    assert [r["id"] for r in body] == [run.pk]
    assert body[0]["log"] == [
        "read 50 records from 1 object: 48 published, 2 quarantined in 1.2 s",
        "materialize: 1 view rebuilt (opportunity 48) in 0.2 s",
    ]
    one = api_a.get(f"/api/connections/{conn_a.pk}/runs/{run.pk}/")
    assert one.status_code == 200 and one.json()["id"] == run.pk and one.json()["retry_of"] is None


def test_a_run_is_not_found_through_another_connection_or_tenant(api_a, api_b, tenant_a, conn_a):
    with schema_context(tenant_a.schema_name):
        other = Connection.objects.create(name="Other", kind="filesource")
        run = _run(conn_a, status="failed", error="PermanentError: bad password")
    assert api_a.get(f"/api/connections/{other.pk}/runs/{run.pk}/").status_code == 404
    assert api_a.post(f"/api/connections/{other.pk}/runs/{run.pk}/retry/").status_code == 404
    assert api_a.get(f"/api/connections/{conn_a.pk}/runs/999999/").status_code == 404
    assert api_a.post(f"/api/connections/999999/runs/{run.pk}/retry/").status_code == 404
    assert api_b.get(f"/api/connections/{conn_a.pk}/runs/{run.pk}/").status_code == 404
    assert api_b.post(f"/api/connections/{conn_a.pk}/runs/{run.pk}/retry/").status_code == 404


def test_a_failed_run_is_retried_by_an_operator_and_a_good_one_is_refused(tenant_a, conn_a,
                                                                          django_capture_on_commit_callbacks,
                                                                          monkeypatch):
    from aam import sync_request
    from aam.sync_lock import syncs_queued

    sent = []
    monkeypatch.setattr(sync_request, "pipeline_run_request", lambda **kw: sent.append(kw))
    with schema_context(tenant_a.schema_name):
        failed = _run(conn_a, status="failed", error="TransientError: timed out")
        failed.info = {**failed.info, "full": True}
        failed.save()
        good = _run(conn_a)
    viewer, operator = _client_of(tenant_a, Role.VIEWER), _client_of(tenant_a, Role.OPERATOR)
    assert viewer.post(f"/api/connections/{conn_a.pk}/runs/{failed.pk}/retry/").status_code == 403
    refused = operator.post(f"/api/connections/{conn_a.pk}/runs/{good.pk}/retry/")
    assert refused.status_code == 409 and "only a failed run" in refused.json()["error"]["message"]
    with django_capture_on_commit_callbacks(execute=True):
        accepted = operator.post(f"/api/connections/{conn_a.pk}/runs/{failed.pk}/retry/")
    assert accepted.status_code == 202 and accepted.json()["retry_of"] == failed.pk
    assert len(sent) == 1
    assert {k: sent[0][k] for k in ("connection_id", "full", "trigger", "retry_of")} == {
        "connection_id": conn_a.pk, "full": True, "trigger": "retry", "retry_of": failed.pk}
    assert syncs_queued(tenant_a, [conn_a.pk]) == {conn_a.pk}


def test_the_retry_button_is_a_csrf_checked_post_for_operators(tenant_a, conn_a, monkeypatch):
    from aam import sync_request

    monkeypatch.setattr(sync_request, "pipeline_run_request", lambda **kw: None)
    with schema_context(tenant_a.schema_name):
        failed = _run(conn_a, status="failed", error="TransientError: timed out")
        viewer = UserFactory(username="viewer-retry", role=Role.VIEWER, unusable_password=True)
        operator = UserFactory(username="operator-retry", role=Role.OPERATOR, unusable_password=True)
    url = f"/dcl/connections/{conn_a.pk}/runs/{failed.pk}/retry/"
    client = Client(HTTP_HOST=host_of(tenant_a))
    with schema_context(tenant_a.schema_name):
        client.force_login(viewer)
    page = client.get(f"/connections/{conn_a.pk}/").content.decode()
    assert f'data-run="{failed.pk}"' in page and "data-retry" not in page  # a viewer sees the run, no button
    assert client.post(url).status_code == 403
    strict = Client(HTTP_HOST=host_of(tenant_a), enforce_csrf_checks=True)
    with schema_context(tenant_a.schema_name):
        strict.force_login(operator)
    assert strict.post(url).status_code == 403  # no CSRF token
    page = strict.get(f"/connections/{conn_a.pk}/").content.decode()
    assert f'data-retry="{failed.pk}"' in page
    token = strict.cookies["csrftoken"].value
    response = strict.post(url, {"csrfmiddlewaretoken": token}, follow=True)
    assert response.status_code == 200 and f"Run #{failed.pk} queued again" in response.content.decode()
    assert strict.post(f"/dcl/connections/{conn_a.pk}/runs/999999/retry/",
                       {"csrfmiddlewaretoken": token}).status_code == 404


def test_the_status_api_is_the_one_state_of_the_pages(api_a, tenant_a, conn_a):
    from aam.models import ReviewItem

    with schema_context(tenant_a.schema_name):
        _run(conn_a, steps=[READ_NOTHING_MAPPED])
        ReviewItem.objects.create(kind="asset", title="an asset")
    body = api_a.get("/api/status/").json()
    assert body["health"] == {"healthy": 0, "syncing": 0, "needs_attention": 0, "failed": 1, "new": 0}
    assert body["attention"] == 1 and body["review_pending"] == 1 and body["connections_total"] == 1
    assert body["connections"][0]["health"]["label"] == "Failed"
    listed = api_a.get("/api/connections/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert rows[0]["health"] == body["connections"][0]["health"]


# --- manage.py sync ---------------------------------------------------------------------------------


def _filesource(tenant, name: str, csv: str) -> Connection:
    from connectors.services import connection_create, connection_file_upload

    connection.set_tenant(tenant)
    try:
        conn = connection_create(name=name, kind="filesource", config={})
        data = csv.encode()
        connection_file_upload(connection=conn, filename=f"{name}.csv", content=io.BytesIO(data), size=len(data))
        return conn
    finally:
        connection.set_schema_to_public()


def test_sync_exits_non_zero_when_a_connection_maps_nothing_and_records_every_run(tenant_a):
    good = _filesource(tenant_a, "Account", "Id,Name,Website\n001A,Acme,https://acme.example\n"
                                           "001B,Globex,https://globex.example\n")
    blob = _filesource(tenant_a, "Blob", "Remarks\n" + "".join(f"note {i} about nothing\n" for i in range(200)))
    out = io.StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("sync", tenant=tenant_a.slug, stdout=out, stderr=io.StringIO())
    assert f"connection {blob.pk}: Mapped nothing" in str(failed.value) and "1 of 2" in str(failed.value)
    assert '"views"' in out.getvalue()  # the figures are printed before the exit
    with schema_context(tenant_a.schema_name):
        runs = {r.connection_id: r for r in ConnectionRun.objects.all()}
        assert runs[good.pk].trigger == "command" and runs[good.pk].status == "succeeded"
        assert runs[good.pk].records_read == 2 and runs[good.pk].object_counts[0]["inserted"] == 2
        assert [s["step"] for s in runs[good.pk].info["steps"]][0] == "read"
        assert all(s["connection_id"] in (None, good.pk) for s in runs[good.pk].info["steps"])
        assert runs[blob.pk].status == "succeeded" and runs[blob.pk].object_counts[0]["skipped"]
    call_command("sync", tenant=tenant_a.slug, connection=[good.pk], stdout=io.StringIO(), stderr=io.StringIO())


def test_sync_exits_non_zero_when_a_read_fails(tenant_a):
    with schema_context(tenant_a.schema_name):
        conn = Connection.objects.create(name="Gone", kind="filesource", config={"folder": "/nonexistent/x"})
    with pytest.raises(CommandError) as failed:
        call_command("sync", tenant=tenant_a.slug, stdout=io.StringIO(), stderr=io.StringIO())
    assert f"connection {conn.pk}:" in str(failed.value)
    with schema_context(tenant_a.schema_name):
        run = ConnectionRun.objects.get(connection=conn)
    assert run.status == "failed" and run.trigger == "command" and run.error


def test_the_state_of_many_connections_costs_the_same_queries_as_one(api_a, tenant_a, conn_a):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from aam.models import QuarantinedRecord
    from connectors.health import connections_health

    def queries() -> int:
        with schema_context(tenant_a.schema_name):
            conns = list(Connection.objects.all())
            with CaptureQueriesContext(db) as captured:
                healths = connections_health(conns)
            assert len(healths) == len(conns)
            return len(captured.captured_queries)

    with schema_context(tenant_a.schema_name):
        _run(conn_a, steps=[READ_OK], quarantined=2)
        QuarantinedRecord.objects.create(connection=conn_a, source_object="Deals.csv", reason="bad amount")
    one = queries()
    with schema_context(tenant_a.schema_name):
        for i in range(5):
            c = Connection.objects.create(name=f"More {i}", kind="filesource", status="ok")
            _run(c, steps=[READ_OK], quarantined=2)
            QuarantinedRecord.objects.create(connection=c, source_object="Deals.csv", reason="bad amount")
    assert queries() == one


def test_the_monitor_counts_what_the_review_queue_holds_not_stale_pending_rows(web_a, tenant_a, conn_a):
    from aam.models import FieldMapping, ReviewItem

    with schema_context(tenant_a.schema_name):
        other = Connection.objects.create(name="Other CRM", kind="filesource")
        # v1's proposal stays "pending" after v2 decided it (old versions read as they were)
        FieldMapping.objects.create(connection=conn_a, source_object="Account", source_field="Web",
                                    canonical_entity="account", canonical_field="website", status="pending", version=1)
        FieldMapping.objects.create(connection=conn_a, source_object="Account", source_field="Web",
                                    canonical_entity="account", canonical_field="website", status="active", version=2)
    html = web_a.get(f"/aam/?connection={conn_a.pk}").content.decode()
    assert "in review" not in html
    with schema_context(tenant_a.schema_name):
        mine = ReviewItem.objects.create(kind="mapping", connection=conn_a, title="Account.Owner → owner_id",
                                         proposal={"source_object": "Account", "source_field": "Owner"})
        theirs = ReviewItem.objects.create(kind="mapping", connection=other, title="Deal.Owner → owner_id",
                                           proposal={"source_object": "Deal", "source_field": "Owner"})
    html = web_a.get(f"/aam/?connection={conn_a.pk}").content.decode()
    assert "1 in review" in html and f"/aam/review/?connection={conn_a.pk}" in html
    queue = web_a.get(f"/aam/review/?connection={conn_a.pk}").content.decode()
    assert mine.title in queue and theirs.title not in queue
