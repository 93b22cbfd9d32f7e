"""connection_sync: pages → canonical batches → stream; counts add up; the cursor only moves once safe."""

import pytest
from django.db import connection

from aam.ingest import services as ingest
from aam.models import QuarantinedRecord
from connectors.models import Connection
from dcl.services import stream_consume
from tests.pipeline.support import SF_OPPORTUNITY, Mapping, MemoryDriver, RecordError, duck_rows, opportunity_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def doubles(monkeypatch, in_tenant_a):
    """An in-memory source and a fixed mapping (the mapping engine's is not used here)."""
    state = {"driver": None}
    monkeypatch.setattr(ingest, "_driver_for", lambda conn: state["driver"])
    monkeypatch.setattr(ingest, "_mapping_ensure", lambda conn, obj: Mapping("opportunity", SF_OPPORTUNITY))
    state["connection"] = Connection.objects.create(name="SF", kind="salesforce")
    return state


def _cursor(conn):
    return Connection.objects.get(pk=conn.pk).cursor.get("Opportunity")


def test_counts_add_up_and_bad_records_are_quarantined_with_reasons(doubles, settings):
    settings.AAM_BATCH_CHUNK_SIZE = 10
    records = opportunity_records(120)
    records[7]["Amount"] = "a lot"
    records[99]["CloseDate"] = "someday"
    doubles["driver"] = MemoryDriver(
        {"Opportunity": records}, page_size=50, errors={"Opportunity": [RecordError(61, "unterminated quote", 'x,"y')]}
    )
    result = ingest.connection_sync(connection=doubles["connection"])
    assert (result.records_read, result.records_published, result.quarantined) == (121, 118, 3)
    assert result.records_read == result.records_published + result.quarantined
    assert result.batches == 5 + 5 + 2  # pages of 49, 49 and 20 records in batches of ≤ 10
    stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)
    assert duck_rows(connection.tenant, "SELECT count(*) FROM src_opportunity") == [(118,)]
    # The real quarantine: three rows of this connection, each with its position and reason.
    quarantined = QuarantinedRecord.objects.filter(connection=doubles["connection"], source_object="Opportunity")
    reasons = sorted((r.position, r.reason) for r in quarantined)
    assert len(reasons) == 3
    assert reasons[0][0] == 8 and "amount" in reasons[0][1]
    assert (61, "unterminated quote") in reasons


def test_the_cursor_moves_only_after_the_consumer_applied_the_pages(doubles):
    doubles["driver"] = MemoryDriver({"Opportunity": opportunity_records(80)}, page_size=30)
    ingest.connection_sync(connection=doubles["connection"])
    assert _cursor(doubles["connection"]) is None  # published, not yet applied
    stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)
    assert _cursor(doubles["connection"]) == {"offset": 80}
    fresh = Connection.objects.get(pk=doubles["connection"].pk)
    assert fresh.status == "ok" and fresh.last_synced_at is not None


def test_a_failed_sync_resumes_from_the_last_safe_cursor_without_duplicates(doubles):
    records = opportunity_records(100)
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=20, fail_after_pages=3)
    with pytest.raises(ConnectionError):
        ingest.connection_sync(connection=doubles["connection"])
    failed = Connection.objects.get(pk=doubles["connection"].pk)
    assert failed.status == "error" and "source went away" in failed.last_error
    stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)
    assert _cursor(doubles["connection"]) == {"offset": 60}
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=20)
    result = ingest.connection_sync(connection=doubles["connection"])
    assert result.records_read == 40 and doubles["driver"].pages_read == 2  # resumed, not restarted
    stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)
    assert duck_rows(connection.tenant, "SELECT count(*), count(DISTINCT _source_id) FROM src_opportunity") == [
        (100, 100)
    ]


def test_a_sync_replayed_after_a_crash_reuses_batch_ids_and_applies_nothing_twice(doubles):
    records = opportunity_records(60)
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=20, fail_after_pages=2)
    with pytest.raises(ConnectionError):
        ingest.connection_sync(connection=doubles["connection"])
    # Nothing consumed yet, so the cursor did not move: the rerun re-reads and re-sends pages 1-2.
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=20)
    ingest.connection_sync(connection=doubles["connection"])
    result = stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)
    assert (result.batches, result.duplicates) == (3, 2)
    assert duck_rows(connection.tenant, "SELECT count(*) FROM src_opportunity") == [(60,)]


def test_two_syncs_of_one_connection_cannot_run_at_once(doubles):
    doubles["driver"] = MemoryDriver({"Opportunity": opportunity_records(5)})
    with ingest.SyncLock(connection.tenant, doubles["connection"].pk):
        with pytest.raises(ingest.SyncAlreadyRunning):
            ingest.connection_sync(connection=doubles["connection"])


def test_sync_endpoint_accepts_with_202_and_says_what_to_poll(api_a, tenant_a):
    connection.set_tenant(tenant_a)
    conn = Connection.objects.create(name="SF", kind="salesforce")
    connection.set_schema_to_public()
    response = api_a.post(f"/api/connections/{conn.pk}/sync/", {"full": True}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert (
        body["status"] == "queued" and body["task_id"] and body["poll"]["connection"] == f"/api/connections/{conn.pk}/"
    )
    bad = api_a.post(f"/api/connections/{conn.pk}/sync/", {"full": "sometimes"}, format="json")
    assert bad.status_code == 400 and "error" in bad.json()


def test_sync_endpoint_hides_other_tenants_connections(api_a, tenant_b):
    connection.set_tenant(tenant_b)
    conn = Connection.objects.create(name="theirs", kind="salesforce")
    connection.set_schema_to_public()
    assert api_a.post(f"/api/connections/{conn.pk}/sync/", {}, format="json").status_code == 404
