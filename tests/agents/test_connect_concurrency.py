"""Two connect requests at the same moment for one tenant: exactly one job, the other gets 409.

These run with committed data and real concurrent database connections (threads), because the
guarantee comes from PostgreSQL's unique index, not from anything a single transaction can show.
"""

from __future__ import annotations

import threading

from django.db import connection, connections, transaction

from agents.models import Job
from tests.conftest import _jwt_client
from tests.waiting import wait_until

from .helpers import in_schema, make_connection


def _in_thread(target, results, key):
    def run():
        try:
            results[key] = target()
        except Exception as exc:  # noqa: BLE001 - reported to the test
            results[key] = exc
        finally:
            connections.close_all()

    return threading.Thread(target=run)


def test_two_simultaneous_connect_requests_start_exactly_one_job(committed_tenants):
    alpha, _ = committed_tenants
    make_connection(alpha)
    clients = [_jwt_client(alpha), _jwt_client(alpha)]
    barrier = threading.Barrier(2)
    results: dict = {}

    def post(client):
        def call():
            barrier.wait(timeout=10)
            return client.post("/api/aoa/connect/", {}, format="json")
        return call

    threads = [_in_thread(post(c), results, i) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    responses = [results[0], results[1]]
    assert sorted(r.status_code for r in responses) == [202, 409], [r.content for r in responses]
    winner = next(r for r in responses if r.status_code == 202).json()["job_id"]
    loser = next(r for r in responses if r.status_code == 409).json()
    assert loser["error"]["details"]["job_id"] == winner
    with in_schema(alpha):
        assert list(Job.objects.filter(kind="connect").values_list("id", flat=True)) == [winner]


def _waiting_lock_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0]


def test_a_request_racing_an_uncommitted_connect_job_loses_to_the_unique_index(committed_tenants):
    """Request B passes the 'is one active?' check while A's job is not yet committed; the index
    makes B's insert wait for A and then fail, and B reports A's job."""
    from agents.services import connect_job_start

    alpha, _ = committed_tenants
    make_connection(alpha)
    client = _jwt_client(alpha)
    inserted, release = threading.Event(), threading.Event()
    results: dict = {}

    def holder():
        connection.set_tenant(alpha)
        with transaction.atomic():
            job = connect_job_start()
            inserted.set()
            release.wait(timeout=20)
        return job.pk

    a = _in_thread(holder, results, "a")
    a.start()
    assert inserted.wait(timeout=10)
    b = _in_thread(lambda: client.post("/api/aoa/connect/", {}, format="json"), results, "b")
    b.start()
    # B is blocked on A's row in the unique index.
    wait_until(lambda: _waiting_lock_count() >= 1, timeout=10, interval=0.02, message="B to wait on A's lock")
    release.set()
    a.join(timeout=20)
    b.join(timeout=20)
    response = results["b"]
    assert response.status_code == 409, response.content
    assert response.json()["error"]["details"]["job_id"] == results["a"]
    with in_schema(alpha):
        assert Job.objects.filter(kind="connect").count() == 1
