"""Benchmark the whole pipeline: `manage.py bench_ingest --rows 1000000`.

Generates a Salesforce-style opportunity export of N rows, then runs the real path in two
processes started here — a producer (`sync --no-consume`: filesource driver → mapping → canonical
batches → Redis Stream) and a consumer (`dcl_consume`: stream → DuckDB, then the unified view and
its PostgreSQL copy) — and prints records/s end to end, the peak RSS of each process, and the time
DuckDB's own read_csv takes to load the same file, with the ratio. It also prints the CPU the run
cost PostgreSQL and Redis (when they run on this machine) and `cpu_floor_seconds`: all of the run's
CPU work over the machine's cores, the shortest wall time any schedule of that work could take here.
It prints figures; it asserts nothing.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import psutil
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from aam.streams import binary_redis, stream_key
from dcl import store

BENCH_PASSWORD = "Bench-password-2026!"

GENERATE = """
COPY (
SELECT
  '006' || lpad(upper(to_hex(i)), 15, '0') AS Id,
  '001' || lpad(upper(to_hex(i % 5000)), 15, '0') AS AccountId,
  'Deal ' || i || ' - ' || (['Expansion','Renewal','New Business','Upsell'])[1 + i % 4] AS Name,
  (['Prospecting','Qualification','Needs Analysis','Proposal/Price Quote','Negotiation/Review','Closed Won',
    'Closed Lost'])[1 + (i * 3) % 7] AS StageName,
  round(((i * 7919) % 500000) / 3.0, 2) AS Amount,
  'USD' AS CurrencyIsoCode,
  (i * 13) % 101 AS Probability,
  (DATE '2024-01-01' + ((i * 31) % 900)::INT) AS CloseDate,
  CASE WHEN (i * 3) % 7 >= 5 THEN 'true' ELSE 'false' END AS IsClosed,
  CASE WHEN (i * 3) % 7 = 5 THEN 'true' ELSE 'false' END AS IsWon,
  (['New Customer','Existing Customer - Upgrade','Existing Customer - Replacement'])[1 + i % 3] AS Type,
  (['Web','Phone Inquiry','Partner Referral','Purchased List','Other'])[1 + i % 5] AS LeadSource,
  '005' || lpad(upper(to_hex(i % 200)), 15, '0') AS OwnerId,
  (['Pipeline','Best Case','Commit','Closed','Omitted'])[1 + i % 5] AS ForecastCategoryName,
  'Follow up call ' || (i % 97) AS NextStep,
  'Opportunity generated for benchmark row ' || i AS Description,
  strftime(TIMESTAMP '2023-01-01 00:00:00' + to_seconds(i * 17 % 40000000), '%Y-%m-%dT%H:%M:%S.000+0000')
    AS CreatedDate,
  strftime(TIMESTAMP '2024-06-01 00:00:00' + to_seconds(i * 11 % 20000000), '%Y-%m-%dT%H:%M:%S.000+0000')
    AS LastModifiedDate
FROM range({rows}) t(i)
) TO '{path}' (HEADER, DELIMITER ',')
"""


def bench_tenant(slug: str):
    """The benchmark tenant `slug`, created (with an admin) when it is missing."""
    from tenants.models import Tenant
    from tenants.services import tenant_create

    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        tenant = tenant_create(
            slug=slug,
            name="Benchmark",
            admin_email=f"admin@{slug}.example",
            admin_password=BENCH_PASSWORD,
            admin_username="admin",
        ).tenant
    return tenant


class _Peak:
    """Samples a process's RSS (with its threads) and CPU time until it exits."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.peak = 0
        self.cpu = 0.0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            p = psutil.Process(self.proc.pid)
            while self.proc.poll() is None:
                self.peak = max(self.peak, p.memory_info().rss)
                times = p.cpu_times()
                self.cpu = times.user + times.system
                time.sleep(0.05)
        except psutil.Error:
            pass


def _postgres_cpu() -> float | None:
    """CPU seconds used so far by this machine's PostgreSQL: its live processes, plus the children the
    postmaster has reaped (backends that have exited). None if no local server is visible."""
    total, found = 0.0, False
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "postgres":
            continue
        try:
            times = proc.cpu_times()
            total += times.user + times.system
            parent = proc.parent()
            if parent is None or parent.name() != "postgres":  # the postmaster
                total += times.children_user + times.children_system
            found = True
        except psutil.Error:
            continue
    return total if found else None


def _redis_cpu() -> float | None:
    try:
        info = binary_redis().info("cpu")
    except Exception:  # noqa: BLE001 - a figure, not a requirement
        return None
    return sum(float(info.get(k, 0)) for k in ("used_cpu_user", "used_cpu_sys"))


def _machine_busy_cpu() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class _ServerCpu:
    """What the servers the pipeline talks to (PostgreSQL, Redis) and the whole machine burn during a
    run: with the two processes' own CPU, the floor any schedule of this work has on these cores."""

    def __init__(self) -> None:
        self.start = (_postgres_cpu(), _redis_cpu(), _machine_busy_cpu())

    def stop(self) -> dict:
        end = (_postgres_cpu(), _redis_cpu(), _machine_busy_cpu())
        postgres, redis, machine = (
            None if a is None or b is None else round(b - a, 2) for a, b in zip(self.start, end, strict=True)
        )
        return {"postgres": postgres, "redis": redis, "machine": machine}


def _values_cost(without: list[dict], with_values: list[dict]) -> dict:
    """What canonical values add to the sync: the medians of runs with and without them."""
    keys = ("end_to_end_seconds", "materialize_seconds")
    med = {k: (statistics.median(r[k] for r in without), statistics.median(r[k] for r in with_values)) for k in keys}
    base, added = med["end_to_end_seconds"]
    return {
        "canonical_values_cost": {
            "runs_each": len(without),
            "median_without": {k: v[0] for k, v in med.items()},
            "median_with": {k: v[1] for k, v in med.items()},
            "values_stage_seconds": [r.get("values_stage_seconds") for r in with_values],
            "added_share_of_end_to_end": round((added - base) / base, 4) if base else None,
        }
    }


def _summary(reports: list[dict]) -> dict:
    """Medians over runs: on a shared machine single runs spread by a quarter or more."""
    keys = ("end_to_end_seconds", "records_per_second", "ratio_to_duckdb_read_csv", "duckdb_read_csv_seconds")
    return {
        "runs": len(reports),
        "all_complete": all(r["complete"] for r in reports),
        "median": {k: statistics.median(r[k] for r in reports) for k in keys},
        "each": {k: [r[k] for r in reports] for k in keys},
        "peak_rss_mb_max": {name: max(r["peak_rss_mb"][name] for r in reports) for name in reports[0]["peak_rss_mb"]},
    }


class Command(BaseCommand):
    help = "End-to-end ingestion benchmark (records/s, peak RSS per process, ratio to DuckDB's read_csv)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--tenant", default="bench")
        parser.add_argument("--keep", action="store_true", help="keep the generated file")
        parser.add_argument(
            "--runs", type=int, default=1, help="run N times (fresh store each time) and print the medians too"
        )
        parser.add_argument(
            "--values", choices=("on", "off", "both"), default="on",
            help="canonical values (ADR 0014) on, off, or both: each run twice, with and without, alternating, "
                 "and the medians' difference printed (what value mapping adds to the sync)",
        )

    def handle(self, *args, **opts):
        rows = opts["rows"]
        tenant = bench_tenant(opts["tenant"])
        work = Path(settings.DATA_DIR) / "bench" / f"opportunity-{rows}"
        work.mkdir(parents=True, exist_ok=True)
        csv_path = work / "Opportunity.csv"
        if not csv_path.exists():
            t = time.perf_counter()
            duckdb.connect().execute(GENERATE.format(rows=rows, path=str(csv_path).replace("'", "''")))
            self.stdout.write(
                f"generated {rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s"
            )
        if opts["runs"] < 1:
            raise CommandError("--runs must be at least 1")
        modes = {"on": [True], "off": [False], "both": [False, True]}[opts["values"]]
        reports = []
        by_mode: dict[bool, list[dict]] = {m: [] for m in modes}
        for _ in range(opts["runs"]):
            for mode in modes:
                report = self._run(tenant, work, csv_path, rows, values=mode)
                reports.append(report)
                by_mode[mode].append(report)
                self.stdout.write(json.dumps(report, indent=2))
        if len(reports) > 1:
            self.stdout.write(json.dumps(_summary(reports), indent=2))
        if len(modes) == 2:
            self.stdout.write(json.dumps(_values_cost(by_mode[False], by_mode[True]), indent=2))
        if not opts["keep"]:
            shutil.rmtree(work, ignore_errors=True)

    def _run(self, tenant, work: Path, csv_path: Path, rows: int, *, values: bool = True) -> dict:
        """One measured run: DuckDB's read_csv of the file, then the real path from a fresh store
        (with or without canonical values: DCL_CANONICAL_VALUES in both processes)."""
        raw_seconds = self._duckdb_raw_load(csv_path)
        conn = self._fresh_connection(tenant, work)
        env = dict(os.environ, PYTHONUNBUFFERED="1", DCL_CANONICAL_VALUES="true" if values else "false")
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        servers = _ServerCpu()
        t0 = time.perf_counter()
        consumer = subprocess.Popen(
            manage + ["dcl_consume", "--tenant", tenant.slug, "--materialize"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        sync_args = [
            "sync",
            "--tenant",
            tenant.slug,
            "--connection",
            str(conn.pk),
            "--full",
            "--no-consume",
            "--no-materialize",
        ]
        producer = subprocess.Popen(manage + sync_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        peaks = {"producer": _Peak(producer), "consumer": _Peak(consumer)}
        p_out, p_err = producer.communicate()
        t_produced = time.perf_counter() - t0
        if producer.returncode != 0:
            consumer.send_signal(signal.SIGTERM)
            consumer.communicate()
            raise SystemExit(f"producer failed:\n{p_err.decode()[-3000:]}")
        consumer.send_signal(signal.SIGUSR1)  # finish: apply what is left, then materialize
        c_out, c_err = consumer.communicate()
        elapsed = time.perf_counter() - t0
        server_cpu = servers.stop()
        if consumer.returncode != 0:
            raise SystemExit(f"consumer failed:\n{c_err.decode()[-3000:]}")
        produced = json.loads(p_out.decode().strip().splitlines()[-1])[str(conn.pk)]
        # pgsync logs where the PostgreSQL side of the materialization went.
        published = re.search(r"copy ([\d.]+)s, indexes ([\d.]+)s, total ([\d.]+)s", c_err.decode(errors="replace"))
        consumed = json.loads(c_out.decode().strip().splitlines()[-1])
        # the history step (dcl/history) logs what it did: compare, commit and publish seconds
        history = re.search(r"history of opportunity: (\{.*?\})\s*$", c_err.decode(errors="replace"), re.MULTILINE)
        landed = consumed.get("views", {}).get("opportunity", 0)
        report = {
            "rows": rows,
            "records_published": produced.get("records_published"),
            "records_quarantined": produced.get("quarantined"),
            "rows_in_postgres_view": landed,
            "complete": landed == rows - (produced.get("quarantined") or 0),
            "end_to_end_seconds": round(elapsed, 2),
            "records_per_second": round(rows / elapsed),
            "producer_seconds": round(t_produced, 2),
            "producer_backpressure_seconds": produced.get("backpressure_seconds"),
            "consumer_seconds_by_step": consumed.get("seconds"),
            "consumer_transactions": consumed.get("transactions"),
            "consumer_apply_seconds": consumed.get("consume_seconds"),
            "canonical_values": values,
            "materialize_seconds": consumed.get("materialize_seconds"),
            "values_stage_seconds": consumed.get("values_seconds"),
            "history_step": ast.literal_eval(history.group(1)) if history else None,
            "postgres_seconds": dict(zip(("copy", "indexes", "total"), map(float, published.groups()), strict=True))
            if published
            else None,
            "consumer_cpu_seconds_by_phase": {
                "apply": consumed.get("consume_cpu_seconds"),
                "materialize": consumed.get("materialize_cpu_seconds"),
            },
            "peak_rss_mb": {name: round(p.peak / 2**20) for name, p in peaks.items()},
            "consumer_peak_rss_mb_by_phase": {
                "apply": consumed.get("consume_peak_rss_mb"),
                "with_materialize": consumed.get("peak_rss_mb"),
            },
            # CPU seconds (user + system) of each process: less noisy than wall time on a shared machine.
            "cpu_seconds": {name: round(p.cpu, 2) for name, p in peaks.items()},
            # With the servers' CPU: the run's work divided by the cores is a floor for its wall time.
            "server_cpu_seconds": {k: server_cpu[k] for k in ("postgres", "redis")},
            "machine_busy_cpu_seconds": server_cpu["machine"],
            "cores": psutil.cpu_count(),
            "cpu_floor_seconds": round(
                (sum(p.cpu for p in peaks.values()) + sum(v or 0 for k, v in server_cpu.items() if k != "machine"))
                / (psutil.cpu_count() or 1),
                2,
            ),
            "duckdb_read_csv_seconds": round(raw_seconds, 2),
            "ratio_to_duckdb_read_csv": round(elapsed / raw_seconds, 2),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        return report

    def _duckdb_raw_load(self, csv_path: Path) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            con = duckdb.connect(str(Path(tmp) / "raw.duckdb"))
            t = time.perf_counter()
            con.execute(f"CREATE TABLE raw AS SELECT * FROM read_csv('{str(csv_path).replace(chr(39), chr(39) * 2)}')")
            seconds = time.perf_counter() - t
            con.close()
        return seconds

    def _fresh_connection(self, tenant, folder: Path):
        """Start clean: no DuckDB file, no history, no streams, one filesource connection on the file."""
        from benchmarks.history import history_truncate
        from connectors.models import Connection
        from connectors.services import connection_create

        shutil.rmtree(store.tenant_dir(tenant), ignore_errors=True)
        r = binary_redis()
        with tenant_context(tenant):
            history_truncate()  # no DuckDB file: no history either (each run is a first load)
            for old in Connection.objects.all():
                r.delete(stream_key(tenant, old.pk))
                old.delete()
            return connection_create(
                name="Salesforce export (bench)",
                kind="filesource",
                config={"folder": str(folder), "source_system": "salesforce"},
            )
