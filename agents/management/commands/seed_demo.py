from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from tenants.models import Tenant
from tenants.money.demo import DEMO_RATES
from tenants.services import public_tenant_ensure, tenant_create

DEMO_SLUG = "demo"
DEMO_USER = "admin"
DEMO_PASSWORD = "AutonomOS-demo-2026"
# A new demo tenant syncs the Salesforce deals three times (connectors/demo/revenue.py `revise_deals`):
# revision 0 dated back 35 days, revision 1 dated back 14 days, revision 2 now, so its history has the
# pushed deals, amount changes and stage moves the RevOps waterfall, slippage and time in stage read.
DEMO_SNAPSHOT_AGES = (timedelta(days=35), timedelta(days=14))


class Command(BaseCommand):
    help = ("Create the demo tenant (admin / AutonomOS-demo-2026), write the bundled sample exports, "
            "load the demo FX rates, connect them as filesource connections, sync them and run the agents. "
            "Safe to run again.")

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=int, default=1, help="multiply the sample data size")

    def handle(self, *args, scale: int = 1, **opts):
        public_tenant_ensure()
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant = tenant_create(slug=DEMO_SLUG, name="Demo Co", admin_email="admin@demo.example",
                                   admin_password=DEMO_PASSWORD, admin_username=DEMO_USER).tenant
            self.stdout.write(f"created tenant {DEMO_SLUG}")
        else:
            self.stdout.write(f"tenant {DEMO_SLUG} exists")
        out = Path(settings.DATA_DIR) / "demo-exports"
        demo_sync(tenant, out, scale=scale, stdout=self.stdout, stderr=self.stderr)
        # Then the agents over the unified views (RevOps and FinOps results on the dashboard).
        call_command("run_agents", tenant=tenant.slug, stdout=self.stdout, stderr=self.stderr)


HISTORY_TABLES = ("dcl_history_opportunity", "dcl_history_account")


def demo_sync(tenant, out: Path, *, scale: int = 1, as_of=None, stdout, stderr) -> None:
    """Write the demo exports under `out`, connect them, load the demo rates and sync: a tenant without
    history goes through the earlier snapshots of the Salesforce deals first (dated back), one with
    history syncs the latest snapshot only."""
    from connectors.demo import generate
    from connectors.services import demo_connections_ensure

    with schema_context(tenant.schema_name):
        fresh = not _has_history()
    last = len(DEMO_SNAPSHOT_AGES)
    revisions = list(range(last + 1)) if fresh else [last]
    for revision in revisions:
        counts = generate(out, scale=scale, as_of=as_of, revision=revision)
        stdout.write(f"wrote {sum(counts.values()):,} sample rows in {len(counts)} exports to {out} "
                     f"(snapshot {revision})")
        if revision == revisions[0]:
            with schema_context(tenant.schema_name):
                connections = demo_connections_ensure(directory=out)
            stdout.write(f"{len(connections)} demo connections ready: " + ", ".join(c.name for c in connections))
            # FX rates first (a composed file in the ECB format, tenants/money/demo.py): the views convert
            # every amount to the tenant's reporting currency when they are materialized.
            call_command("fx_load", str(DEMO_RATES), tenant=tenant.slug, stdout=stdout, stderr=stderr)
        # Sync every source through the real path (mapping → streams → DCL → unified views).
        call_command("sync", tenant=tenant.slug, stdout=stdout, stderr=stderr)
        if revision < last:
            later = DEMO_SNAPSHOT_AGES[revision + 1] if revision + 1 < last else timedelta()
            with schema_context(tenant.schema_name):
                _history_date_back(by=DEMO_SNAPSHOT_AGES[revision] - later)


def _has_history() -> bool:
    from dcl.models import OpportunityHistory

    return OpportunityHistory.objects.exists()


def _history_date_back(*, by: timedelta) -> None:
    """Demo only: date the whole history back by `by`, as if the snapshots synced so far had been taken
    that much earlier (each sync of a fresh demo moves all before it: 21 days after the first, 14 after
    the second, so they stand 35 and 14 days back and keep their order)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        for table in HISTORY_TABLES:
            cur.execute(f"UPDATE {table} SET valid_to = valid_to - %s WHERE valid_to IS NOT NULL", [by])
            cur.execute(f"UPDATE {table} SET valid_from = valid_from - %s", [by])
