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
        parser.add_argument("--tenant", help="also create (idempotently) the demo connections in this tenant (slug)")

    def handle(self, *args, out: str, scale: int, seed: int, as_of: str | None, tenant: str | None = None, **options):
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
        if tenant:
            self._connections(tenant, Path(out))

    def _connections(self, slug: str, out: Path) -> None:
        from django.core.exceptions import ValidationError
        from django_tenants.utils import schema_context

        from connectors.services import demo_connections_ensure
        from tenants.models import Tenant

        if not Tenant.objects.filter(slug=slug).exclude(schema_name="public").exists():
            raise CommandError(f"no tenant {slug!r}")
        with schema_context(slug):
            try:
                connections = demo_connections_ensure(directory=out)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
        for conn in connections:
            self.stdout.write(f"connection {conn.pk}: {conn.name}")
