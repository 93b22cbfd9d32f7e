"""Benchmark the CSV export of a unified view: `manage.py bench_export --tenant SLUG --entity opportunity`.

Runs the export exactly as `GET /api/dcl/views/<entity>/?format=csv` does (dcl/export.py: keyset pages,
CSV encoding), over the tenant's materialized view, and throws the bytes away. Prints per run: rows,
megabytes, seconds, rows/s, the number of page queries, the time spent in them, the slowest and the process' RSS
growth; then one more run under tracemalloc (which slows Python several times, so it is not timed)
for the peak of Python memory allocated: the export's memory must not grow with the view.
`--ordering` / `--filter field=value` / `--search` export a filtered, sorted view as the page would.
A view to export: `bench_ingest --rows 1000000 --tenant bench --keep` leaves one. It prints figures;
it asserts nothing.
"""

from __future__ import annotations

import json
import statistics
import time
import tracemalloc

import psutil
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django_tenants.utils import tenant_context

from dcl import export as dcl_export
from dcl.selectors import ViewQueryError


class Command(BaseCommand):
    help = "CSV export of a unified view (rows/s, page queries, peak memory): the API's ?format=csv path."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--entity", default="opportunity")
        parser.add_argument("--ordering", default=None, help='as the API\'s ?ordering= ("-amount,close_date")')
        parser.add_argument("--filter", action="append", default=[], help="field[__op]=value, as the API's filters")
        parser.add_argument("--search", default=None)
        parser.add_argument("--page-rows", type=int, default=None, help=f"default {dcl_export.EXPORT_PAGE_ROWS}")
        parser.add_argument("--runs", type=int, default=1)

    def handle(self, *args, **opts):
        from tenants.models import Tenant

        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {opts['tenant']!r}")
        filters = {}
        for item in opts["filter"]:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--filter {item!r}: use field=value")
            filters[key] = value
        reports = []
        with tenant_context(tenant):
            for _ in range(max(1, opts["runs"])):
                try:
                    export = dcl_export.view_export(entity=opts["entity"], filters=filters, ordering=opts["ordering"],
                                                    search=opts["search"])
                except ViewQueryError as exc:
                    raise CommandError(f"{exc.message} {exc.details}") from None
                reports.append(self._run(export, opts["page_rows"]))
                self.stdout.write(json.dumps(reports[-1], indent=2))
            traced = self._run(export, opts["page_rows"], trace=True)
        if len(reports) > 1:
            self.stdout.write(json.dumps({k: statistics.median(r[k] for r in reports) for k in
                                          ("seconds", "rows_per_second", "rss_growth_mb")}
                                         | {"median_of_runs": len(reports)}, indent=2))
        self.stdout.write(json.dumps({"rows": traced["rows"], "peak_python_mb": traced["peak_python_mb"]}, indent=2))

    def _run(self, export, page_rows, *, trace: bool = False) -> dict:
        process = psutil.Process()
        rss_before = process.memory_info().rss
        slowest = in_queries = 0.0
        queries = 0
        execute = connection.execute_wrapper

        def timed(run, sql, params, many, context):
            nonlocal slowest, queries, in_queries
            started = time.perf_counter()
            try:
                return run(sql, params, many, context)
            finally:
                if "LIMIT" in sql and export.entity in sql:
                    queries += 1
                    took = time.perf_counter() - started
                    in_queries += took
                    slowest = max(slowest, took)

        if trace:
            tracemalloc.start()
        started = time.perf_counter()
        size = lines = 0
        with execute(timed):
            for chunk in dcl_export.export_csv(export, page_rows=page_rows):
                size += len(chunk)
                lines += chunk.count(b"\r\n")
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        if trace:
            tracemalloc.stop()
        rows = lines - 1  # the header; a cell's own line breaks are "\n", never "\r\n" (csv quotes them)
        return {
            "entity": export.entity,
            "rows": rows,
            "megabytes": round(size / 1e6, 1),
            "seconds": round(seconds, 2),
            "rows_per_second": round(rows / seconds) if seconds else None,
            "page_rows": page_rows or dcl_export.EXPORT_PAGE_ROWS,
            "page_queries": queries,
            "page_query_seconds": round(in_queries, 2),
            "slowest_page_query_ms": round(slowest * 1000, 1),
            "peak_python_mb": round(peak / 1e6, 1) if trace else None,
            "rss_growth_mb": round((process.memory_info().rss - rss_before) / 1e6, 1),
        }
