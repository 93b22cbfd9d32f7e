"""Thin Celery entry points of the DCL."""

from celery import shared_task
from django.db import connection

from autonomos.core.tasks import TenantBoundTask


@shared_task(base=TenantBoundTask, name="dcl.stream_consume", soft_time_limit=1800, time_limit=1900)
def stream_consume_task(connection_ids: list[int] | None = None) -> dict:
    from .services import stream_consume

    return stream_consume(tenant=connection.tenant, connection_ids=connection_ids, until_idle=True).as_dict()


@shared_task(base=TenantBoundTask, name="dcl.views_materialize", soft_time_limit=1800, time_limit=1900)
def views_materialize_task(entities: list[str] | None = None) -> dict:
    from .services import views_materialize

    return views_materialize(tenant=connection.tenant, entities=entities)


@shared_task(base=TenantBoundTask, name="dcl.connection_sync", soft_time_limit=3600, time_limit=3700)
def connection_sync_task(connection_id: int, full: bool = False) -> dict:
    """A pipeline run of one connection. Queued by POST /api/connections/<id>/sync/ and drift
    re-processing (by name, aam.sync_request: aam does not import the DCL) and by stream replay."""
    from connectors.models import Connection

    from .pipeline import pipeline_run

    conn = Connection.objects.get(pk=connection_id)
    return pipeline_run(tenant=connection.tenant, connection=conn, full=full, trigger="task").as_dict()
