from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.services import public_tenant_ensure, tenant_create


class Command(BaseCommand):
    help = "Create a tenant: its schema, the domain <slug>.<TENANT_BASE_DOMAIN> and its first admin user."

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", required=True)
        parser.add_argument("--admin-username", default=None)

    def handle(self, *args, **opts):
        public_tenant_ensure()
        try:
            created = tenant_create(slug=opts["slug"], name=opts["name"], admin_email=opts["admin_email"],
                                    admin_password=opts["admin_password"], admin_username=opts["admin_username"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Created tenant {created.tenant.slug} ({created.tenant.tenant_id}) at http://{created.domain}:8000/ "
            f"admin {created.admin_email}"))
