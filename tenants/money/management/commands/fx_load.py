from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_tenants.utils import schema_context

from tenants.models import Tenant

from ...rates import FxFileError
from ...services import fx_rates_load

MAX_FILE_BYTES = 64 * 1024 * 1024  # the ECB's full history since 1999 is about 7 MB


class Command(BaseCommand):
    help = ("Load an ECB euro reference-rate CSV (eurofxref-hist.csv: Date,USD,JPY,... rates per 1 EUR, N/A "
            "where none) into one tenant's FX rates, or every tenant's. A file with bad rows names the lines "
            "and loads nothing. Views convert when they are next materialized (`materialize --tenant SLUG`).")

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file")
        parser.add_argument("--tenant", help="the tenant's slug (default: every tenant)")

    def handle(self, *args, file: str, tenant: str | None = None, **opts):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise CommandError(f"{file}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; not a rate file")
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        if tenant:
            tenants = list(Tenant.objects.filter(slug=tenant))
            if not tenants:
                raise CommandError(f"no tenant with slug {tenant!r}")
        else:
            tenants = list(Tenant.objects.exclude(schema_name="public").order_by("slug"))
            if not tenants:
                raise CommandError("there is no tenant to load rates into")
        try:
            # All tenants in one transaction: a failure anywhere loads nothing anywhere.
            with transaction.atomic():
                for t in tenants:
                    with schema_context(t.schema_name):
                        result = fx_rates_load(text=text, source=path.name)
                    self.stdout.write(
                        f"{t.slug}: {result.rates:,} rates of {len(result.currencies)} currencies on {result.days:,} "
                        f"days ({result.first_day} to {result.last_day}; {result.not_available:,} N/A cells)")
        except FxFileError as exc:
            raise CommandError(str(exc)) from None
