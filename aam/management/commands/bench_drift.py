"""Benchmark drift detection and repair: `python manage.py bench_drift --tenant <slug> [--limit N] [--details]`."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Run the drift scenario suite (hand-written + generated from every demo file) under the auto policy "
        "inside a tenant, print detection and repair figures, and roll everything back."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug to run in (nothing is kept)")
        parser.add_argument("--limit", type=int, help="run only the first N scenarios")
        parser.add_argument("--details", action="store_true", help="list misses, wrong repairs and false alarms")

    def handle(self, *args, tenant: str, limit: int | None = None, details: bool = False, **options):
        from django.test.utils import override_settings
        from django_tenants.utils import tenant_context

        from benchmarks.drift import run_benchmark
        from tenants.models import Tenant

        target = Tenant.objects.filter(slug=tenant).exclude(schema_name="public").first()
        if target is None:
            raise CommandError(f"no tenant {tenant!r}")
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")

        def progress(i: int, n: int, name: str) -> None:
            bar = "#" * int(30 * i / n)
            sys.stderr.write(f"\r[{bar:<30}] {i}/{n} {name[:50]:<50}")
            if i == n:
                sys.stderr.write("\n")

        # no Slack messages from a benchmark
        with tenant_context(target), override_settings(SLACK_WEBHOOK_URL=""):
            figures = run_benchmark(progress=progress, limit=limit)
        for line in figures.lines():
            self.stdout.write(line)
        if details:
            for title, rows in (
                ("missed", figures.missed),
                ("wrong", figures.wrong_auto),
                ("false alarms", figures.false_alarms),
                ("left to a human", figures.renames_left),
            ):
                for row in rows:
                    self.stdout.write(f"  {title}: {row}")
