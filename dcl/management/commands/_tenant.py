"""Shared option handling for the pipeline's commands: `--tenant <slug>`."""

from django.core.management.base import CommandError


def tenant_by_slug(slug: str):
    from django.db import connection

    from tenants.models import Tenant

    connection.set_schema_to_public()
    tenant = Tenant.objects.filter(slug=slug).exclude(schema_name="public").first()
    if tenant is None:
        raise CommandError(f"no tenant {slug!r}")
    return tenant
