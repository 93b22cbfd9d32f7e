"""Thin Celery entry points of the DCL."""

from celery import shared_task
from django.db import connection

from autonomos.core.tasks import TenantBoundTask


@shared_task(base=TenantBoundTask, name="dcl.stream_consume", soft_time_limit=1800, time_limit=1900)
def stream_consume_task(connection_ids: list[int] | None = None) -> dict:
    from .services import stream_consume

    return stream_consume(tenant=connection.tenant, connection_ids=connection_ids, until_idle=True).as_dict()


@shared_task(base=TenantBoundTask, name="dcl.views_materialize", soft_time_limit=1800, time_limit=1900)
def views_materialize_task(entities: list[str] | None = None, retrain: list[str] | None = None) -> dict:
    from .services import views_materialize

    return views_materialize(tenant=connection.tenant, entities=entities, retrain=retrain)


@shared_task(base=TenantBoundTask, name="dcl.connection_records_remove", soft_time_limit=1800, time_limit=1900)
def connection_records_remove_task(connection_id: int) -> dict:
    """Take a deleted connection's records out of the views (queued by its deletion, dcl/apps.py)."""
    from .services import connection_records_remove

    return connection_records_remove(tenant=connection.tenant, connection_id=connection_id)


@shared_task(base=TenantBoundTask, bind=True, name="dcl.connection_sync", soft_time_limit=3600, time_limit=3700)
def connection_sync_task(self, connection_id: int, full: bool = False, trigger: str = "task",
                         retry_of: int | None = None) -> dict:
    """A pipeline run of one connection. Queued by POST /api/connections/<id>/sync/ (trigger
    "manual"), a new connection's first sync ("created"), a run's retry ("retry"), drift
    re-processing ("drift"), a delete review ("review") (by name, aam.sync_request: aam does not
    import the DCL) and by stream replay. The run is recorded (dcl.models.ConnectionRun) with its
    counts per object."""
    from connectors.models import Connection

    from .pipeline import pipeline_run
    from .schedules.runs import TRIGGERS, recorded_run

    conn = Connection.objects.get(pk=connection_id)
    trigger = trigger if trigger in TRIGGERS else "task"
    extra = {"full": bool(full), **({"retry_of": int(retry_of)} if retry_of is not None else {})}
    with recorded_run(conn, trigger=trigger, task_id=self.request.id or "", extra=extra) as rec:
        rec.info = pipeline_run(tenant=connection.tenant, connection=conn, full=full, trigger="task").as_dict()
    return rec.info


# A tick of a connection's schedule (dcl/schedules/, sent by beat with the tenant in its headers).
# Retries are the run's own (exponential, SCHEDULE_MAX_RETRIES), not Celery's autoretry.
@shared_task(base=TenantBoundTask, bind=True, name="dcl.connection_scheduled_sync", max_retries=None,
             soft_time_limit=3600, time_limit=3700)
def connection_scheduled_sync_task(self, connection_id: int) -> dict:
    """Run the connection's pipeline unless a run of it is going (then the tick is recorded as
    skipped); a failed run comes back after a growing delay, and alerts when it gives up."""
    from .schedules.runs import scheduled_run

    outcome = scheduled_run(tenant=connection.tenant, connection_id=connection_id,
                            attempt=self.request.retries + 1, task_id=self.request.id or "")
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.as_dict()
