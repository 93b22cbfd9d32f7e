"""The DCL consumer: streams → DuckDB, each batch exactly once, bulk, with upserts and dead letters."""

import pytest

from aam.streams import binary_redis, group_name, stream_key
from dcl import store
from dcl.consumer import StreamConsumer, dead_letter_key
from dcl.services import stream_consume
from tests.pipeline.support import batches_for, duck_rows, opportunity_records, publish

pytestmark = pytest.mark.django_db


def test_published_batches_land_in_the_tenants_duckdb_once_and_are_acknowledged(tenant_a):
    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(95)))
    result = stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    assert (result.batches, result.records, result.duplicates) == (10, 95, 0)
    assert duck_rows(tenant_a, "SELECT count(*), count(DISTINCT _source_id) FROM src_opportunity") == [(95, 95)]
    assert duck_rows(tenant_a, "SELECT count(*) FROM _dcl_batches") == [(10,)]
    r = binary_redis()
    assert r.xpending(stream_key(tenant_a, 1), group_name(tenant_a))["pending"] == 0
    assert r.xlen(stream_key(tenant_a, 1)) == 0  # acknowledged entries are trimmed


def test_the_same_batches_published_twice_are_applied_once(tenant_a):
    messages = batches_for(tenant_a, 1, opportunity_records(40))
    publish(tenant_a, 1, messages)
    publish(tenant_a, 1, messages)
    first = stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    publish(tenant_a, 1, messages)  # later replay: the fast path is Redis, the truth is DuckDB
    binary_redis().delete(f"dcl:{{{tenant_a.tenant_id}}}:applied")
    second = stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    assert (first.batches, first.duplicates, second.batches, second.duplicates) == (4, 4, 0, 4)
    assert duck_rows(tenant_a, "SELECT count(*), count(DISTINCT _source_id) FROM src_opportunity") == [(40, 40)]


def test_a_newer_version_of_a_record_replaces_the_older_one(tenant_a):
    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(5)))
    stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(2, amount_of=lambda i: "999"), generation=1))
    stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    rows = duck_rows(tenant_a, "SELECT _source_id, amount FROM src_opportunity ORDER BY _source_id")
    assert len(rows) == 5 and [float(r[1]) for r in rows[:2]] == [999.0, 999.0]


def test_a_field_the_source_stopped_sending_keeps_its_last_value_and_an_emptied_one_is_cleared(tenant_a):
    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(4)))
    stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    newer = opportunity_records(4, amount_of=lambda i: "777")
    for record in newer:
        del record["StageName"]  # the column is gone from the export
    newer[0]["CloseDate"] = ""  # present, but emptied at the source
    publish(tenant_a, 1, batches_for(tenant_a, 1, newer, generation=1))
    result = stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    assert result.records == 4
    rows = duck_rows(tenant_a, "SELECT amount, stage, close_date FROM src_opportunity ORDER BY _source_id")
    assert [float(r[0]) for r in rows] == [777.0] * 4
    assert [r[1] for r in rows] == ["Prospecting"] * 4
    assert rows[0][2] is None and all(str(r[2]) == "2026-03-31" for r in rows[1:])


def test_records_of_two_connections_with_the_same_source_id_are_kept_apart(tenant_a):
    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(3)))
    publish(tenant_a, 2, batches_for(tenant_a, 2, opportunity_records(3)))
    stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    assert duck_rows(tenant_a, "SELECT _connection_id, count(*) FROM src_opportunity GROUP BY 1 ORDER BY 1") == [
        (1, 3),
        (2, 3),
    ]


def test_a_malformed_batch_is_dead_lettered_and_the_others_still_land(tenant_a):
    r = binary_redis()
    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(20)))
    r.xadd(stream_key(tenant_a, 1), {"v": "1", "batch_id": "junk", "payload": b"not arrow"})
    foreign = batches_for(tenant_a, 1, opportunity_records(3, start=500))[0]
    fields = foreign.to_fields()
    fields["tenant_id"] = "00000000-0000-0000-0000-000000000000"
    r.xadd(stream_key(tenant_a, 1), fields)
    result = stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    assert (result.batches, result.dead_lettered) == (2, 2)
    dead = r.xrange(dead_letter_key(tenant_a))
    assert len(dead) == 2 and b"another tenant" in dead[1][1][b"dlq_reason"]
    assert duck_rows(tenant_a, "SELECT count(*) FROM src_opportunity") == [(20,)]
    assert r.xpending(stream_key(tenant_a, 1), group_name(tenant_a))["pending"] == 0


def test_entries_left_pending_by_a_dead_consumer_are_reclaimed_and_applied(tenant_a):
    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(30)))
    r = binary_redis()
    r.xreadgroup(group_name(tenant_a), "dead-consumer", {stream_key(tenant_a, 1): ">"}, count=2)
    assert r.xpending(stream_key(tenant_a, 1), group_name(tenant_a))["pending"] == 2
    result = stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    assert result.reclaimed == 2 and result.records == 30
    assert duck_rows(tenant_a, "SELECT count(DISTINCT _source_id) FROM src_opportunity") == [(30,)]


def test_a_batch_committed_but_not_acknowledged_is_not_applied_again(tenant_a):
    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(10)))
    r = binary_redis()
    entries = r.xreadgroup(group_name(tenant_a), "crashed", {stream_key(tenant_a, 1): ">"}, count=1)
    with store.WriterLock(tenant_a):
        con = store.connect(tenant_a)
        consumer = StreamConsumer(tenant_a, con)
        consumer._ack = lambda entries: None  # the process dies between COMMIT and XACK
        from dcl.consumer import _Entry

        consumer.apply([_Entry(stream_key(tenant_a, 1), eid, f) for eid, f in entries[0][1]])
        con.close()
    result = stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    assert result.duplicates == 1 and result.batches == 0
    assert duck_rows(tenant_a, "SELECT count(*) FROM src_opportunity") == [(10,)]


def test_a_second_writer_waits_for_the_lock_instead_of_corrupting_the_file(tenant_a):
    with store.WriterLock(tenant_a):
        with pytest.raises(store.WriterBusy):
            store.WriterLock(tenant_a, timeout=0.2).acquire()


def test_dead_lettered_batches_can_be_listed_and_replayed_once_fixed(tenant_a):
    from io import StringIO

    from django.core.management import call_command

    r = binary_redis()
    good = batches_for(tenant_a, 1, opportunity_records(10))[0]
    fields = good.to_fields()
    fields["count"] = "11"  # a header that does not match its payload: cannot be written
    r.xadd(stream_key(tenant_a, 1), fields)
    assert stream_consume(tenant=tenant_a, connection_ids=[1], until_idle=True, idle_seconds=0).dead_lettered == 1
    out = StringIO()
    call_command("dcl_dead_letters", "--tenant", "alpha", stdout=out)
    assert "payload does not match its header" in out.getvalue()
    # The fix here: the same batch with a correct header, replayed from the dead letters.
    r.xadd(
        dead_letter_key(tenant_a),
        {**good.to_fields(), "dlq_reason": "x", "dlq_stream": stream_key(tenant_a, 1), "dlq_entry": "0-1"},
    )
    r.xdel(dead_letter_key(tenant_a), r.xrange(dead_letter_key(tenant_a))[0][0])
    call_command("dcl_dead_letters", "--tenant", "alpha", "--replay", stdout=StringIO())
    assert r.xlen(dead_letter_key(tenant_a)) == 0
    assert stream_consume(tenant=tenant_a, connection_ids=[1], until_idle=True, idle_seconds=0).records == 10
    assert duck_rows(tenant_a, "SELECT count(*) FROM src_opportunity") == [(10,)]


def test_materializing_drains_waiting_batches_in_the_same_connection_and_reports_them(tenant_a):
    from django_tenants.utils import tenant_context

    from dcl.models import MaterializedView
    from dcl.services import views_materialize

    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(25)))
    drained = []
    views = views_materialize(tenant=tenant_a, on_drained=drained.append)
    assert [d.records for d in drained] == [25]
    assert views == {"opportunity": 25}
    with tenant_context(tenant_a):
        assert MaterializedView.objects.get(entity="opportunity").row_count == 25


def test_dcl_consume_with_materialize_reports_what_it_applied_and_the_views(tenant_a):
    import json
    from io import StringIO

    from django.core.management import call_command

    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(12)))
    out = StringIO()
    call_command("dcl_consume", "--tenant", "alpha", "--until-idle", "--idle-seconds", "0", "--materialize", stdout=out)
    report = json.loads(out.getvalue().strip().splitlines()[-1])
    assert report["records"] == 12 and report["views"] == {"opportunity": 12}
    assert report["consume_cpu_seconds"] >= 0 and report["materialize_cpu_seconds"] > 0
