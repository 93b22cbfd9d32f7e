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


class Command(BaseCommand):
    help = ("Create the demo tenant (admin / AutonomOS-demo-2026), write the bundled sample exports, "
            "load the demo FX rates, connect them as filesource connections, sync them and run the agents. "
            "Safe to run again.")

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=int, default=1, help="multiply the sample data size")

    def handle(self, *args, scale: int = 1, **opts):
        from connectors.demo import generate
        from connectors.services import demo_connections_ensure

        public_tenant_ensure()
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant = tenant_create(slug=DEMO_SLUG, name="Demo Co", admin_email="admin@demo.example",
                                   admin_password=DEMO_PASSWORD, admin_username=DEMO_USER).tenant
            self.stdout.write(f"created tenant {DEMO_SLUG}")
        else:
            self.stdout.write(f"tenant {DEMO_SLUG} exists")
        out = Path(settings.DATA_DIR) / "demo-exports"
        counts = generate(out, scale=scale)
        self.stdout.write(f"wrote {sum(counts.values()):,} sample rows in {len(counts)} exports to {out}")
        with schema_context(tenant.schema_name):
            connections = demo_connections_ensure(directory=out)
        self.stdout.write(f"{len(connections)} demo connections ready: " + ", ".join(c.name for c in connections))
        # FX rates first (a composed file in the ECB format, tenants/money/demo.py): the views convert every
        # amount to the tenant's reporting currency when they are materialized.
        call_command("fx_load", str(DEMO_RATES), tenant=tenant.slug, stdout=self.stdout, stderr=self.stderr)
        # Sync every source through the real path (mapping → streams → DCL → unified views).
        call_command("sync", tenant=tenant.slug, stdout=self.stdout, stderr=self.stderr)
        # Then the agents over the unified views (RevOps and FinOps results on the dashboard).
        call_command("run_agents", tenant=tenant.slug, stdout=self.stdout, stderr=self.stderr)
