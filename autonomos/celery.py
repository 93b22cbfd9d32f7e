"""The Celery app. Tasks run inside the tenant they were queued for (tenant-schemas-celery puts
the schema in a header, and the tenant's id goes beside it); a task declared tenant-bound refuses
to run on the public schema, and is dropped when its tenant was deleted (autonomos/core/tasks.py)."""

import os

from celery.schedules import crontab
from celery.signals import before_task_publish, task_postrun
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomos.settings.local")

app = CeleryApp("autonomos")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@before_task_publish.connect(dispatch_uid="autonomos-tenant-id-header")
def _tenant_id_header(headers=None, **_kwargs) -> None:
    """Name the tenant by id beside its schema: a schema name comes back when a deleted tenant's
    slug is taken again, and a task queued for the old tenant must not run in the new one."""
    from django.db import connection

    tenant_id = getattr(getattr(connection, "tenant", None), "tenant_id", None)
    schema = headers.get("_schema_name") if headers is not None else None
    # Only for the tenant the connection is in (a header naming another schema is left as it is).
    if tenant_id and schema not in (None, "public") and schema == connection.schema_name:
        headers.setdefault("_tenant_id", str(tenant_id))

@task_postrun.connect(dispatch_uid="autonomos-memory-back")
def _memory_back(**_kwargs) -> None:
    """Give the heap a task freed back to the system (glibc keeps freed arenas otherwise: a sync's Arrow
    and DuckDB buffers would stay in the pool process's RSS until it exits). The per-child memory cap
    (CELERY_WORKER_MAX_MEMORY_PER_CHILD) is the backstop, not the mechanism (issue #17)."""
    from autonomos.core.memory import memory_back

    memory_back()


# All periodic schedules live here. The tasks fan out over tenants themselves.
app.conf.beat_schedule: dict = {
    # Schema drift between syncs: hourly, at minute 17 (off the hour, away from other hourly jobs).
    # Each sync checks its own objects first; this catches a source that changed while nothing
    # synced, so a reviewer hears of it (and a frozen connection stops) before the next sync.
    # A check is a discovery per connection (a few metadata calls), no records are read.
    "aam-drift-detect": {"task": "aam.drift_detect_all", "schedule": crontab(minute=17)},
}
