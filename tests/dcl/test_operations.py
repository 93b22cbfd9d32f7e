"""Operator actions on a connection's stream: replay from the start and consumer-group reset."""

import pytest

from aam.streams import binary_redis, group_name, stream_key
from aam.sync_lock import SyncLock
from autonomos.core.errors import Conflict
from connectors.models import Connection
from dcl.models import StreamAction
from dcl.operations import consumer_group_reset, stream_replay

pytestmark = pytest.mark.django_db


@pytest.fixture
def conn(in_tenant_a):
    return Connection.objects.create(name="ops-src", kind="filesource", status=Connection.Status.OK)


def test_replay_queues_a_full_sync_and_is_audited(conn, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    from dcl import tasks

    monkeypatch.setattr(tasks.connection_sync_task, "delay", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        record = stream_replay(connection=conn, user=None)
    assert queued == [(conn.pk, True)]
    assert (record.action, record.connection_id, record.actor) == ("replay", conn.pk, "system")


def test_reset_redelivers_every_retained_batch_and_is_audited(conn, in_tenant_a):
    r = binary_redis()
    key, group = stream_key(in_tenant_a, conn.pk), group_name(in_tenant_a)
    r.xgroup_create(key, group, id="0", mkstream=True)
    for i in range(3):
        r.xadd(key, {"n": str(i)})
    delivered = r.xreadgroup(group, "c1", {key: ">"}, count=10)
    r.xack(key, group, delivered[0][1][0][0])  # one acked, two left pending
    assert r.xreadgroup(group, "c1", {key: ">"}, count=10) == []

    record = consumer_group_reset(connection=conn, user=None)

    again = r.xreadgroup(group, "c2", {key: ">"}, count=10)
    assert len(again[0][1]) == 3
    assert record.details["pending_dropped"] == 2 and record.details["retained_entries"] == 3


def test_actions_are_refused_while_the_connection_syncs(conn, in_tenant_a):
    Connection.objects.filter(pk=conn.pk).update(status=Connection.Status.SYNCING)
    with SyncLock(in_tenant_a, conn.pk):  # a sync is running: it holds the connection's lock
        with pytest.raises(Conflict):
            consumer_group_reset(connection=conn, user=None)
        with pytest.raises(Conflict):
            stream_replay(connection=conn, user=None)
    assert StreamAction.objects.count() == 0


def test_audit_records_cannot_be_edited_or_deleted(conn):
    record = consumer_group_reset(connection=conn, user=None)
    record.actor = "someone else"
    with pytest.raises(ValueError):
        record.save()
    with pytest.raises(ValueError):
        record.delete()


def test_operations_page_action_needs_the_typed_name_and_then_resets(web_a, conn, in_tenant_a):
    from django.db import connection as db

    wrong = web_a.post(f"/dcl/operations/{conn.pk}/reset/", {"confirm": "nope"})
    assert wrong.status_code == 302
    db.set_tenant(in_tenant_a)
    assert StreamAction.objects.count() == 0
    ok = web_a.post(f"/dcl/operations/{conn.pk}/reset/", {"confirm": "ops-src"}, follow=True)
    assert ok.status_code == 200
    assert b"consumer group reset" in ok.content
    db.set_tenant(in_tenant_a)
    assert StreamAction.objects.filter(action="reset", actor="admin").count() == 1
