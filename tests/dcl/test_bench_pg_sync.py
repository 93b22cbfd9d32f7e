"""`manage.py bench_pg_sync` runs the product's processes on a scratch source and tenant, prints every
figure of issue #17 with its target, and leaves nothing behind."""

import io
import json
import os

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from benchmarks.pg_read import _server
from tests.conftest import live_env

pytestmark = [pytest.mark.slow, pytest.mark.live]


def test_bench_pg_sync_measures_every_target_and_drops_its_tenant_and_source(committed_db, monkeypatch):
    # The sync processes, the web server, the worker and beat it starts must see the test database.
    monkeypatch.setattr(os, "environ", live_env())
    out = io.StringIO()
    call_command("bench_pg_sync", rows=2000, freshness_changes=5, freshness_every=0.5, freshness_timeout=120,
                 stdout=out)
    text = out.getvalue()
    report = json.loads(text.split("\nJSON ", 1)[1].splitlines()[0])
    assert report["failures"] == []
    # each figure is printed beside its target
    for figure in ("initial load, records/s", "1% changed: sync wall / initial", "1% changed: view correct",
                   "no change: work after process start", "no change: view writes", "change-to-API p50",
                   "peak RSS: sync process", "peak RSS: API process", "peak RSS: Celery worker",
                   "worker RSS after tasks / peak"):
        line = next(ln for ln in text.splitlines() if ln.startswith(figure))
        assert line.rstrip().endswith(("PASS", "MISS")), line
    assert report["initial"]["view_rows"] == 2000 and report["initial"]["records_per_second"] > 0
    changed = report["changed"]
    assert changed["view_checks"] == "ok"
    assert (changed["updated"], changed["inserted"], changed["deleted"]) == (16, 2, 2)
    assert changed["output"]["1"]["records_read"] == 18  # the updated and the new rows, read incrementally
    assert {s["step"] for s in changed["output"]["steps"]} >= {"read", "consume", "deletes", "materialize"}
    assert report["unchanged"]["output"]["1"]["records_read"] == 0
    assert 0 < report["unchanged"]["work_seconds"] < report["unchanged"]["wall_seconds"]
    writes = report["unchanged"]["view_writes"]
    # what main does today (every sync rebuilds the view) or what it will (nothing written): either is told
    assert writes["wrote"] == bool(writes["tuples_written"] or writes["tables_created"]
                                   or writes["view_versions_changed"])
    fresh = report["freshness"]
    assert fresh["seen"] == 5 and fresh["unseen"] == 0 and 0 < fresh["p50"] <= fresh["p99"] <= fresh["max"]
    assert fresh["scheduled_runs"]["succeeded"] >= 1
    assert len(report["worker_memory_mb"]) == 3  # the worker and its two pool processes
    assert all(m["peak_rss_mb"] > 0 for m in report["worker_memory_mb"].values())
    assert all(m["peak_rss_mb"] > 0 for m in report["api_memory_mb"].values())
    # nothing left: the source database, the tenant's schema and row, its schedule
    with psycopg.connect(dbname="postgres", autocommit=True, **_server()) as admin:
        assert admin.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                             [report["source_database"]]).fetchone()[0] == 0
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", [report["tenant"]])
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM tenants_tenant WHERE slug = %s", [report["tenant"]])
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM django_celery_beat_periodictask WHERE name LIKE 'tenant:%%'")
        assert cur.fetchone()[0] == 0
