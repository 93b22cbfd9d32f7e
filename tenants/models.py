import uuid

from django.core.validators import RegexValidator
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

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


class Domain(DomainMixin):
    """A host name that reaches a tenant (`<slug>.<TENANT_BASE_DOMAIN>`)."""

    def __str__(self) -> str:
        return self.domain
