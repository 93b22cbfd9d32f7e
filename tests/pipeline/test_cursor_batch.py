"""The cursor travels with its batch (issue #15): the last batch of a page carries {object: cursor},
the DCL commits it in the same DuckDB transaction as the rows (`_dcl_cursors`) and publishes it to
`Connection.cursor`, where the next read resumes. Crashes on either side of the commit lose and
double nothing; a full re-sync resets the cursors."""

import json

import pytest
from django.db import connection

from aam.ingest import services as ingest
from aam.ingest.batches import BatchMessage, cursor_carrier
from aam.models import QuarantinedRecord
from aam.streams import binary_redis, group_name, stream_key
from connectors.models import Connection
from dcl import store
from dcl.consumer import StreamConsumer, dead_letter_key
from dcl.cursors import committed_cursors
from dcl.services import stream_consume
from tests.pipeline.support import SF_OPPORTUNITY, Mapping, MemoryDriver, batches_for, duck_rows, opportunity_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def doubles(monkeypatch, in_tenant_a):
    """An in-memory source and a fixed mapping (the mapping engine's is not used here)."""
    state = {"driver": None}
    monkeypatch.setattr(ingest, "_driver_for", lambda conn: state["driver"])
    monkeypatch.setattr(ingest, "_mapping_ensure", lambda conn, obj: Mapping("opportunity", SF_OPPORTUNITY))
    state["connection"] = Connection.objects.create(name="SF", kind="salesforce")
    return state


def _stored(conn):
    """The cursor the next read starts from (what the DCL published)."""
    return (Connection.objects.get(pk=conn.pk).cursor or {}).get("Opportunity")


def _committed(tenant, conn):
    """The cursors committed with the data in the tenant's DuckDB file."""
    with store.WriterLock(tenant, timeout=30):
        con = store.connect(tenant)
        try:
            return committed_cursors(con, conn.pk)
        finally:
            con.close()


def _entries(tenant, conn) -> list[BatchMessage]:
    return [BatchMessage.from_fields(f) for _, f in binary_redis().xrange(stream_key(tenant, conn.pk))]


def _consume_all():
    return stream_consume(tenant=connection.tenant, until_idle=True, idle_seconds=0)


class _Died(BaseException):
    """The consumer's process dying (not an error anything may catch)."""


class _DiesAfterCommit(StreamConsumer):
    """Dies right after its first DuckDB commit that wrote cursors, before they reach PostgreSQL
    and before anything is acknowledged."""

    def publish_cursors(self):
        if self._cursors_committed:
            raise _Died()
        return super().publish_cursors()


class _DiesBeforeCommit(StreamConsumer):
    """Dies inside its transaction, after the rows are inserted and before the commit."""

    def _write_entity(self, *args, **kwargs):
        super()._write_entity(*args, **kwargs)
        raise _Died()


def _dying_consumer(tenant, kind) -> None:
    with store.WriterLock(tenant):
        con = store.connect(tenant)
        try:
            with pytest.raises(_Died):
                kind(tenant, con, read_count=50).run(until_idle=True, idle_seconds=0)
        finally:
            con.close()


def _pending(tenant, conn) -> int:
    return binary_redis().xpending(stream_key(tenant, conn.pk), group_name(tenant))["pending"]


def test_the_last_batch_of_each_page_carries_the_cursor_it_completes(doubles, settings):
    settings.AAM_BATCH_CHUNK_SIZE = 10
    doubles["driver"] = MemoryDriver({"Opportunity": opportunity_records(75)}, page_size=30)
    result = ingest.connection_sync(connection=doubles["connection"])
    entries = _entries(connection.tenant, doubles["connection"])
    assert result.batches == len(entries) == 8  # pages of 30, 30 and 15 in batches of ≤ 10
    assert [(e.count, e.header.cursors) for e in entries] == [
        (10, None), (10, None), (10, {"Opportunity": {"offset": 30}}),
        (10, None), (10, None), (10, {"Opportunity": {"offset": 60}}),
        (10, None), (5, {"Opportunity": {"offset": 75}}),
    ]
    assert _stored(doubles["connection"]) is None  # published, not yet written: the cursor did not move
    _consume_all()
    assert _stored(doubles["connection"]) == {"offset": 75}
    assert _committed(connection.tenant, doubles["connection"]) == {"Opportunity": {"offset": 75}}


def test_a_cursor_is_part_of_its_batch_on_the_wire():
    tenant = type("T", (), {"tenant_id": "00000000-0000-0000-0000-000000000001"})()
    plain = batches_for(tenant, 7, opportunity_records(3))[0]
    carrying = plain.carrying({"Opportunity": {"since": "2026-01-02T03:04:05Z", "id": 3}})
    parsed = BatchMessage.from_fields(carrying.to_fields())
    assert parsed.header.cursors == {"Opportunity": {"since": "2026-01-02T03:04:05Z", "id": 3}}
    assert parsed.batch_id == carrying.batch_id != plain.batch_id  # a page ending elsewhere is another batch
    assert BatchMessage.from_fields(plain.to_fields()).header.cursors is None
    assert carrying.table().num_rows == 3
    reset = cursor_carrier(plain.header, {"Opportunity": None})
    assert (reset.count, reset.header.cursors, reset.table().num_rows) == (0, {"Opportunity": None}, 0)
    for bad in (b"not json", b"[1, 2]", b'{"": 1}'):
        with pytest.raises(ValueError, match="cursors"):
            BatchMessage.from_fields({**carrying.to_fields(), "cursors": bad})


def test_a_batch_with_malformed_cursors_is_dead_lettered_with_its_rows_and_moves_nothing(doubles):
    tenant, conn = connection.tenant, doubles["connection"]
    message = batches_for(tenant, conn.pk, opportunity_records(5))[0].carrying({"Opportunity": {"offset": 5}})
    binary_redis().xadd(stream_key(tenant, conn.pk), {**message.to_fields(), "cursors": b"{broken"})
    result = stream_consume(tenant=tenant, connection_ids=[conn.pk], until_idle=True, idle_seconds=0)
    assert (result.dead_lettered, result.records) == (1, 0)
    assert binary_redis().xlen(dead_letter_key(tenant)) == 1
    assert _stored(conn) is None and _committed(tenant, conn) == {}


def test_a_page_without_rows_moves_the_cursor_with_a_zero_row_batch(doubles):
    records = opportunity_records(8)
    for record in records[5:]:
        record["Amount"] = "a lot"  # the second page is all quarantined: no row to carry its cursor
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=5)
    result = ingest.connection_sync(connection=doubles["connection"])
    assert (result.records_published, result.quarantined, result.batches) == (5, 3, 1)
    carrier = _entries(connection.tenant, doubles["connection"])[-1]
    assert (carrier.count, carrier.header.cursors) == (0, {"Opportunity": {"offset": 8}})
    consumed = _consume_all()
    assert (consumed.batches, consumed.records) == (2, 5)
    assert _stored(doubles["connection"]) == {"offset": 8}
    assert QuarantinedRecord.objects.filter(connection=doubles["connection"]).count() == 3
    assert duck_rows(connection.tenant, "SELECT count(*) FROM src_opportunity") == [(5,)]


def test_a_consumer_dying_after_its_commit_keeps_the_cursor_with_the_data_and_the_next_run_resumes_there(doubles):
    tenant, conn = connection.tenant, doubles["connection"]
    records = opportunity_records(100)
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=20, fail_after_pages=2)
    with pytest.raises(ConnectionError):
        ingest.connection_sync(connection=conn)
    _dying_consumer(tenant, _DiesAfterCommit)
    # The rows and their cursor are committed together; PostgreSQL never heard of the cursor and
    # nothing was acknowledged.
    assert duck_rows(tenant, "SELECT count(*) FROM src_opportunity") == [(40,)]
    assert duck_rows(tenant, "SELECT source_object, cursor, published FROM _dcl_cursors") == [
        ("Opportunity", json.dumps({"offset": 40}), False)
    ]
    assert _stored(conn) is None and _pending(tenant, conn) == 2
    # The next run: its consumer starts by publishing what the dead one committed, then the read
    # resumes from there, not from the start and not past the data.
    _consume_all()
    assert _stored(conn) == {"offset": 40}
    assert duck_rows(tenant, "SELECT published FROM _dcl_cursors") == [(True,)]
    assert _pending(tenant, conn) == 0
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=20)
    result = ingest.connection_sync(connection=conn)
    assert result.records_read == 60 and doubles["driver"].pages_read == 3
    _consume_all()
    assert duck_rows(tenant, "SELECT count(*), count(DISTINCT _source_id) FROM src_opportunity") == [(100, 100)]
    assert _stored(conn) == {"offset": 100} and _committed(tenant, conn) == {"Opportunity": {"offset": 100}}


def test_a_consumer_dying_inside_its_transaction_commits_neither_rows_nor_cursor(doubles):
    tenant, conn = connection.tenant, doubles["connection"]
    records = opportunity_records(60)
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=20)
    ingest.connection_sync(connection=conn)
    _dying_consumer(tenant, _DiesBeforeCommit)
    assert duck_rows(tenant, "SELECT count(*) FROM _dcl_batches") == [(0,)]
    assert duck_rows(tenant, "SELECT count(*) FROM _dcl_cursors") == [(0,)]
    assert _stored(conn) is None and _pending(tenant, conn) == 3
    # A read now would start from the beginning (nothing is lost); the next consumer applies the
    # pending batches once and moves the cursor with them.
    consumed = _consume_all()
    assert (consumed.reclaimed, consumed.batches, consumed.records) == (3, 3, 60)
    assert duck_rows(tenant, "SELECT count(*), count(DISTINCT _source_id) FROM src_opportunity") == [(60, 60)]
    assert _stored(conn) == {"offset": 60}


def test_an_incremental_sync_resumes_from_the_committed_cursor(doubles):
    tenant, conn = connection.tenant, doubles["connection"]
    records = opportunity_records(50)
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=20)
    ingest.connection_sync(connection=conn)
    _consume_all()
    assert _stored(conn) == {"offset": 50} == _committed(tenant, conn)["Opportunity"]
    records.extend(opportunity_records(30, start=50))  # the source grows
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=20)
    result = ingest.connection_sync(connection=conn)
    assert (result.records_read, doubles["driver"].pages_read) == (30, 2)
    _consume_all()
    assert duck_rows(tenant, "SELECT count(*), count(DISTINCT _source_id) FROM src_opportunity") == [(80, 80)]
    assert _stored(conn) == {"offset": 80}


def test_a_full_resync_resets_the_cursors_and_a_stopped_one_resumes_from_its_own(doubles):
    tenant, conn = connection.tenant, doubles["connection"]
    records = opportunity_records(80)
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=30)
    ingest.connection_sync(connection=conn)
    _consume_all()
    assert _stored(conn) == {"offset": 80}
    # A full re-sync that stops before its first page: the cursor is reset all the same.
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=30, fail_after_pages=0)
    with pytest.raises(ConnectionError):
        ingest.connection_sync(connection=conn, full=True)
    _consume_all()
    assert _stored(conn) is None and _committed(tenant, conn) == {}
    # One that stops after a page: the cursor is that page's, behind the old one.
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=30, fail_after_pages=1)
    with pytest.raises(ConnectionError):
        ingest.connection_sync(connection=conn, full=True)
    _consume_all()
    assert _stored(conn) == {"offset": 30}
    # The next sync carries on from there and ends where the data ends.
    doubles["driver"] = MemoryDriver({"Opportunity": records}, page_size=30)
    result = ingest.connection_sync(connection=conn)
    assert result.records_read == 50
    _consume_all()
    assert _stored(conn) == {"offset": 80}
    assert duck_rows(tenant, "SELECT count(*), count(DISTINCT _source_id) FROM src_opportunity") == [(80, 80)]


def test_a_cursor_postgresql_refuses_stays_committed_and_is_published_by_the_next_consumer(doubles, monkeypatch):
    from dcl import cursors as dcl_cursors

    tenant, conn = connection.tenant, doubles["connection"]
    doubles["driver"] = MemoryDriver({"Opportunity": opportunity_records(40)}, page_size=20)
    ingest.connection_sync(connection=conn)
    real = dcl_cursors.cursor_store

    def refuse(*args, **kwargs):
        raise RuntimeError("PostgreSQL went away")

    monkeypatch.setattr(dcl_cursors, "cursor_store", refuse)
    consumed = _consume_all()  # the consumer carries on: the data is written and acknowledged
    assert consumed.records == 40 and _pending(tenant, conn) == 0
    assert _stored(conn) is None
    assert duck_rows(tenant, "SELECT cursor, published FROM _dcl_cursors") == [(json.dumps({"offset": 40}), False)]
    monkeypatch.setattr(dcl_cursors, "cursor_store", real)
    _consume_all()
    assert _stored(conn) == {"offset": 40}
