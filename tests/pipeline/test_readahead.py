"""The sync reads the driver's next page in a thread while it publishes the current one."""

import threading

import pytest
from django.db import connection

from aam.ingest.readahead import read_ahead

pytestmark = pytest.mark.django_db


def _alive_readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "aam-read-ahead"]


def test_pages_come_in_order_from_a_thread_working_in_the_tenants_schema(tenant_a):
    seen = []

    def pages():
        for n in range(5):
            seen.append((threading.current_thread().name, connection.schema_name))
            yield n

    assert list(read_ahead(pages(), tenant=tenant_a)) == [0, 1, 2, 3, 4]
    assert seen == [("aam-read-ahead", "alpha")] * 5
    assert not _alive_readers()


def test_the_next_page_is_read_while_the_current_one_is_being_published(tenant_a):
    second_started = threading.Event()

    def pages():
        yield 1
        second_started.set()
        yield 2

    out = []
    for page in read_ahead(pages(), tenant=tenant_a):
        if page == 1:
            # Without read-ahead the driver would only start page 2 after this returns.
            assert second_started.wait(timeout=10)
        out.append(page)
    assert out == [1, 2]


def test_a_driver_failure_is_raised_in_the_sync_after_the_pages_before_it(tenant_a):
    def pages():
        yield 1
        yield 2
        raise ConnectionError("source went away")

    got = []
    with pytest.raises(ConnectionError, match="source went away"):
        for page in read_ahead(pages(), tenant=tenant_a):
            got.append(page)
    assert got == [1, 2]
    assert not _alive_readers()


def test_a_sync_that_stops_early_closes_the_driver_and_ends_the_reader(tenant_a):
    closed = threading.Event()
    produced = []

    def pages():
        try:
            for n in range(1000):
                produced.append(n)
                yield n
        finally:
            closed.set()

    reader = read_ahead(pages(), tenant=tenant_a, depth=1)
    assert next(reader) == 0
    reader.close()  # the sync failed while publishing page 0
    assert closed.is_set()
    assert not _alive_readers()
    assert len(produced) <= 3  # the page handed over, one queued, one being read


def test_depth_zero_reads_in_the_callers_thread(tenant_a):
    def pages():
        yield threading.current_thread().name

    assert list(read_ahead(pages(), tenant=tenant_a, depth=0)) == [threading.current_thread().name]
