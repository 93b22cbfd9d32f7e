"""Tenant offboarding: exporting a tenant's data and removing everything it owns.

`tenants` is the lowest app layer (tenants → connectors → aam → dcl → agents): it never imports
the apps above it. They tell it what they hold through this registry, from AppConfig.ready()
(docs/adr/0009-tenant-offboarding.md):

- `register_export(part)`: a part of the export archive (a model's rows, the unified views);
- `register_blocker(name, check)`: a check, run inside the tenant, that names work still running
  for it (a job, a sync lock, the DuckDB writer); tenant_delete refuses while any names something,
  unless forced.

What every tenant has whatever the apps (its data folder, its hash-tagged Redis keys, its queued
Celery messages) is handled in `leftovers`; the archive format in `export`. The service that puts
it together is `tenants.services.tenant_delete`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import transaction
from django_tenants.utils import tenant_context

from . import export as _export
from .export import ExportPart, ExportRefused, ExportResult, ModelRows, SqlRelations, looks_secret
from .leftovers import (
    LeftoversRemoved,
    leftovers_remove,
    periodic_task_prefix,
    queued_tasks_remove,
    tenant_data_dir,
)

if TYPE_CHECKING:
    from tenants.models import Tenant

__all__ = [
    "ExportPart",
    "ExportRefused",
    "ExportResult",
    "LeftoversRemoved",
    "ModelRows",
    "SqlRelations",
    "blockers_of",
    "export_parts",
    "leftovers_remove",
    "looks_secret",
    "periodic_task_prefix",
    "register_blocker",
    "register_export",
    "schema_dropping",
    "tenant_data_dir",
    "tenant_export",
]

logger = logging.getLogger(__name__)

Blocker = Callable[["Tenant"], list[str]]

_parts: dict[str, ExportPart] = {}
_blockers: dict[str, Blocker] = {}


def register_export(part: ExportPart) -> None:
    """Add a part to every tenant export (once per name: ready() may run more than once in tests)."""
    _parts[part.name] = part


def register_blocker(name: str, check: Blocker) -> None:
    """Add a check that tenant_delete runs inside the tenant before removing anything: it returns
    one line per thing still running (empty when idle)."""
    _blockers[name] = check


def export_parts() -> list[ExportPart]:
    return list(_parts.values())


def tenant_export(*, tenant: Tenant, out: Path) -> ExportResult:
    """Write the tenant's data to the zip archive `out`: a manifest and every registered part
    (tenants/offboarding/export.py). Raises ExportRefused for the public tenant."""
    return _export.tenant_export(tenant=tenant, out=out, parts=export_parts())


def blockers_of(tenant: Tenant) -> list[str]:
    """What still runs for the tenant: the registered checks, and Celery messages a worker holds.
    A check that cannot answer counts as a blocker (deleting under a running job is not undone)."""
    found: list[str] = []
    with tenant_context(tenant):
        for name, check in _blockers.items():
            try:
                found += [f"{name}: {line}" for line in check(tenant)]
            except Exception as exc:  # noqa: BLE001 - unknown means not known to be idle
                found.append(f"{name}: could not check ({type(exc).__name__}: {exc})")
    try:
        sweep = queued_tasks_remove(schema_name=tenant.schema_name, tenant_id=tenant.tenant_id, dry_run=True)
        found += [f"celery: task {task} was handed to a worker (running or waiting to)" for task in sweep.in_flight]
    except Exception as exc:  # noqa: BLE001
        found.append(f"celery: could not check the broker ({type(exc).__name__}: {exc})")
    return found


# --- other ways of dropping a tenant's schema ----------------------------------------------------

_dropping_by_service: ContextVar[str | None] = ContextVar("tenant_dropping_by_service", default=None)


@contextmanager
def schema_dropping(tenant: Tenant) -> Iterator[None]:
    """tenant_delete drops the schema inside this block: it removes the leftovers itself, in its
    own order, so Tenant.pre_drop leaves them alone."""
    token = _dropping_by_service.set(tenant.schema_name)
    try:
        yield
    finally:
        _dropping_by_service.reset(token)


def on_schema_drop(tenant: Tenant) -> None:
    """Called by Tenant.pre_drop, just before django-tenants drops the schema.

    Outside tenant_delete (django-tenants' `delete_tenant` command, the admin's delete, a bare
    `Tenant.delete()`, a failed creation), the tenant's data folder, Redis keys and queued tasks
    are removed too, once the drop commits (at once when there is no transaction). Errors are
    logged, never raised: they must not hide why a creation failed; `tenant_delete --leftovers-of`
    finishes the job.
    """
    if _dropping_by_service.get() == tenant.schema_name:
        return
    tenant_id, schema_name = str(tenant.tenant_id), tenant.schema_name

    def remove() -> None:
        try:
            removed = leftovers_remove(tenant_id=tenant_id, schema_name=schema_name)
        except Exception:  # noqa: BLE001
            logger.exception("tenant %s (%s) dropped; removing its files and Redis keys failed", schema_name, tenant_id)
            return
        folder = removed.folder
        logger.warning(
            "tenant %s (%s) dropped outside tenant_delete: removed %s bytes in %s files, %s Redis keys, "
            "%s queued tasks%s",
            schema_name, tenant_id, folder.bytes if folder else 0, folder.files if folder else 0,
            removed.redis_keys_total, removed.queue.removed if removed.queue else 0,
            f"; not removed: {removed.errors}" if removed.errors else "",
        )

    transaction.on_commit(remove)
