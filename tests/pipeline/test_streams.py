"""Stream trimming never drops a batch some consumer group has not acknowledged."""

import pytest

from aam.streams import binary_redis, group_ensure, group_name, stream_key, trim_acknowledged, unacked_floor
from dcl.services import stream_consume
from tests.pipeline.support import batches_for, duck_rows, opportunity_records, publish

pytestmark = pytest.mark.django_db


def test_entries_added_after_everything_was_acknowledged_are_not_trimmed(tenant_a):
    """The bug this guards against: a consumer that saw "nothing pending, nothing after the last
    delivered entry" trimmed up to the stream's *current* last entry, which a producer had just added."""
    r = binary_redis()
    key = stream_key(tenant_a, 1)
    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(50)))
    stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    assert r.xlen(key) == 0
    late = batches_for(tenant_a, 1, opportunity_records(30, start=1000))
    for message in late:  # a producer racing the consumer's trim
        r.xadd(key, message.to_fields())
    assert trim_acknowledged(r, key) == len(late)
    stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    assert duck_rows(tenant_a, "SELECT count(*) FROM src_opportunity") == [(80,)]


def test_pending_entries_are_never_trimmed_and_the_floor_is_the_oldest_of_them(tenant_a):
    r = binary_redis()
    key = stream_key(tenant_a, 1)
    ids = publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(50)))
    r.xreadgroup(group_name(tenant_a), "slow", {key: ">"}, count=3)
    r.xack(key, group_name(tenant_a), ids[1])  # acknowledged out of order
    ms, seq = ids[0].split("-")
    assert unacked_floor(r, key) == (int(ms), int(seq))
    assert trim_acknowledged(r, key) == 5  # nothing trimmed: the oldest is still pending


def test_a_stream_without_a_group_is_never_trimmed(tenant_a):
    r = binary_redis()
    key = stream_key(tenant_a, 9)
    r.xadd(key, {"x": "1"})
    assert unacked_floor(r, key) is None and trim_acknowledged(r, key) == 1
    group_ensure(r, key, group_name(tenant_a))
    assert trim_acknowledged(r, key) == 1  # a new group starts before the first entry


class _RacingClient:
    """Redis client proxy that lets a 'producer' XADD right after the k-th command of a trim."""

    def __init__(self, r, k, add):
        self.r, self.k, self.add, self.calls = r, k, add, 0

    def __getattr__(self, name):
        method = getattr(self.r, name)

        def call(*args, **kwargs):
            result = method(*args, **kwargs)
            self.calls += 1
            if self.calls == self.k:
                self.add()
            return result

        return call


@pytest.mark.parametrize("k", range(1, 6))
def test_a_producer_adding_entries_at_any_point_of_a_trim_loses_nothing(tenant_a, k):
    r = binary_redis()
    key = stream_key(tenant_a, 1)
    publish(tenant_a, 1, batches_for(tenant_a, 1, opportunity_records(20)))
    stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    late = batches_for(tenant_a, 1, opportunity_records(30, start=1000))
    racing = _RacingClient(r, k, lambda: [r.xadd(key, m.to_fields()) for m in late])
    trim_acknowledged(racing, key)
    if racing.calls < k:  # the trim was over before the k-th command: the producer comes after it
        racing.add()
    assert r.xlen(key) == len(late)
