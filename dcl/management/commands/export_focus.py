"""python manage.py export_focus --tenant T --out FILE [--format csv|parquet]

Writes the tenant's cost view as a FOCUS 1.2 dataset (dcl/focus.py). A tenant without cost lines
exits non-zero with the reason and writes no file (docs/adr/0030)."""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from ._tenant import tenant_by_slug


class Command(BaseCommand):
    help = "Export the tenant's cost view as FOCUS 1.2 (CSV or Parquet, by --format or the file's suffix)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--out", required=True, help="file to write (.csv or .parquet)")
        parser.add_argument("--format", choices=("csv", "parquet"), default=None,
                            help="overrides the file's suffix")

    def handle(self, *args, tenant: str, out: str, format: str | None = None, **opts):
        from dcl.focus import EmptyExport, export_focus

        t = tenant_by_slug(tenant)
        with schema_context(t.schema_name):
            try:
                written = export_focus(out, fmt=format)
            except EmptyExport as exc:
                raise CommandError(f"{tenant}: {exc}") from exc
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        self.stdout.write(f"{tenant}: {written.rows:,} cost lines written as FOCUS 1.2 ({written.format}) to "
                          f"{written.path}")
