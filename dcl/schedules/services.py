"""A connection's schedule: one django-celery-beat `PeriodicTask` per scheduled connection.

Beat's tables live in the public schema (django_celery_beat is a shared app) and beat runs there; the
task it sends carries the tenant in its headers (`_schema_name` for tenant-schemas-celery,
`_tenant_id` so a task of a deleted tenant whose schema name was taken again is dropped:
autonomos/core/tasks.py). The task is `dcl.connection_scheduled_sync` with the connection's id.

The periodic task is named `tenant:<tenant_id>:connection:<id>:sync`: the prefix is the tenant's
(tenants.offboarding.periodic_task_prefix), so deleting a tenant removes its schedules by name, and
deleting a connection removes its own (`connection_schedule_forget`, on the connection's deletion).
"""

from __future__ import annotations

import json
import logging

from django.db import transaction

from autonomos.core.events import publish_event
from autonomos.core.tenancy import current_tenant
from tenants.offboarding import periodic_task_prefix

from .spec import ScheduleSpec

logger = logging.getLogger(__name__)

SCHEDULED_RUN_TASK = "dcl.connection_scheduled_sync"  # dcl/tasks.py
# A tick not started within this long is dropped (the next one comes): a stopped worker does not come
# back to a queue of stale ticks. At least a minute, else the schedule's own period.
MIN_EXPIRE_SECONDS = 60
CRON_EXPIRE_SECONDS = 300


def periodic_task_name(tenant, connection_id: int) -> str:
    return f"{periodic_task_prefix(tenant.tenant_id)}connection:{int(connection_id)}:sync"


def _periodic_task_model():
    from django_celery_beat.models import PeriodicTask

    return PeriodicTask


def periodic_task_of(connection):
    """The connection's PeriodicTask, or None when it has no schedule."""
    return _periodic_task_model().objects.filter(name=periodic_task_name(current_tenant(), connection.pk)).first()


def spec_of(task) -> ScheduleSpec | None:
    """The ScheduleSpec a PeriodicTask stands for (None for a kind this module never writes)."""
    if task is None:
        return None
    if task.interval_id is not None:
        seconds = int(task.interval.schedule.run_every.total_seconds())
        return ScheduleSpec(kind="interval", every_seconds=seconds, enabled=task.enabled)
    if task.crontab_id is not None:
        c = task.crontab
        cron = " ".join((c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week))
        return ScheduleSpec(kind="cron", cron=cron, timezone=str(c.timezone), enabled=task.enabled)
    return None


@transaction.atomic
def connection_schedule_set(*, connection, spec: ScheduleSpec, actor: str = ""):
    """Create or replace the connection's schedule; beat picks the change up on its next sync with the
    table (django-celery-beat's change marker). Returns the PeriodicTask."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule

    tenant = current_tenant()
    PeriodicTask = _periodic_task_model()
    interval = crontab = None
    if spec.kind == "interval":
        interval, _ = IntervalSchedule.objects.get_or_create(every=spec.every_seconds, period=IntervalSchedule.SECONDS)
        expire = max(MIN_EXPIRE_SECONDS, spec.every_seconds or 0)
    else:
        crontab, _ = CrontabSchedule.objects.get_or_create(timezone=spec.timezone, **spec.cron_fields)
        expire = CRON_EXPIRE_SECONDS
    name = periodic_task_name(tenant, connection.pk)
    task = PeriodicTask.objects.select_for_update().filter(name=name).first() or PeriodicTask(name=name)
    changed = task.pk is None or spec_of(task) != spec
    task.task = SCHEDULED_RUN_TASK
    task.args = json.dumps([connection.pk])
    task.kwargs = "{}"
    task.headers = json.dumps({"_schema_name": tenant.schema_name, "_tenant_id": str(tenant.tenant_id)})
    task.interval, task.crontab = interval, crontab
    task.solar = task.clocked = None
    task.one_off = False
    task.enabled = spec.enabled
    task.expire_seconds = expire
    task.description = f"{connection.name}: {spec.describe()}"[:1000]
    if changed:
        task.last_run_at = None  # a new schedule counts from now, not from the old one's last tick
    task.save()
    payload = {"connection_id": connection.pk, "schedule": spec.as_dict(), "actor": actor}
    transaction.on_commit(lambda: publish_event(tenant, "schedule_changed", payload))
    return task


@transaction.atomic
def connection_schedule_delete(*, connection, actor: str = "") -> bool:
    """Remove the connection's schedule; True when there was one."""
    tenant = current_tenant()
    deleted, _ = _periodic_task_model().objects.filter(name=periodic_task_name(tenant, connection.pk)).delete()
    if deleted:
        payload = {"connection_id": connection.pk, "schedule": None, "actor": actor}
        transaction.on_commit(lambda: publish_event(tenant, "schedule_changed", payload))
    return bool(deleted)


def connection_schedule_forget(*, tenant, connection_id: int) -> int:
    """Delete the periodic task of a connection that is being deleted (in its transaction)."""
    deleted, _ = _periodic_task_model().objects.filter(name=periodic_task_name(tenant, connection_id)).delete()
    return deleted
