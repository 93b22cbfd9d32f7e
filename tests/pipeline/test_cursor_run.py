"""A pipeline run after a consumer died between its DuckDB commit and the cursor's publication: the
run's consumer (a thread of its own, as in production) publishes the committed cursor before the
read starts, so the read resumes where the data ends (committed database: the thread must see the
connection)."""

import pytest
from django.db import connection

from aam.ingest import services as ingest
from connectors.models import Connection
from dcl.pipeline import pipeline_run
from tests.pipeline.support import SF_OPPORTUNITY, Mapping, MemoryDriver, duck_rows, opportunity_records
from tests.pipeline.test_cursor_batch import _DiesAfterCommit, _dying_consumer, _stored


def test_a_pipeline_run_after_a_consumer_died_reads_on_from_the_committed_cursor(committed_tenants, monkeypatch):
    """The whole run (dcl.pipeline): its consumer beside the reads, in a thread of its own, publishes
    the dead consumer's committed cursor before the read starts."""
    alpha, _ = committed_tenants
    records = opportunity_records(100)
    driver = {"now": MemoryDriver({"Opportunity": records}, page_size=20, fail_after_pages=2)}
    monkeypatch.setattr(ingest, "_driver_for", lambda conn: driver["now"])
    monkeypatch.setattr(ingest, "_mapping_ensure", lambda conn, obj: Mapping("opportunity", SF_OPPORTUNITY))
    connection.set_tenant(alpha)
    try:
        conn = Connection.objects.create(name="SF", kind="salesforce")
        with pytest.raises(ConnectionError):
            ingest.connection_sync(connection=conn)
        _dying_consumer(alpha, _DiesAfterCommit)
        assert _stored(conn) is None
        driver["now"] = MemoryDriver({"Opportunity": records}, page_size=20)
        info = pipeline_run(tenant=alpha, connection=conn, trigger="test", materialize=False)
        assert info.step("read", conn.pk).rows == 60  # resumed after the 40 records the dead consumer wrote
        assert duck_rows(alpha, "SELECT count(*), count(DISTINCT _source_id) FROM src_opportunity") == [(100, 100)]
        assert _stored(conn) == {"offset": 100}
    finally:
        connection.set_schema_to_public()
