import uuid

from django.core.validators import RegexValidator
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

from .signals import schema_pre_drop

slug_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{1,39}$",
    "A tenant slug is 2-40 characters: lower-case letters, digits and underscores, starting with a letter.",
)


class Tenant(TenantMixin):
    """A customer organisation; its data lives in its own PostgreSQL schema (schema_name == slug)."""

    tenant_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    slug = models.CharField(max_length=40, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = True

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name or self.slug

    def pre_drop(self) -> None:
        """django-tenants calls this just before it drops the schema, on every path that does
        (its `delete_tenant` command, the admin's delete, a failed creation): the tenant's files,
        Redis keys and queued tasks go too. `tenants.services.tenant_delete` is the way to delete a
        tenant (it checks for running work and can export first); see docs/adr/0009."""
        schema_pre_drop.send(sender=type(self), tenant=self)  # offboarding.on_schema_drop (TenantsConfig.ready)


class Domain(DomainMixin):
    """A host name that reaches a tenant (`<slug>.<TENANT_BASE_DOMAIN>`)."""

    def __str__(self) -> str:
        return self.domain
