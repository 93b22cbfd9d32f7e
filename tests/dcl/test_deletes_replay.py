"""Canonical deletes in the consumer (docs/adr/0019-deletes.md): a tombstone wins over an upsert of
an older generation, a replayed batch never brings a deleted record back, a newer re-insert wins,
and deleted records leave the views and the value counts."""

import pytest

from aam.streams import binary_redis
from dcl.services import stream_consume
from tests.pipeline.support import batches_for, delete_batches, duck_rows, opportunity_records, publish

pytestmark = pytest.mark.django_db


def _consume(tenant):
    return stream_consume(tenant=tenant, until_idle=True, idle_seconds=0)


def _live(tenant) -> list[str]:
    return [r[0] for r in duck_rows(tenant, "SELECT _source_id FROM src_opportunity WHERE NOT _deleted ORDER BY 1")]


def test_a_tombstone_wins_over_older_updates_and_replays(tenant_a):
    first = batches_for(tenant_a, 1, opportunity_records(5), generation=1)
    publish(tenant_a, 1, first)
    _consume(tenant_a)
    ids = _live(tenant_a)
    gone = ids[2]
    publish(tenant_a, 1, delete_batches(tenant_a, 1, [gone], generation=2))
    _consume(tenant_a)
    assert gone not in _live(tenant_a) and len(_live(tenant_a)) == 4

    # a late update read before the delete (older generation, other content: another batch id)
    late = [r for r in opportunity_records(5, amount_of=lambda i: "1.00") if r["Id"] == gone]
    publish(tenant_a, 1, batches_for(tenant_a, 1, late, generation=1))
    result = _consume(tenant_a)
    assert result.superseded == 1 and gone not in _live(tenant_a)

    # the very batches of the first read replayed, with Redis' fast path forgotten
    binary_redis().delete(f"dcl:{{{tenant_a.tenant_id}}}:applied")
    publish(tenant_a, 1, first)
    result = _consume(tenant_a)
    assert result.duplicates == len(first) and gone not in _live(tenant_a)

    # the same delete published again is applied once (and changes nothing)
    publish(tenant_a, 1, delete_batches(tenant_a, 1, [gone], generation=2))
    assert _consume(tenant_a).duplicates == 1
    assert duck_rows(tenant_a, f"SELECT count(*) FROM src_opportunity WHERE _source_id = '{gone}'") == [(1,)]


def test_a_newer_reinsert_wins_over_the_tombstone_and_an_older_delete_loses_to_it(tenant_a):
    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(3), generation=1))
    _consume(tenant_a)
    key = _live(tenant_a)[0]
    publish(tenant_a, 1, delete_batches(tenant_a, 1, [key], generation=2))
    _consume(tenant_a)
    again = [r for r in opportunity_records(3, amount_of=lambda i: "7.00") if r["Id"] == key]
    publish(tenant_a, 1, batches_for(tenant_a, 1, again, generation=2))  # the next sync's generation
    _consume(tenant_a)
    assert key in _live(tenant_a)
    # a delete older than the re-insert (generation 1) does not take it away again
    publish(tenant_a, 1, delete_batches(tenant_a, 1, [key], generation=1))
    result = _consume(tenant_a)
    assert result.superseded == 1 and key in _live(tenant_a)
    assert duck_rows(tenant_a, f"SELECT amount FROM src_opportunity WHERE _source_id = '{key}'")[0][0] == 7


def test_a_deleted_record_leaves_the_view_and_the_value_counts(tenant_a):
    from django.db import connection

    from aam.models import ValueMap
    from connectors.models import Connection
    from dcl.pipeline.materialize import materialize_with_values
    from dcl.selectors import view_all
    from tests.pipeline.support import mappings_record

    connection.set_tenant(tenant_a)
    try:
        conn = Connection.objects.create(name="SF", kind="salesforce")
        mappings_record(conn.pk)
        records = opportunity_records(4)
        records[0]["StageName"] = "Closed Won"
        publish(tenant_a, conn.pk, batches_for(tenant_a, conn.pk, records, generation=1))
        materialize_with_values(tenant=tenant_a)
        assert len(view_all(entity="opportunity")) == 4
        won = ValueMap.objects.get(connection=conn, field="stage_category", raw_key="Closed Won")
        assert won.record_count == 1
        publish(tenant_a, conn.pk, delete_batches(tenant_a, conn.pk, [records[0]["Id"]], generation=2))
        materialize_with_values(tenant=tenant_a)
        rows = view_all(entity="opportunity")
        assert len(rows) == 3 and records[0]["Id"] not in {r["id"] for r in rows}
        won.refresh_from_db()
        assert won.record_count == 0
        assert ValueMap.objects.get(connection=conn, field="stage_category", raw_key="Prospecting").record_count == 3
    finally:
        connection.set_schema_to_public()
