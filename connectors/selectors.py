"""Reads of connections. Every query runs in the current tenant's schema (TenantModel's manager)."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Connection


def connection_list(*, filters: dict | None = None) -> QuerySet[Connection]:
    """Connections of the current tenant, optionally filtered by `kind`, `status` or `domain`."""
    qs = Connection.objects.all()
    filters = filters or {}
    for key in ("kind", "status", "domain"):
        value = filters.get(key)
        if value not in (None, ""):
            qs = qs.filter(**{key: value})
    return qs.order_by("id")


def connection_get(*, connection_id: int) -> Connection:
    """One connection of the current tenant; raises Connection.DoesNotExist otherwise."""
    return Connection.objects.get(pk=connection_id)


def secrets_set(connection: Connection) -> list[str]:
    """Names of the secrets that hold a value (what the API shows instead of the values)."""
    return list(connection.secret_names or [])  # kept beside the ciphertext: no key needed to list
