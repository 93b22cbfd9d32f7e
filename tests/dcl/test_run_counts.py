"""Each run's counts per object (docs/adr/0021-run-counts.md): inserted, updated and deleted decided
where the consumer upserts and kept in each batch's ledger row; a run counts the batches it
published; a batch sent twice counts once; the runs list in the API and on the page shows them."""

from __future__ import annotations

import pyarrow as pa
import pytest
from django.db import connection

from aam.ingest.batches import BatchHeader, split_batches
from aam.streams import StreamPublisher
from dcl.changes import changes_counted
from dcl.models import ConnectionRun
from dcl.pipeline.consume import drain
from dcl.schedules.runs import scheduled_run
from tests.pipeline.support import duck_rows
from tests.pipeline.test_deletes_csv import _export, _rows

pytestmark = pytest.mark.django_db


def test_a_run_with_inserts_updates_deletes_and_a_quarantined_record_counts_each(api_a, in_tenant_a):
    rows = _rows(10)
    conn = _export("run-counts", rows)
    first = scheduled_run(tenant=connection.tenant, connection_id=conn.pk)
    assert first.status == "succeeded"
    run = ConnectionRun.objects.get(pk=first.run_id)
    assert (run.inserted, run.updated, run.deleted) == (10, 0, 0)

    newer = dict(rows)
    del newer["0060003"]  # deleted at the source
    newer["0060005"] = "555.00"  # changed
    newer["0060099"] = "99.00"  # new
    newer["0060007"] = "not a number"  # quarantined: still in the export, so not deleted either
    _export("run-counts", newer)
    second = scheduled_run(tenant=connection.tenant, connection_id=conn.pk)
    assert second.status == "succeeded"
    run = ConnectionRun.objects.get(pk=second.run_id)
    # a full export is read whole again: every held key re-sent is an update (changed or not)
    assert run.object_counts == [{"object": "Opportunity", "entity": "opportunity", "read": 10, "published": 9,
                                  "quarantined": 1, "inserted": 1, "updated": 8, "deleted": 1}]
    assert (run.inserted, run.updated, run.deleted, run.quarantined) == (1, 8, 1, 1)

    connection.set_schema_to_public()
    body = api_a.get(f"/api/connections/{conn.pk}/runs/").json()["results"]
    assert [(r["id"], r["inserted"], r["updated"], r["deleted"]) for r in body] == [
        (second.run_id, 1, 8, 1), (first.run_id, 10, 0, 0)]
    assert body[0]["objects"][0]["quarantined"] == 1 and body[0]["objects"][0]["deleted"] == 1


def test_a_batch_sent_twice_is_applied_and_counted_once_and_a_delete_counts_only_a_live_record(in_tenant_a):
    from connectors.models import Connection

    conn = Connection.objects.create(name="raw", kind="salesforce")
    tenant = connection.tenant
    header = BatchHeader(tenant_id=str(tenant.tenant_id), connection_id=conn.pk, source_object="Account",
                         entity="account", schema_fingerprint="f", mapping_version=1, generation=1)
    table = pa.table({"_source_id": ["a", "b", "c"], "_position": pa.array([1, 2, 3], pa.int64()),
                      "name": ["A", "B", "C"]})
    messages = list(split_batches(table, header, 10))
    publisher = StreamPublisher(tenant, conn.pk)
    first = publisher.publish(messages)
    again = publisher.publish(messages)  # the same batch (same id) on another entry: a replay
    consumed = drain(tenant=tenant, connection_ids=[conn.pk])
    assert consumed.duplicates == 1 and consumed.inserted == 3
    assert changes_counted(tenant=tenant, connection_id=conn.pk, entry_ids=first + again) == {
        "Account": {"inserted": 3, "updated": 0, "deleted": 0}}
    assert changes_counted(tenant=tenant, connection_id=conn.pk, entry_ids=again) == {}

    # in one batch: an update of a, a delete of b, a delete of a key never held, an insert of d
    # then, in the same batch, d updated (its second row is an update of the first)
    mixed = pa.table({"_source_id": ["a", "b", "zz", "d", "d"], "_position": pa.array([1, 2, 3, 4, 5], pa.int64()),
                      "_op": [None, "delete", "delete", None, None], "name": ["A2", None, None, "D", "D2"]})
    entries = publisher.publish(list(split_batches(mixed, header, 10)))
    drain(tenant=tenant, connection_ids=[conn.pk])
    assert changes_counted(tenant=tenant, connection_id=conn.pk, entry_ids=entries) == {
        "Account": {"inserted": 1, "updated": 2, "deleted": 1}}
    # b deleted again: nothing to count; b back: an insert
    back = pa.table({"_source_id": ["b", "b"], "_position": pa.array([1, 2], pa.int64()),
                     "_op": ["delete", None], "name": [None, "B2"]})
    entries = publisher.publish(list(split_batches(back, header, 10)))
    drain(tenant=tenant, connection_ids=[conn.pk])
    assert changes_counted(tenant=tenant, connection_id=conn.pk, entry_ids=entries) == {
        "Account": {"inserted": 1, "updated": 0, "deleted": 0}}
    assert duck_rows(tenant, "SELECT sum(inserted), sum(updated), sum(deleted) FROM _dcl_batches") == [(5, 2, 1)]
