"""`manage.py bench_ingest` runs the real two-process path and reports what it measured."""

import io
import json
import os

from django.core.management import call_command
from django.db import connection

from tests.conftest import live_env


def _json_objects(text: str) -> list[dict]:
    decoder, objects, at = json.JSONDecoder(), [], 0
    while (start := text.find("{", at)) >= 0:
        obj, at = decoder.raw_decode(text, start)
        objects.append(obj)
    return objects


def test_bench_ingest_lands_every_row_and_reports_each_run_and_the_medians(committed_tenants, monkeypatch):
    tenant = committed_tenants[0]
    # The producer and consumer it starts are processes of their own: they must see the test database.
    monkeypatch.setattr(os, "environ", live_env())
    out = io.StringIO()
    try:
        call_command("bench_ingest", rows=3000, tenant=tenant.slug, runs=2, stdout=out)
    finally:
        with connection.cursor() as cur:
            cur.execute(f'DROP VIEW IF EXISTS "{tenant.schema_name}".dcl_view_opportunity')
            cur.execute(  # what the benchmark published (other tests' views may be there too)
                "SELECT tablename FROM pg_tables WHERE schemaname = %s "
                "AND tablename LIKE 'dcl\\_vdata\\_opportunity\\_%%'",
                [tenant.schema_name],
            )
            for (table,) in cur.fetchall():
                cur.execute(f'DROP TABLE "{tenant.schema_name}"."{table}" CASCADE')
    *runs, summary = _json_objects(out.getvalue())
    assert len(runs) == 2
    for run in runs:
        assert run["complete"] is True
        assert run["records_published"] == run["rows_in_postgres_view"] == 3000
        assert run["end_to_end_seconds"] > 0 and run["duckdb_read_csv_seconds"] > 0
        # The ratio is of the unrounded times; the printed ones are rounded to 0.01 s.
        e2e, raw = run["end_to_end_seconds"], run["duckdb_read_csv_seconds"]
        assert (e2e - 0.005) / (raw + 0.005) <= run["ratio_to_duckdb_read_csv"] <= (e2e + 0.005) / (raw - 0.005)
        assert set(run["peak_rss_mb"]) == {"producer", "consumer"} and min(run["peak_rss_mb"].values()) > 0
        # The servers are local here: their CPU is counted, and the floor is all the work over the cores.
        servers = run["server_cpu_seconds"]
        assert servers["postgres"] > 0 and servers["redis"] > 0
        work = sum(run["cpu_seconds"].values()) + servers["postgres"] + servers["redis"]
        assert abs(run["cpu_floor_seconds"] - work / run["cores"]) <= 0.03  # of unrounded figures
        assert run["machine_busy_cpu_seconds"] >= work - 0.5
    assert summary["runs"] == 2 and summary["all_complete"] is True
    assert summary["each"]["end_to_end_seconds"] == [r["end_to_end_seconds"] for r in runs]
    assert summary["median"]["end_to_end_seconds"] == sum(r["end_to_end_seconds"] for r in runs) / 2
