"""Write the demo exports: `python manage.py demo_data --out DIR [--scale N] [--seed S] [--as-of YYYY-MM-DD]`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Generate realistic Salesforce, HubSpot, Dynamics 365 and AWS CSV exports for the demo."

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="folder to write (created if missing)")
        parser.add_argument("--scale", type=int, default=1, help="multiplies companies and resources")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--as-of", dest="as_of", help="the demo's 'today' (default: today, UTC)")

    def handle(self, *args, out: str, scale: int, seed: int, as_of: str | None, **options):
        from connectors.demo import generate

        if scale < 1:
            raise CommandError("--scale must be at least 1")
        try:
            day = dt.date.fromisoformat(as_of) if as_of else None
        except ValueError:
            raise CommandError("--as-of must be a date like 2025-06-30") from None
        counts = generate(Path(out), seed=seed, scale=scale, as_of=day)
        for name, rows in counts.items():
            self.stdout.write(f"{rows:>8,}  {name}")
        self.stdout.write(self.style.SUCCESS(f"wrote {len(counts)} files to {Path(out).resolve()}"))
