"""Ask for a pipeline run of a connection from below the DCL.

The run's owner is dcl/pipeline (the layer above aam); aam's sync API and drift re-processing
queue its Celery task by name, never importing the DCL. The name lives here, once.
"""

from __future__ import annotations

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
