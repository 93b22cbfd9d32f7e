"""Benchmark issue #17's targets on a PostgreSQL source: `manage.py bench_pg_sync --rows 1000000`.

Everything goes through the product: a scratch tenant (`tenant_create`'s service), a `postgres`
connection to a scratch source database on the platform's own PostgreSQL server holding an
`opportunities` table of N rows (primary key `id`, an `updated_at` column with an index on
(updated_at, id), so reads are incremental), and each sync is `manage.py sync` in a process of its
own (benchmarks/sync_child.py). In one run it prints, with the target beside each figure:

1. **initial load**: the sync process's wall time (start to exit) and records/s; the work after the
   process started and the run's steps with their seconds;
2. **1% changed** (0.8% of the rows updated, 0.1% inserted, 0.1% deleted): the sync's wall time and
   its share of the initial load's; then the view is checked (row count = source rows, a deleted id
   absent, an inserted id present, an updated amount visible) — a wrong view fails the command;
3. **no change**: the work after the process started, and whether any view was written: the tuples
   inserted/updated/deleted in the tenant's `dcl_vdata_*`/`dcl_view_*` tables (pg_stat_user_tables,
   read after the process ended), tables created or dropped among them, and the catalog's
   `MaterializedView` versions before/after;
4. **change-to-API freshness** (unless `--skip-freshness`): a Celery worker (prefork, 2 processes)
   and `celery beat` with django-celery-beat's DatabaseScheduler, as scripts/run.sh starts them, the
   connection's schedule set to every second (ADR 0017); one source row changed every
   `--freshness-every` seconds, `--freshness-changes` times (its amount set to a marker); the API
   (`/api/dcl/views/opportunity/?amount__in=<markers>`, on the web server of scripts/web.sh) polled
   until each marker shows with its row's id: p50/p95/p99/max seconds from the source's commit;
5. **peak RSS per process** (VmHWM): each sync process; the web server after serving view pages; the
   worker's main and pool processes while the scheduled syncs ran, and their RSS once the tasks
   were over (memory given back: RSS after ≤ half the peak, or a peak under 256 MiB).

The beat started here fires every schedule of the database it runs against, and the worker takes
every task of the broker's Redis db: run it with a database and a Redis db of its own (the command
refuses the freshness phase when other tenants' schedules are enabled). The scratch tenant and the
source database are dropped afterwards, also on failure, Ctrl-C or SIGTERM. A missed target is
printed as MISS; only a correctness failure (a wrong view, a failed sync) exits non-zero.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection as pg_connection
from django.test.utils import override_settings
from django_tenants.utils import tenant_context

from .pg_read import _server
from .pg_sync_procs import (
    ApiClient,
    RssSampler,
    Service,
    child_env,
    free_port,
    memory_of,
    port_open,
    sync_in_child,
    wait_for,
)

PASSWORD = "Bench-pg-sync-2026!"
GIB_MB = 1024.0
MARKER = 90_000_000  # freshness markers: amounts no generated row has (they stay under 170,000)

SOURCE_TABLE = """
CREATE TABLE opportunities (
    id bigint PRIMARY KEY, account_id text, name text NOT NULL, stage text, amount numeric(14, 2),
    currency text, probability integer, close_date date, is_closed boolean, is_won boolean, owner_id text,
    forecast_category text, type text, lead_source text, created_at timestamptz, updated_at timestamptz NOT NULL
);
CREATE INDEX opportunities_updated_at ON opportunities (updated_at, id)
"""
FILL = """
INSERT INTO opportunities
SELECT g, 'ACC-' || (g % 5000), 'Deal ' || g,
       (ARRAY['Prospecting', 'Qualification', 'Proposal', 'Negotiation', 'Closed Won', 'Closed Lost'])[1 + g % 6],
       round(((g * 7919) % 500000) / 3.0, 2), 'USD', (g * 13) % 101, date '2024-01-01' + (g % 900)::int,
       g % 6 >= 4, g % 6 = 4, 'USR-' || (g % 200),
       (ARRAY['Pipeline', 'Best Case', 'Commit', 'Closed', 'Omitted'])[1 + g % 5],
       (ARRAY['New Business', 'Renewal', 'Upsell'])[1 + g % 3], (ARRAY['Web', 'Partner', 'Event'])[1 + g % 3],
       timestamptz '2023-01-01 00:00:00+00' + g * interval '17 seconds',
       timestamptz '2024-06-01 00:00:00+00' + g * interval '11 seconds'
FROM generate_series({start}::bigint, {stop}::bigint) g
"""
# The 1% change: 0.8% updated (id % 125 = 7), 0.1% deleted (id % 1000 = 500, never an updated one), 0.1% new.
UPDATE = """
UPDATE opportunities SET amount = amount + 1000, updated_at = clock_timestamp(),
       stage = CASE WHEN stage = 'Closed Won' THEN 'Negotiation' ELSE 'Closed Won' END
WHERE id % 125 = 7
"""
DELETE = "DELETE FROM opportunities WHERE id % 1000 = 500"


def _verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("PASS" if ok else "MISS")


def _pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


class Bench:
    """One run: set up, measure, tear down (`cleanup` always runs)."""

    def __init__(self, *, rows: int, changes: int, every: float, timeout: float, freshness: bool, out,
                 deletes_check: int | None = None) -> None:
        self.rows, self.changes, self.every, self.timeout, self.freshness = rows, changes, every, timeout, freshness
        self.out = out
        self.deletes_check = deletes_check  # the connection's deletes_check_seconds after the 1% change
        tag = uuid.uuid4().hex[:8]
        self.source_db = f"bench_pg_sync_{tag}"
        self.slug = f"benchpgsync{tag}"  # no underscore: a host name cannot have one
        self.work = Path(tempfile.mkdtemp(prefix="bench_pg_sync_"))
        self.server = _server()
        self.tenant = None
        self.connection_id: int | None = None
        self.services: list[Service] = []
        self.report: dict = {"rows": rows, "source_database": self.source_db, "tenant": self.slug}
        self.failures: list[str] = []

    def say(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    # -- set-up and tear-down ---------------------------------------------------------------------

    def _source(self):
        return psycopg.connect(dbname=self.source_db, autocommit=True, **self.server)

    def setup(self) -> None:
        from connectors.services import connection_create
        from tenants.services import tenant_create

        started = time.monotonic()
        with psycopg.connect(dbname="postgres", autocommit=True, **self.server) as admin:
            admin.execute(f'CREATE DATABASE "{self.source_db}"')
        with self._source() as src:
            src.execute(SOURCE_TABLE)
            src.execute(FILL.format(start=1, stop=int(self.rows)))
            src.execute("VACUUM ANALYZE opportunities")
        self.say(f"source: {self.rows:,} rows in {time.monotonic() - started:.1f}s (database {self.source_db})")
        self.tenant = tenant_create(slug=self.slug, name="Benchmark (pg sync)", admin_email="admin@bench.example",
                                    admin_password=PASSWORD, admin_username="admin").tenant
        config = {"host": self.server.get("host", "127.0.0.1"), "port": self.server.get("port", 5432),
                  "database": self.source_db, "sslmode": "disable", "tables": ["opportunities"]}
        if self.server.get("user"):
            config["user"] = self.server["user"]
        secrets = {"password": self.server["password"]} if self.server.get("password") else {}
        with tenant_context(self.tenant), override_settings(CONNECTORS_ALLOW_PRIVATE_NETWORK=True):
            self.connection_id = connection_create(name="PostgreSQL (bench)", kind="postgres", config=config,
                                                   secrets=secrets).pk

    def cleanup(self) -> None:
        for service in reversed(self.services):
            service.stop()
        if self.tenant is not None:
            from tenants.services import tenant_delete

            pg_connection.set_schema_to_public()
            try:
                tenant_delete(tenant=self.tenant, force=True)
            except Exception as exc:  # noqa: BLE001 - say it, and go on dropping the source
                self.say(f"could not delete the scratch tenant {self.slug}: {exc}")
        with psycopg.connect(dbname="postgres", autocommit=True, **self.server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.source_db}" WITH (FORCE)')
        shutil.rmtree(self.work, ignore_errors=True)

    # -- the view and what was written to it --------------------------------------------------------

    def _view(self, sql: str, params=None):
        schema = self.tenant.schema_name
        with pg_connection.cursor() as cur:
            cur.execute(sql.replace("{view}", f'"{schema}".dcl_view_opportunity'), params)
            return cur.fetchall()

    def _written(self) -> dict:
        """What the views' tables hold in the statistics (tuples written, per table), and the catalog."""
        from dcl.models import MaterializedView

        with pg_connection.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute(
                "SELECT relid, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE schemaname = %s "
                "AND (relname LIKE 'dcl\\_vdata\\_%%' OR relname LIKE 'dcl\\_view\\_%%')", [self.tenant.schema_name])
            tuples = dict(cur.fetchall())
        with tenant_context(self.tenant):
            catalog = dict(MaterializedView.objects.values_list("entity", "version"))
        return {"tuples": tuples, "catalog": catalog}

    def _writes_between(self, before: dict) -> dict:
        # A sync process's backends report their statistics as they exit: read until two reads agree.
        after, previous = self._written(), None
        for _ in range(10):
            if after == previous:
                break
            time.sleep(0.5)
            previous, after = after, self._written()
        tuples = sum(n - before["tuples"].get(rel, 0) for rel, n in after["tuples"].items())
        created = len(set(after["tuples"]) - set(before["tuples"]))
        dropped = len(set(before["tuples"]) - set(after["tuples"]))
        versions = {e: (before["catalog"].get(e), v) for e, v in after["catalog"].items()
                    if before["catalog"].get(e) != v}
        return {"tuples_written": tuples, "tables_created": created, "tables_dropped": dropped,
                "view_versions_changed": versions,
                "wrote": bool(tuples or created or dropped or versions)}

    # -- the phases -----------------------------------------------------------------------------------

    def _sync(self, label: str) -> dict:
        report = sync_in_child(tenant=self.slug, connection_id=self.connection_id, log=self.work / "sync.log")
        steps = {f"{s['step']}": s["seconds"] for s in report["output"].get("steps", [])}
        self.say(f"{label}: {report['wall_seconds']:.2f}s wall, {report['work_seconds']:.2f}s of work after "
                 f"{report['startup_seconds']:.2f}s start-up; steps {steps}; peak RSS {report['peak_rss_mb']} MB")
        return report

    def _source_count(self) -> int:
        with self._source() as src:
            return src.execute("SELECT count(*) FROM opportunities").fetchone()[0]

    def initial(self) -> None:
        run = self._sync("initial load")
        landed = self._view("SELECT count(*) FROM {view}")[0][0]
        if landed != self.rows:
            self.failures.append(f"initial load: the view holds {landed:,} rows of {self.rows:,}")
        self.report["initial"] = {**run, "view_rows": landed,
                                  "records_per_second": round(self.rows / run["wall_seconds"]),
                                  "records_per_second_of_work": round(self.rows / run["work_seconds"])}

    def changed(self) -> None:
        with self._source() as src:
            updated = src.execute(UPDATE).rowcount
            deleted = src.execute(DELETE).rowcount
            added = max(1, self.rows // 1000)
            src.execute(FILL.format(start=self.rows + 1, stop=self.rows + added))
            probe = src.execute("SELECT id, amount FROM opportunities WHERE id % 125 = 7 ORDER BY id LIMIT 1")
            probe = probe.fetchone()
        before = self._written()
        run = self._sync("1% changed")
        writes = self._writes_between(before)
        expected = self._source_count()
        checks = {
            "row_count": (self._view("SELECT count(*) FROM {view}")[0][0], expected),
            "deleted_absent": (self._view("SELECT count(*) FROM {view} WHERE id = '500'")[0][0], 0),
            "inserted_present": (self._view("SELECT count(*) FROM {view} WHERE id = %s", [str(self.rows + 1)])[0][0],
                                 1),
            "updated_visible": (self._view("SELECT amount FROM {view} WHERE id = %s", [str(probe[0])]),
                                [(Decimal(probe[1]),)]),
        }
        wrong = {k: {"found": str(v[0]), "expected": str(v[1])} for k, v in checks.items() if v[0] != v[1]}
        if wrong:
            self.failures.append(f"after the 1% change the view is wrong: {wrong}")
        self.report["changed"] = {**run, "updated": updated, "inserted": added, "deleted": deleted,
                                  "view_checks": "ok" if not wrong else wrong, "view_writes": writes}

    def _deletes_interval(self, seconds: int) -> None:
        """From here on, the connection compares its keys for deletes once per `seconds` (ADR 0022): the
        no-change sync and the scheduled ones then cost what their changes cost."""
        from connectors.models import Connection

        with tenant_context(self.tenant):
            conn = Connection.objects.get(pk=self.connection_id)
            Connection.objects.filter(pk=conn.pk).update(config={**conn.config, "deletes_check_seconds": seconds})
        self.report["deletes_check_seconds"] = seconds
        self.say(f"deletes compared once per {seconds}s from now on (the connection's deletes_check_seconds)")

    def unchanged(self) -> None:
        before = self._written()
        run = self._sync("no change")
        self.report["unchanged"] = {**run, "view_writes": self._writes_between(before)}

    # -- the processes of `make run`: web, worker, beat ---------------------------------------------

    def _start(self, name: str, argv: list[str], **env: str) -> Service:
        service = Service(name, argv, self.work / f"{name}.log", child_env(**env))
        self.services.append(service)
        return service

    def api(self) -> tuple[Service, ApiClient]:
        """The web server (scripts/web.sh, one process) and a client with the admin's token; serves view
        pages (orderings, filters, search, a deep page) and records the server's peak RSS."""
        port = free_port()
        web = self._start("web", ["bash", "scripts/web.sh"], PYTHON=sys.executable, HOST="127.0.0.1", PORT=str(port),
                          WEB_CONCURRENCY="1")
        wait_for(lambda: port_open(port) or not web.alive(), timeout=60, what="the web server")
        if not web.alive():
            raise RuntimeError(f"the web server stopped:\n{web.tail()}")
        client = ApiClient(f"http://127.0.0.1:{port}", f"{self.slug}.{settings.TENANT_BASE_DOMAIN}", "admin", PASSWORD)
        client.login()
        path = "/api/dcl/views/opportunity/"
        pages = [{"page_size": 1000, "page": p} for p in sorted({1, 2, self.rows // 2000, self.rows // 1000} - {0})]
        pages += [{"page_size": 1000, "ordering": o} for o in ("-amount", "close_date,name", "-updated_at")]
        pages += [{"page_size": 1000, "stage": "Closed Won", "ordering": "-amount"}, {"search": "Deal 12"},
                  {"page_size": 1000, "amount__gte": "1000", "close_date__lt": "2025-01-01"}]
        started = time.monotonic()
        for params in pages:
            client.get(path, params)
        self.report["api_pages"] = {"pages": len(pages), "seconds": round(time.monotonic() - started, 2),
                                    "memory_mb": memory_of(web.tree())}
        return web, client

    def _other_schedules(self) -> int:
        from django_celery_beat.models import PeriodicTask

        from tenants.offboarding import periodic_task_prefix

        ours = periodic_task_prefix(self.tenant.tenant_id)
        return (PeriodicTask.objects.filter(enabled=True, name__startswith="tenant:")
                .exclude(name__startswith=ours).count())

    def fresh(self, web: Service, client: ApiClient) -> None:
        from autonomos.celery import app
        from connectors.models import Connection
        from dcl.models import ConnectionRun
        from dcl.schedules.services import connection_schedule_delete, connection_schedule_set
        from dcl.schedules.spec import ScheduleSpec

        others = self._other_schedules()
        if others:
            self.report["freshness"] = {"skipped": f"{others} other tenants' schedules are enabled in this database: "
                                                   "beat would run them too (use a database of the benchmark's own)"}
            return
        celery = [sys.executable, "-m", "celery", "-A", "autonomos"]
        name = f"{self.slug}@%h"
        worker = self._start("worker", [*celery, "worker", "--loglevel=INFO", "--concurrency=2", "-n", name])
        wait_for(lambda: not worker.alive() or any(self.slug in k for r in app.control.ping(timeout=0.5) for k in r),
                 timeout=90, what="the Celery worker")
        if not worker.alive():
            raise RuntimeError(f"the Celery worker stopped:\n{worker.tail()}")
        with tenant_context(self.tenant):
            conn = Connection.objects.get(pk=self.connection_id)
            connection_schedule_set(connection=conn, spec=ScheduleSpec(kind="interval", every_seconds=1))
        beat = self._start("beat", [*celery, "beat", "--loglevel=INFO", "--scheduler",
                                    "django_celery_beat.schedulers:DatabaseScheduler"])
        sampler = RssSampler(worker)

        def runs(status: str) -> int:
            with tenant_context(self.tenant):
                return ConnectionRun.objects.filter(status=status).count()

        # Warm-up: the worker's first run imports and opens everything; the figures start after it.
        wait_for(lambda: runs("succeeded") > 0 or not (worker.alive() and beat.alive()), timeout=600, every=0.5,
                 what="the first scheduled run")
        if not (worker.alive() and beat.alive()):
            raise RuntimeError(f"the worker or beat stopped:\n{worker.tail()}\n{beat.tail()}")
        latencies, unseen = self._changes(client)
        with tenant_context(self.tenant):
            connection_schedule_delete(connection=Connection.objects.get(pk=self.connection_id))
        wait_for(lambda: runs("running") == 0, timeout=600, every=0.5, what="the last scheduled run to end")
        time.sleep(3)
        sampler.stop()
        after = memory_of(worker.tree())
        with tenant_context(self.tenant):
            counts = {s: runs(s) for s in ("succeeded", "failed", "skipped")}
        self.report["freshness"] = {
            "changes": self.changes, "every_seconds": self.every, "seen": len(latencies), "unseen": unseen,
            "polled": "the API: GET /api/dcl/views/opportunity/?amount__in=<markers> (web server of scripts/web.sh)",
            "p50": round(_pct(latencies, 0.50), 2) if latencies else None,
            "p95": round(_pct(latencies, 0.95), 2) if latencies else None,
            "p99": round(_pct(latencies, 0.99), 2) if latencies else None,
            "max": round(max(latencies), 2) if latencies else None,
            "mean": round(statistics.fmean(latencies), 2) if latencies else None,
            "scheduled_runs": counts,
        }
        self.report["worker_memory_mb"] = {
            str(pid): {"name": mem["name"], "peak_rss_mb": round(sampler.peak.get(pid, mem["peak_rss_mb"] or 0), 1),
                       "rss_after_tasks_mb": mem["rss_mb"]}
            for pid, mem in after.items()
        }
        self.report["beat_memory_mb"] = memory_of(beat.tree())
        self.report["api_memory_mb"] = memory_of(web.tree())

    def _changes(self, client: ApiClient) -> tuple[list[float], int]:
        """Change one source row every `every` seconds; poll the API for each change until it shows."""
        path, step = "/api/dcl/views/opportunity/", max(1, self.rows // max(1, self.changes))
        pending: dict[int, tuple[str, float]] = {}
        latencies: list[float] = []
        unseen, made = 0, 0
        next_at = time.monotonic()
        with self._source() as src:
            while made < self.changes or pending:
                now = time.monotonic()
                if made < self.changes and now >= next_at:
                    target = 3 + made * step
                    target += 1 if target % 1000 == 500 or target % 125 == 7 else 0
                    src.execute("UPDATE opportunities SET amount = %s, updated_at = clock_timestamp() WHERE id = %s",
                                [MARKER + made, target])
                    pending[MARKER + made] = (str(target), time.monotonic())
                    made += 1
                    next_at += self.every
                if pending:
                    markers = ",".join(str(m) for m in sorted(pending))
                    page = client.get(path, {"amount__in": markers, "page_size": 1000})
                    seen_at = time.monotonic()
                    for row in page.get("results", []):
                        marker = int(Decimal(str(row.get("amount"))))
                        if marker in pending and pending[marker][0] == str(row.get("id")):
                            latencies.append(seen_at - pending.pop(marker)[1])
                    for marker, (_, changed_at) in list(pending.items()):
                        if seen_at - changed_at > self.timeout:
                            del pending[marker]
                            unseen += 1
                time.sleep(max(0.0, min(0.2, next_at - time.monotonic()) if made < self.changes else 0.2))
        return latencies, unseen

    def run(self) -> None:
        self.setup()
        self.initial()
        if not self.failures:
            self.changed()
            if self.deletes_check is not None:
                self._deletes_interval(self.deletes_check)
            self.unchanged()
        web, client = self.api()
        try:
            if self.freshness and not self.failures:
                self.fresh(web, client)
            self.report.setdefault("api_memory_mb", memory_of(web.tree()))
        finally:
            client.close()

    # -- the table of figures -----------------------------------------------------------------------

    def table(self) -> list[tuple[str, str, str, str]]:
        r, rows = self.report, []
        ini, chg, unc = r.get("initial"), r.get("changed"), r.get("unchanged")
        if ini:
            rows.append(("initial load, records/s (process wall)", f"{ini['records_per_second']:,} "
                         f"({ini['wall_seconds']:.2f}s)", "≥ 100,000", _verdict(ini["records_per_second"] >= 100_000)))
        if chg and ini:
            share = chg["wall_seconds"] / ini["wall_seconds"]
            rows.append(("1% changed: sync wall / initial", f"{chg['wall_seconds']:.2f}s = {share:.1%}", "≤ 5%",
                         _verdict(share <= 0.05)))
            rows.append(("1% changed: view correct", "yes" if chg["view_checks"] == "ok" else "NO", "yes",
                         "PASS" if chg["view_checks"] == "ok" else "FAIL"))
            rows.append(("1% changed: tuples written to views", f"{chg['view_writes']['tuples_written']:,}", "—", "—"))
        if unc:
            rows.append(("no change: work after process start", f"{unc['work_seconds']:.2f}s", "≤ 0.5 s",
                         _verdict(unc["work_seconds"] <= 0.5)))
            w = unc["view_writes"]
            rows.append(("no change: view writes", f"{w['tuples_written']:,} tuples, {w['tables_created']} tables, "
                         f"versions {w['view_versions_changed'] or 'same'}", "none", _verdict(not w["wrote"])))
        fresh = r.get("freshness") or {}
        if fresh.get("skipped"):
            rows.append(("change-to-API freshness", "skipped", "p99 ≤ 5 s", "—"))
        elif fresh:
            rows.append(("change-to-API p50 / p95 / p99 / max",
                         f"{fresh['p50']} / {fresh['p95']} / {fresh['p99']} / {fresh['max']} s "
                         f"({fresh['seen']} seen, {fresh['unseen']} unseen)", "p99 ≤ 5 s",
                         _verdict(fresh["p99"] is not None and not fresh["unseen"] and fresh["p99"] <= 5)))
        syncs = [r[k]["peak_rss_mb"] for k in ("initial", "changed", "unchanged") if r.get(k)]
        if syncs:
            rows.append(("peak RSS: sync process (max of runs)", f"{max(syncs):,.0f} MB", "< 1 GiB",
                         _verdict(max(syncs) < GIB_MB)))
        api = r.get("api_memory_mb") or {}
        if api:
            peak = max(m["peak_rss_mb"] or 0 for m in api.values())
            rows.append(("peak RSS: API process", f"{peak:,.0f} MB", "< 1 GiB", _verdict(peak < GIB_MB)))
        workers = r.get("worker_memory_mb") or {}
        if workers:
            peak = max(m["peak_rss_mb"] for m in workers.values())
            rows.append(("peak RSS: Celery worker (max of its processes)", f"{peak:,.0f} MB", "< 1 GiB",
                         _verdict(peak < GIB_MB)))
            kept = [(m["rss_after_tasks_mb"], m["peak_rss_mb"]) for m in workers.values()]
            given_back = all(after <= peak / 2 or peak < 256 for after, peak in kept)
            rows.append(("worker RSS after tasks / peak", ", ".join(f"{a:,.0f}/{p:,.0f} MB" for a, p in kept),
                         "given back", _verdict(given_back)))
        return rows


class Command(BaseCommand):
    help = "Issue #17's targets on a PostgreSQL source of N rows: initial load, 1% change, no change, freshness, RSS."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--freshness-changes", type=int, default=100, help="source rows changed one at a time")
        parser.add_argument("--freshness-every", type=float, default=0.75, help="seconds between two changes")
        parser.add_argument("--freshness-timeout", type=float, default=300.0,
                            help="seconds after which a change not seen in the API counts as unseen")
        parser.add_argument("--skip-freshness", action="store_true")
        parser.add_argument("--deletes-check-seconds", type=int, default=None,
                            help="after the 1%% change, compare keys for deletes once per N seconds (ADR 0022)")

    def handle(self, *args, **opts):
        if opts["rows"] < 1000 or opts["freshness_changes"] < 1 or opts["freshness_every"] <= 0:
            raise CommandError("--rows must be at least 1,000, --freshness-changes and --freshness-every positive")
        bench = Bench(rows=opts["rows"], changes=opts["freshness_changes"], every=opts["freshness_every"],
                      timeout=opts["freshness_timeout"], freshness=not opts["skip_freshness"], out=self.stdout,
                      deletes_check=opts["deletes_check_seconds"])
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            bench.run()
        except (RuntimeError, psycopg.Error, httpx.HTTPError) as exc:
            bench.failures.append(f"{exc.__class__.__name__}: {exc}")
        finally:
            try:
                bench.cleanup()
            finally:
                signal.signal(signal.SIGTERM, previous)
        bench.report["load_average"] = [round(x, 2) for x in os.getloadavg()]
        bench.report["failures"] = bench.failures
        self._print(bench)
        if bench.failures:
            raise CommandError("; ".join(bench.failures))

    def _print(self, bench: Bench) -> None:
        rows = bench.table()
        width = max((len(r[0]) for r in rows), default=10)
        value_width = max((len(r[1]) for r in rows), default=10)
        self.stdout.write(f"\n{'figure':<{width}}  {'measured':<{value_width}}  {'target':<10}  result")
        for name, value, target, verdict in rows:
            self.stdout.write(f"{name:<{width}}  {value:<{value_width}}  {target:<10}  {verdict}")
        self.stdout.write(f"load average {bench.report['load_average']}, {os.cpu_count()} cores")
        self.stdout.write("JSON " + json.dumps(bench.report, default=str))


def _interrupt(signum, frame):
    raise KeyboardInterrupt
