"""Benchmark the PostgreSQL driver's reads: `python manage.py bench_pg_read --rows 1000000`.

Creates a scratch database on the platform's own PostgreSQL server (dropped afterwards, also on
failure) holding an `opportunities` table of N rows (integers, text, numeric, date, timestamptz,
uuid, boolean, jsonb, text[]), then reads it through the postgres driver as a sync does, each way:

- `rows`: the former row path (`read_rows`: a query per page, a dict per row), plus the conversion
  ingestion did to Arrow (`records_to_table`);
- `csv`: `read_copy_csv` (`COPY … (FORMAT csv)` in chunks, parsed by pyarrow into Arrow pages);
- `adbc`: `read`, the driver's read path (ADBC: a binary COPY decoded into Arrow in C);

each plus `page_table` (a no-op for Arrow pages). Prints records/s of each, the CPU seconds of this
process and of the server's backends, and the peak RSS. ADR 0018 and its addendum.
"""

from __future__ import annotations

import os
import resource
import time
import uuid

import psutil
import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

TABLE = """
CREATE TABLE opportunities (
    id bigint PRIMARY KEY, name text NOT NULL, amount numeric(14, 2), stage text, close_date date,
    probability integer, owner_id uuid, is_won boolean, meta jsonb, tags text[], updated_at timestamptz
)
"""
FILL = """
INSERT INTO opportunities
SELECT g, 'Opportunity ' || g || ', Inc.', round((random() * 1e6)::numeric, 2),
       (ARRAY['Prospecting', 'Qualification', 'Proposal', 'Closed Won', 'Closed Lost'])[1 + g %% 5],
       date '2024-01-01' + (g %% 700), (g * 7) %% 101, md5(g::text)::uuid, g %% 5 = 3,
       jsonb_build_object('source', 'bench', 'rank', g %% 13), ARRAY['a', 'b' || (g %% 3)],
       CASE WHEN g %% 997 = 0 THEN NULL
            ELSE timestamptz '2024-01-01 00:00:00+00' + (g %% 100000) * interval '1 second' END
FROM generate_series(1, %s) g
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _backend_cpu(db: dict) -> float:
    """CPU seconds of the server's backends connected to the scratch database (the reads' sessions)."""
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if proc.info["name"] == "postgres" and db["database"] in " ".join(proc.info["cmdline"] or ()):
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _server() -> dict:
    db = settings.DATABASES["default"]
    found = {"host": db.get("HOST") or "127.0.0.1", "port": int(db.get("PORT") or 5432), "user": db.get("USER")}
    if db.get("PASSWORD"):
        found["password"] = db["PASSWORD"]
    return {k: v for k, v in found.items() if v}


class Command(BaseCommand):
    help = "Measure the PostgreSQL driver's reads (row path vs columnar COPY → Arrow), records/s and peak RSS."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--page-size", type=int, default=None, help="default: AAM_SYNC_PAGE_SIZE")
        parser.add_argument("--path", choices=("all", "rows", "csv", "adbc", "columnar"), default="all",
                            help="columnar: csv and adbc")
        parser.add_argument("--runs", type=int, default=1, help="read each way this many times, alternating")

    def handle(self, *args, rows: int, page_size: int | None, path: str, runs: int, **options):
        page_size = page_size or int(settings.AAM_SYNC_PAGE_SIZE)
        if rows <= 0 or page_size <= 0:
            raise CommandError("--rows and --page-size must be positive")
        server = _server()
        name = f"bench_pg_read_{uuid.uuid4().hex[:10]}"
        try:
            admin = psycopg.connect(dbname="postgres", autocommit=True, **server)
        except psycopg.Error as exc:
            raise CommandError(f"cannot reach the PostgreSQL server: {exc}") from None
        with admin:
            admin.execute(f'CREATE DATABASE "{name}"')
            try:
                t0 = time.perf_counter()
                with psycopg.connect(dbname=name, autocommit=True, **server) as conn:
                    conn.execute(TABLE)
                    conn.execute(FILL, [rows])
                    conn.execute("VACUUM ANALYZE opportunities")
                self.stdout.write(f"source table: {rows:,} rows in {time.perf_counter() - t0:.1f}s (database {name})")
                ways = {"all": ("rows", "csv", "adbc"), "columnar": ("csv", "adbc")}.get(path, (path,))
                for _ in range(max(1, runs)):
                    for which in ways:
                        self._measure(which, {**server, "database": name}, page_size, rows)
            finally:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _measure(self, which: str, db: dict, page_size: int, rows: int) -> None:
        from aam.ingest.normalize import page_table, records_to_table
        from connectors.registry import build_driver

        config = {"host": db["host"], "port": db["port"], "database": db["database"], "sslmode": "disable"}
        if db.get("user"):
            config["user"] = db["user"]
        secrets = {"password": db["password"]} if db.get("password") else {}
        with override_settings(CONNECTORS_ALLOW_PRIVATE_NETWORK=True), build_driver("postgres", config, secrets) as drv:
            drv.tables()
            read = 0
            t0 = time.perf_counter()
            to_arrow = 0.0
            read_way = {"rows": drv.read_rows, "csv": drv.read_copy_csv, "adbc": drv.read}[which]
            pages = read_way("opportunities", None, page_size)
            cpu0, server0 = time.process_time(), _backend_cpu(db)
            for page in pages:
                t1 = time.perf_counter()
                table = records_to_table(page.records) if which == "rows" else page_table(page)
                to_arrow += time.perf_counter() - t1
                read += table.num_rows
            elapsed = time.perf_counter() - t0
            cpu, server_cpu = time.process_time() - cpu0, _backend_cpu(db) - server0
        if read != rows:
            raise CommandError(f"{which}: read {read:,} records of {rows:,}")
        self.stdout.write(
            f"{which:>8}: {read:,} records in {elapsed:.2f}s = {read / elapsed:,.0f} records/s "
            f"(driver {read / max(elapsed - to_arrow, 1e-9):,.0f}/s, to Arrow {to_arrow:.2f}s); "
            f"CPU: this process {cpu:.2f}s, the server {server_cpu:.2f}s; peak RSS so far {peak_rss_mb():.0f} MB; "
            f"load average {os.getloadavg()[0]:.2f}"
        )
