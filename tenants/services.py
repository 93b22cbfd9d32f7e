"""Writes for tenants: create a tenant with its schema, domain and first admin user."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django_tenants.utils import schema_context

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
    """Create the tenant, its schema (migrated), its domain and its first admin (superuser in its schema).

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
            user_model.objects.create_superuser(username=username, email=admin_email, password=admin_password)
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
