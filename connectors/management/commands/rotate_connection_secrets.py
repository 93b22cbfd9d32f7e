"""Re-encrypt every connection's secrets with the newest CONNECTION_SECRETS_KEYS key.

For keys kept outside the local secrets file (production: the environment): put a new key first in
CONNECTION_SECRETS_KEYS (keep the old ones after it), deploy, run `python manage.py
rotate_connection_secrets`, then drop the old keys. `--generate-key` prints a fresh key and changes
nothing. An install whose keys are in var/secrets.env (`make run`) does all of it with
`python manage.py rotate_secrets --connection-key [--drop-old]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.management.base import BaseCommand, CommandError


@dataclass
class Reencrypted:
    rotated: int = 0
    current: int = 0
    unreadable: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"re-encrypted {self.rotated} connection(s); {self.current} already used the newest key"

    def error(self) -> CommandError:
        return CommandError(
            f"{len(self.unreadable)} connection(s) could not be decrypted with any configured key: "
            + ", ".join(self.unreadable)
        )


def reencrypt_all(*, tenant: str | None = None) -> Reencrypted:
    """Re-encrypt the connection secrets of every tenant (or of the tenant with slug `tenant`) with the
    newest key of the current settings; rows no key opens are listed and left as they were."""
    from django_tenants.utils import tenant_context

    from connectors import secretbox
    from connectors.models import Connection
    from connectors.services import connection_secrets_rotate
    from tenants.models import Tenant

    secretbox.validate_keys()
    tenants = Tenant.objects.exclude(schema_name="public")
    if tenant:
        tenants = tenants.filter(slug=tenant)
        if not tenants.exists():
            raise CommandError(f"no tenant {tenant!r}")
    result = Reencrypted()
    for each in tenants.order_by("slug"):
        with tenant_context(each):
            for conn in Connection.objects.order_by("id"):
                try:
                    changed = connection_secrets_rotate(connection=conn)
                except secretbox.SecretsUnreadable:
                    result.unreadable.append(f"{each.slug}/{conn.pk} ({conn.name})")
                    continue
                result.rotated += changed
                result.current += not changed
    return result


class Command(BaseCommand):
    help = "Re-encrypt connection secrets with the newest CONNECTION_SECRETS_KEYS key (all tenants or --tenant)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="only this tenant (slug)")
        parser.add_argument("--generate-key", action="store_true", help="print a new key and exit")

    def handle(self, *args, tenant: str | None = None, generate_key: bool = False, **options):
        from connectors import secretbox

        if generate_key:
            self.stdout.write(secretbox.generate_key())
            return
        result = reencrypt_all(tenant=tenant)
        self.stdout.write(result.summary())
        if result.unreadable:
            raise result.error()
