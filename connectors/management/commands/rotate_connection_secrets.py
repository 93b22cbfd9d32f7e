"""Re-encrypt every connection's secrets with the newest CONNECTION_SECRETS_KEYS key.

Rotation: put a new key first in CONNECTION_SECRETS_KEYS (keep the old ones after it), deploy, run
`python manage.py rotate_connection_secrets`, then drop the old keys. `--generate-key` prints a
fresh key and changes nothing.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Re-encrypt connection secrets with the newest CONNECTION_SECRETS_KEYS key (all tenants or --tenant)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="only this tenant (slug)")
        parser.add_argument("--generate-key", action="store_true", help="print a new key and exit")

    def handle(self, *args, tenant: str | None = None, generate_key: bool = False, **options):
        from django_tenants.utils import tenant_context

        from connectors import secretbox
        from connectors.models import Connection
        from connectors.services import connection_secrets_rotate
        from tenants.models import Tenant

        if generate_key:
            self.stdout.write(secretbox.generate_key())
            return
        secretbox.validate_keys()
        tenants = Tenant.objects.exclude(schema_name="public")
        if tenant:
            tenants = tenants.filter(slug=tenant)
            if not tenants.exists():
                raise CommandError(f"no tenant {tenant!r}")
        rotated = current = 0
        unreadable: list[str] = []
        for each in tenants.order_by("slug"):
            with tenant_context(each):
                for conn in Connection.objects.order_by("id"):
                    try:
                        changed = connection_secrets_rotate(connection=conn)
                    except secretbox.SecretsUnreadable:
                        unreadable.append(f"{each.slug}/{conn.pk} ({conn.name})")
                        continue
                    rotated += changed
                    current += not changed
        self.stdout.write(f"re-encrypted {rotated} connection(s); {current} already used the newest key")
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} connection(s) could not be decrypted with any configured key: "
                + ", ".join(unreadable)
            )
