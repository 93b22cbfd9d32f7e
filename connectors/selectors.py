"""Reads of connections. Every query runs in the current tenant's schema (TenantModel's manager)."""

from __future__ import annotations

from typing import Any

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


def connection_file_keys(*, connection: Connection) -> list[dict[str, Any]]:
    """The key of every file of a filesource connection, as the connection page and the API show it:
    `{object, file, columns, label, basis, why, header}` (`error` instead when the file cannot be
    read; docs/adr/0024-files-as-snapshots.md). Empty for other kinds."""
    if connection.kind != Connection.Kind.FILESOURCE:
        return []
    from .errors import ConnectorError
    from .registry import driver_for

    out: list[dict[str, Any]] = []
    with driver_for(connection) as driver:
        try:
            files = driver.files()
        except ConnectorError:
            return []  # the schema card says why the folder cannot be read
        for name, path in sorted(files.items()):
            entry: dict[str, Any] = {"object": name, "file": path.name}
            try:
                header = driver.header(name)
            except ConnectorError as exc:
                out.append({**entry, "error": exc.message, "columns": [], "label": "", "basis": "", "why": "",
                            "header": []})
                continue
            key = driver.record_key(name, header)
            if key is None:
                entry.update(columns=[], label="", basis="", why="chosen from the file when it is first synced")
            else:
                entry.update(columns=list(key.columns), label=key.label(),
                             basis="line" if key.by_line else key.basis, why=key.why())
            out.append({**entry, "header": header, "error": ""})
    return out
