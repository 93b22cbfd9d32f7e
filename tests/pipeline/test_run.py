"""The pipeline run's owner (dcl/pipeline): each step reports rows and seconds, a failing step is
wrapped once, drivers are closed, and one lock says whether a sync is running."""

import pytest
from django.db import connection

from aam.ingest import services as ingest
from aam.sync_lock import SyncLock, sync_running
from connectors.models import Connection
from dcl.pipeline import PipelineStepFailed, SyncRun
from tests.pipeline.support import SF_OPPORTUNITY, Mapping, MemoryDriver, duck_rows, opportunity_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(monkeypatch, in_tenant_a):
    state = {"driver": MemoryDriver({"Opportunity": opportunity_records(120)}, page_size=50)}
    monkeypatch.setattr(ingest, "_driver_for", lambda conn: state["driver"])
    monkeypatch.setattr(ingest, "_mapping_ensure", lambda conn, obj: Mapping("opportunity", SF_OPPORTUNITY))
    state["connection"] = Connection.objects.create(name="SF", kind="salesforce")
    return state


def test_a_run_reports_each_step_and_closes_the_driver(source):
    run = SyncRun(tenant=connection.tenant, trigger="test")
    result = run.read(source["connection"])
    consumed = run.consume()
    assert result.records_published == 120 and source["driver"].closed
    assert [(s.step, s.connection_id, s.rows, s.ok) for s in run.info.steps] == [
        ("read", source["connection"].pk, 120, True),
        ("consume", None, 120, True),
        ("changes", source["connection"].pk, 120, True),
    ]
    assert run.info.step("changes").details["objects"] == {"Opportunity": {"inserted": 120, "updated": 0, "deleted": 0}}
    assert all(s.seconds > 0 for s in run.info.steps) and consumed is run.info.step("consume")
    assert run.info.as_dict()["trigger"] == "test"
    assert duck_rows(connection.tenant, "SELECT count(*) FROM src_opportunity") == [(120,)]


def test_a_failing_read_is_wrapped_once_with_its_step_info_and_the_driver_is_closed(source):
    source["driver"] = MemoryDriver({"Opportunity": opportunity_records(120)}, page_size=50, fail_after_pages=1)
    run = SyncRun(tenant=connection.tenant, trigger="test")
    with pytest.raises(PipelineStepFailed) as failed:
        run.read(source["connection"])
    assert failed.value.step == "read" and isinstance(failed.value.exception, ConnectionError)
    assert failed.value.step_info is run.info.step("read") and not failed.value.step_info.ok
    assert "source went away" in failed.value.step_info.details["error"]
    assert source["driver"].closed


def test_the_lock_is_the_one_running_state(source, api_a, tenant_a):
    conn = source["connection"]
    assert not sync_running(tenant_a, conn.pk)
    with SyncLock(tenant_a, conn.pk):
        assert sync_running(tenant_a, conn.pk)
        run = SyncRun(tenant=tenant_a, trigger="test")
        with pytest.raises(PipelineStepFailed) as failed:
            run.read(conn)
        assert isinstance(failed.value.exception, ingest.SyncAlreadyRunning)
        connection.set_schema_to_public()
        response = api_a.post(f"/api/connections/{conn.pk}/sync/", {}, format="json")
        connection.set_tenant(tenant_a)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "conflict" and str(conn.pk) in response.json()["error"]["message"]
    assert not sync_running(tenant_a, conn.pk)
