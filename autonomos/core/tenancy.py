"""Tenancy guards: code that reads or writes tenant data refuses to run on the public schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection, models

if TYPE_CHECKING:
    # django-tenants' base class, not tenants.models.Tenant: autonomos.core sits below the apps.
    from django_tenants.models import TenantMixin


class TenantRequired(RuntimeError):
    """Raised when tenant data is touched outside a tenant (fail closed)."""


def current_tenant() -> TenantMixin:
    """The tenant of the current connection; raises TenantRequired on the public schema."""
    tenant = getattr(connection, "tenant", None)
    if tenant is None or connection.schema_name == "public" or getattr(tenant, "schema_name", "public") == "public":
        raise TenantRequired("this operation needs a tenant; it was called on the public schema")
    return tenant


class TenantQuerySet(models.QuerySet):
    pass


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    """Default manager of every tenant model: a query on the public schema raises instead of leaking."""

    def get_queryset(self):
        current_tenant()
        return super().get_queryset()


class TenantModel(models.Model):
    """Abstract base for models that live in a tenant schema."""

    objects = TenantManager()

    class Meta:
        abstract = True
