from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant
from tenants.offboarding import ExportRefused, tenant_export


def describe_export(result) -> str:
    """`12 files, 3 views (45,000 rows), 1.2 MB` and one line per entry."""
    lines = [f"{result.path}: {len(result.entries)} files, {human_bytes(result.bytes)}"]
    lines += [f"  {entry:<48} {rows:>12,} rows" for entry, rows in result.entries.items()]
    return "\n".join(lines)


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


class Command(BaseCommand):
    help = (
        "Export a tenant's data to one zip archive: its unified views (CSV), connections without "
        "secrets, field mappings, review items, review decisions and drift events (JSON Lines), and "
        "manifest.json."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, metavar="SLUG")
        parser.add_argument("--out", required=True, metavar="FILE.zip")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant '{opts['tenant']}'.")
        try:
            result = tenant_export(tenant=tenant, out=Path(opts["out"]))
        except ExportRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"Exported tenant {tenant.slug} ({tenant.tenant_id})"))
        self.stdout.write(describe_export(result))
