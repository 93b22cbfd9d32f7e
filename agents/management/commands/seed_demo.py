from django.core.management.base import BaseCommand

from tenants.models import Tenant
from tenants.services import public_tenant_ensure, tenant_create

DEMO_SLUG = "demo"
DEMO_USER = "admin"
DEMO_PASSWORD = "AutonomOS-demo-2026"


class Command(BaseCommand):
    help = "Create (once) the demo tenant with its admin login; safe to run again."

    def handle(self, *args, **opts):
        public_tenant_ensure()
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant = tenant_create(slug=DEMO_SLUG, name="Demo Co", admin_email="admin@demo.example",
                                   admin_password=DEMO_PASSWORD, admin_username=DEMO_USER).tenant
            self.stdout.write(f"created tenant {DEMO_SLUG}")
        else:
            self.stdout.write(f"tenant {DEMO_SLUG} exists")
