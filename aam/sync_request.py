"""Ask for a pipeline run of a connection from below the DCL.

The run's owner is dcl/pipeline (the layer above aam); aam's sync API, drift re-processing and the
mapping editor queue its Celery task by name, never importing the DCL. The name lives here, once.
"""

from __future__ import annotations

import logging

from django.db import connection as db
from django.db import transaction

from connectors.services import connection_cursor_set

logger = logging.getLogger(__name__)

PIPELINE_RUN_TASK = "dcl.connection_sync"  # dcl/tasks.py: runs dcl.pipeline.pipeline_run


def pipeline_run_request(
    *, connection_id: int, schema: str, full: bool | None = None, task_id: str | None = None
) -> None:
    """Send the pipeline's task for `connection_id` of the tenant in `schema`, now (callers wrap it
    in `transaction.on_commit`). `full=None` leaves the task's default (follow the cursors)."""
    from celery import current_app

    options = {"args": [connection_id], "headers": {"_schema_name": schema}}
    if full is not None:
        options["kwargs"] = {"full": full}
    if task_id is not None:
        options["task_id"] = task_id
    current_app.send_task(PIPELINE_RUN_TASK, **options)


def object_reread(*, connection, source_object: str) -> None:
    """Read one object of the connection again with the mapping now in force: its cursor is reset
    and a pipeline run is queued once the current transaction commits (the DCL upserts by source id,
    so nothing doubles). Used by drift re-processing and the mapping editor (docs/adr/0004, 0027).

    Should a sync be running then, the queued run fails on its lock; the reset cursor makes the
    next sync read the object again all the same."""
    connection_cursor_set(connection=connection, object_name=source_object, cursor=None)
    pk, schema = connection.pk, db.schema_name

    def queue() -> None:
        try:
            pipeline_run_request(connection_id=pk, schema=schema)
        except Exception:  # noqa: BLE001 - the reset cursor makes the next sync re-read anyway
            logger.warning("re-processing sync not queued for connection %s", pk, exc_info=True)

    transaction.on_commit(queue)
