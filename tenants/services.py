"""Writes for tenants: create a tenant with its schema, domain and first admin user; delete one with
everything it owns (tenant_delete)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django_tenants.utils import get_public_schema_name, schema_context

from . import offboarding
from .models import Domain, Tenant

RESERVED_SLUGS = {"public", "www", "admin", "api", "static", "pg_catalog", "information_schema"}


@dataclass(frozen=True)
class TenantCreated:
    tenant: Tenant
    domain: str
    admin_email: str


def tenant_domain_for(slug: str) -> str:
    return f"{slug}.{settings.TENANT_BASE_DOMAIN}"


def tenant_create(*, slug: str, name: str, admin_email: str, admin_password: str,
                  admin_username: str | None = None) -> TenantCreated:
    """Create the tenant, its schema (migrated), its domain and its first admin (the admin role in its schema).

    Raises ValidationError for a bad or taken slug, a bad e-mail or a weak password; nothing is
    left half-created in that case.
    """
    slug = (slug or "").strip().lower()
    if slug in RESERVED_SLUGS or slug.startswith("pg_"):
        raise ValidationError({"slug": f"'{slug}' is reserved."})
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A tenant '{slug}' already exists."})
    username = admin_username or admin_email.split("@")[0] or "admin"
    user_model = get_user_model()
    probe = user_model(username=username, email=admin_email)
    probe.set_password(admin_password)
    from django.contrib.auth.password_validation import validate_password
    from django.core.validators import validate_email

    validate_email(admin_email)
    validate_password(admin_password, user=probe)

    tenant = Tenant(slug=slug, name=name or slug, schema_name=slug)
    tenant.full_clean()
    domain_name = tenant_domain_for(slug)
    # Schema creation runs migrations and cannot be rolled back by a transaction; on a later
    # failure the tenant (and with auto_drop_schema, its schema) is deleted explicitly.
    tenant.save(verbosity=0)
    try:
        with transaction.atomic():
            domain = Domain(domain=domain_name, tenant=tenant, is_primary=True)
            domain.full_clean()
            domain.save()
        with schema_context(tenant.schema_name):
            # The tenant's admin by role, not a Django superuser: superusers are the platform's staff
            # (public schema), and a tenant user's permissions come from the role alone.
            from autonomos.core.roles import Role

            from .members.services import user_create

            user_create(username=username, email=admin_email, password=admin_password, role=Role.ADMIN)
    except Exception:
        tenant.delete(force_drop=True)
        raise
    return TenantCreated(tenant=tenant, domain=domain_name, admin_email=admin_email)


def public_tenant_ensure() -> Tenant:
    """The public tenant and its domain (TENANT_BASE_DOMAIN), created once; platform staff log in there."""
    tenant, _ = Tenant.objects.get_or_create(
        schema_name="public", defaults={"slug": "public", "name": "AutonomOS platform"}
    )
    for host in {settings.TENANT_BASE_DOMAIN, "127.0.0.1"}:
        primary = host == settings.TENANT_BASE_DOMAIN
        Domain.objects.get_or_create(domain=host, defaults={"tenant": tenant, "is_primary": primary})
    return tenant


# --- offboarding -----------------------------------------------------------------------------------


class TenantDeleteRefused(Exception):
    """tenant_delete would not run: the public tenant, or work still running for the tenant."""

    def __init__(self, message: str, *, blockers: list[str] | None = None) -> None:
        super().__init__(message)
        self.blockers = blockers or []


@dataclass
class TenantDeleted:
    """What tenant_delete removed (and, in `left`, what it could not)."""

    slug: str
    tenant_id: str
    schema_name: str
    domains: list[str]
    export: offboarding.ExportResult | None
    leftovers: offboarding.LeftoversRemoved
    queued_before_drop: int
    forced_past: list[str]

    @property
    def left(self) -> list[str]:
        left = list(self.leftovers.errors)
        queue = self.leftovers.queue
        if queue is not None and queue.in_flight:
            left.append(f"{len(queue.in_flight)} tasks held by workers (dropped when they run): "
                        + ", ".join(queue.in_flight[:10]))
        if queue is not None and queue.skipped:
            left.append(f"queued tasks: {queue.skipped}")
        return left


def tenant_delete(*, tenant: Tenant, force: bool = False, export_to: Path | None = None) -> TenantDeleted:
    """Delete the tenant and everything it owns; the one way to delete a tenant.

    In this order: refuse the public tenant; refuse while work runs for the tenant (a running job,
    a sync or drift lock, the DuckDB writer, a task a worker holds; see
    tenants.offboarding.blockers_of) unless `force`; write the export archive to `export_to` when
    given; remove its queued Celery messages (nothing new starts); drop its schema and delete its
    row and domains (one transaction); then remove its data folder (DuckDB file, uploads), every
    Redis key with its hash tag, and messages queued in between. A failure after the drop is
    listed in `TenantDeleted.left` (`manage.py tenant_delete --leftovers-of <tenant_id>` finishes).

    Raises TenantDeleteRefused (also for an export path inside the tenant's data folder); an
    export failure raises before anything is removed.
    """
    if tenant.schema_name == get_public_schema_name() or tenant.slug == "public":
        raise TenantDeleteRefused("the public tenant holds the platform (tenants, staff): it is never deleted")
    folder = offboarding.tenant_data_dir(tenant.tenant_id)
    if export_to is not None and Path(export_to).resolve().is_relative_to(folder):
        raise TenantDeleteRefused("the export would be written into the tenant's data folder, which is deleted")
    forced_past: list[str] = []
    blockers = offboarding.blockers_of(tenant)
    if blockers:
        if not force:
            raise TenantDeleteRefused(f"work is still running for tenant {tenant.slug}", blockers=blockers)
        forced_past = blockers
    export = None
    if export_to is not None:
        export = offboarding.tenant_export(tenant=tenant, out=export_to)
    tenant_id, schema_name = str(tenant.tenant_id), tenant.schema_name
    queued = offboarding.queued_tasks_remove(schema_name=schema_name, tenant_id=tenant_id)
    connection.set_schema_to_public()
    with offboarding.schema_dropping(tenant), transaction.atomic():
        domains = sorted(Domain.objects.filter(tenant=tenant).values_list("domain", flat=True))
        Domain.objects.filter(tenant=tenant).delete()
        tenant.delete(force_drop=True)
    leftovers = offboarding.leftovers_remove(tenant_id=tenant_id, schema_name=schema_name)
    if leftovers.queue is not None:
        leftovers.queue.removed += queued.removed
        leftovers.queue.results_removed += queued.results_removed
    return TenantDeleted(slug=tenant.slug, tenant_id=tenant_id, schema_name=schema_name, domains=domains,
                         export=export, leftovers=leftovers, queued_before_drop=queued.removed,
                         forced_past=forced_past)
