"""Faults the pipeline survives, with real processes, a real Redis and PostgreSQL.

- the consumer SIGKILLed at random points: every record lands exactly once;
- Redis restarted mid-sync (a private redis-server: the shared one is never touched);
- far more than MAXLEN × CHUNK records through a slow consumer: nothing lost, the stream stays bounded;
- no consumer at all: the producer waits, then fails clearly, and drops nothing.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection

from aam.ingest import services as ingest
from aam.streams import BackpressureTimeout, StreamPublisher, binary_redis, stream_key
from connectors.models import Connection
from dcl import cursors as dcl_cursors
from dcl import store
from dcl.consumer import StreamConsumer
from dcl.services import stream_consume, views_materialize
from tests.conftest import ROOT, free_port, live_env, wait_for_port
from tests.pipeline.support import (
    SF_OPPORTUNITY,
    Mapping,
    MemoryDriver,
    batches_for,
    duck_rows,
    opportunity_records,
    publish,
)
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow]


def _consumer_process(tenant_slug: str, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "dcl_consume", "--tenant", tenant_slug, "--until-idle", "--idle-seconds", "1"],
        cwd=ROOT,
        env=live_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.fixture
def private_redis(settings):
    """A redis-server of this test's own (restartable), on a free port, without persistence."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = free_port()
    procs = []

    def start():
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        wait_for_port(port, proc)
        return proc

    def restart():
        procs[-1].kill()
        procs[-1].wait(timeout=10)
        start()

    start()
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    settings.DCL_REDIS_RETRY_SECONDS = 20
    yield restart
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _consumed(tenant, connection_id: int) -> bool:
    """Every entry of the connection's stream was delivered to the consumer group and acknowledged
    (true too when there is no stream: a Redis restarted without persistence lost it)."""
    import redis

    r = binary_redis()
    key = stream_key(tenant, connection_id)
    try:
        if not r.exists(key):
            return True
        last = r.xinfo_stream(key)["last-generated-id"]
        groups = r.xinfo_groups(key)
    except redis.ConnectionError:  # the private Redis is coming back
        return False
    return bool(groups) and all(g["pending"] == 0 and g["last-delivered-id"] == last for g in groups)


class _RestartingDriver(MemoryDriver):
    def __init__(self, *args, restart_after: int, restart, **kwargs):
        super().__init__(*args, **kwargs)
        self.restart_after = restart_after
        self.restart = restart

    def read(self, object_name, cursor=None, page_size=None):
        for page in super().read(object_name, cursor, page_size):
            yield page
            if self.pages_read == self.restart_after:
                self.restart()


@pytest.mark.django_db
def test_redis_restarted_mid_sync_fails_cleanly_and_a_rerun_loses_and_doubles_nothing(
    private_redis, in_tenant_a, monkeypatch
):
    tenant = in_tenant_a
    conn = Connection.objects.create(name="SF", kind="salesforce")
    records = opportunity_records(2000)
    monkeypatch.setattr(ingest, "_mapping_ensure", lambda c, o: Mapping("opportunity", SF_OPPORTUNITY))
    monkeypatch.setattr(ingest, "_status_set", lambda c, status, error="", synced=False: None)
    cursors = {}
    monkeypatch.setattr(dcl_cursors, "cursor_store", lambda c, name, cursor: cursors.__setitem__(name, cursor))
    monkeypatch.setattr(ingest, "_generation", lambda c: 0)

    def sync_with_consumer(driver):
        monkeypatch.setattr(ingest, "_driver_for", lambda c: driver)
        conn.cursor = {k: v for k, v in cursors.items()}
        stop = threading.Event()
        consumer = threading.Thread(target=lambda: stream_consume(tenant=tenant, until_idle=False, stop=stop))
        consumer.start()
        try:
            return ingest.connection_sync(connection=conn)
        finally:
            wait_until(lambda: _consumed(tenant, conn.pk), timeout=30,
                       message="the consumer to apply what was published")
            stop.set()
            consumer.join(timeout=60)

    monkeypatch.setattr(Connection, "refresh_from_db", lambda self, *a, **k: None)
    driver = _RestartingDriver({"Opportunity": records}, page_size=100, restart_after=8, restart=private_redis)
    with pytest.raises(Exception) as failure:
        sync_with_consumer(driver)
    assert "restart" in str(failure.value).lower() or "connection" in type(failure.value).__name__.lower()
    resumed_from = (cursors.get("Opportunity") or {}).get("offset", 0)
    assert resumed_from <= 800  # never past what the consumer had applied before the restart
    sync_with_consumer(MemoryDriver({"Opportunity": records}, page_size=100))
    stream_consume(tenant=tenant, until_idle=True, idle_seconds=0)  # applies the rest with its cursor
    assert duck_rows(tenant, "SELECT count(*), count(DISTINCT _source_id) FROM src_opportunity") == [(2000, 2000)]
    assert cursors["Opportunity"] == {"offset": 2000}


@pytest.mark.django_db
def test_ten_times_the_stream_capacity_through_a_slow_consumer_loses_nothing(tenant_a, settings):
    settings.AAM_REDIS_STREAM_MAXLEN = 20
    maxlen, chunk = 20, 10
    messages = batches_for(tenant_a, 1, opportunity_records(10 * maxlen * chunk), chunk=chunk)
    r = binary_redis()
    key = stream_key(tenant_a, 1)
    longest = [0]
    stop = threading.Event()

    class SlowConsumer(StreamConsumer):
        def apply(self, entries):
            longest[0] = max(longest[0], r.xlen(key))
            time.sleep(0.01)
            super().apply(entries)

    def consume():
        with store.WriterLock(tenant_a):
            con = store.connect(tenant_a)
            try:
                SlowConsumer(tenant_a, con, read_count=3).run(until_idle=False, stop=stop)
            finally:
                con.close()

    thread = threading.Thread(target=consume)
    thread.start()
    try:
        publisher = StreamPublisher(tenant_a, 1, maxlen=maxlen, timeout=60)
        publisher.publish(messages)
        wait_until(lambda: r.xlen(key) == 0, timeout=60, message="the slow consumer to empty the stream")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert publisher.stats.waited_seconds > 0  # the producer really was held back
    assert longest[0] <= maxlen
    assert duck_rows(tenant_a, "SELECT count(*), count(DISTINCT _source_id) FROM src_opportunity") == [(2000, 2000)]


@pytest.mark.django_db
def test_without_a_consumer_the_producer_waits_then_fails_clearly_and_drops_nothing(tenant_a):
    messages = batches_for(tenant_a, 1, opportunity_records(100), chunk=10)
    publisher = StreamPublisher(tenant_a, 1, maxlen=5, timeout=0.5)
    with pytest.raises(BackpressureTimeout, match="is a DCL consumer running"):
        publisher.publish(messages)
    r = binary_redis()
    assert r.xlen(stream_key(tenant_a, 1)) == publisher.stats.batches <= 5
    stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    assert duck_rows(tenant_a, "SELECT count(*) FROM src_opportunity") == [(publisher.stats.records,)]


@pytest.mark.live
def test_a_consumer_killed_at_random_points_still_lands_every_record_exactly_once(django_db_setup, committed_tenants):
    alpha, _ = committed_tenants
    messages = batches_for(alpha, 1, opportunity_records(3000), chunk=10)
    publish(alpha, 1, messages, maxlen=10_000)
    publish(alpha, 1, messages[:60], maxlen=10_000)  # a replayed stretch, interleaved with the kills
    rng = random.Random(4)
    kills = 0
    for _ in range(5):
        proc = _consumer_process("alpha", DCL_READ_COUNT=4, DCL_LINGER_MS=0)
        # Kill somewhere between "still starting" and "deep in the work" (it needs ~1 s to boot).
        time.sleep(rng.uniform(0.8, 2.5))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait(timeout=30)
    final = _consumer_process("alpha")
    assert final.wait(timeout=240) == 0, final.stderr.read().decode()[-2000:]
    assert kills >= 3
    assert duck_rows(alpha, "SELECT count(*), count(DISTINCT _source_id) FROM src_opportunity") == [(3000, 3000)]
    assert duck_rows(alpha, "SELECT count(*) FROM _dcl_batches") == [(300,)]
    r = binary_redis()
    assert r.xlen(stream_key(alpha, 1)) == 0
    # And through to the view the API serves.
    from django_tenants.utils import tenant_context

    with tenant_context(alpha):
        Connection.objects.create(name="SF", kind="salesforce")
        try:
            assert views_materialize(tenant=alpha) == {"opportunity": 3000}
        finally:
            with connection.cursor() as cur:
                cur.execute('DROP VIEW IF EXISTS "alpha"."dcl_view_opportunity"')
                cur.execute('DROP TABLE IF EXISTS "alpha"."dcl_vdata_opportunity_1"')
