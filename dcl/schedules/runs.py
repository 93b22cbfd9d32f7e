"""Runs started by a task, recorded (`ConnectionRun`); the scheduled run's rules.

A scheduled tick (`dcl.connection_scheduled_sync`) calls `scheduled_run`:
- a run of the connection going (its sync lease held, aam/sync_lock.py, the one running state)
  → nothing starts; the tick is recorded as skipped (consecutive skips share a row); so is a tick
  of a connection frozen by its drift policy (it waits for a person, it does not fail);
- else the pipeline's one entry, `dcl.pipeline.pipeline_run(trigger="schedule")`. Two ticks that
  pass the check at once still never run twice: the read stage takes the lease, and the loser's
  `SyncAlreadyRunning` is recorded as a skip too;
- a failed run is retried by the task after `retry_delay(attempt)` seconds (exponential, capped,
  at most SCHEDULE_MAX_RETRIES times); a failure retrying cannot help (bad credentials, a
  connection frozen by its drift policy) is not retried. Every failed attempt publishes
  `run_failed`; the last one also raises an alert: the event `alert` and, when SLACK_WEBHOOK_URL
  is set, a Slack message (once per streak of failed runs, not at every tick).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from aam.drift.errors import DriftFrozen
from aam.sync_lock import SyncAlreadyRunning, sync_running
from autonomos.core.errors import Conflict
from autonomos.core.events import publish_event
from autonomos.core.notify import notify_slack
from autonomos.core.tenancy import current_tenant
from connectors.errors import PermanentError

from ..models import ConnectionRun

logger = logging.getLogger(__name__)

# What starts a recorded run (ConnectionRun.trigger): its schedule; a person's sync (the button or
# POST /api/connections/<id>/sync/), a new connection's first sync, a retry of a run; drift
# re-processing, a review decision, a change in the mapping editor, stream replay ("task"); `manage.py
# sync`; an AOA connect job.
TRIGGERS = ("schedule", "manual", "created", "retry", "drift", "review", "mapping", "task", "command", "job")

# The counts a run reports per source object; those the run did not reach stay None.
CHANGED = ("inserted", "updated", "deleted")  # the "changes" step's (dcl/changes.py)
OBJECT_COUNTS = ("read", "published", "quarantined", *CHANGED)


def retry_delay(attempt: int) -> int:
    """Seconds before attempt `attempt + 1` after attempt `attempt` failed: base · 2^(attempt-1), capped."""
    base, cap = settings.SCHEDULE_RETRY_BASE_SECONDS, settings.SCHEDULE_RETRY_MAX_SECONDS
    return int(min(cap, base * 2 ** max(0, attempt - 1)))


def _cause(exc: BaseException) -> BaseException:
    """The error under a PipelineStepFailed (which carries it as `.exception`)."""
    return getattr(exc, "exception", None) or exc


def is_permanent(exc: BaseException) -> bool:
    """Retrying cannot help: bad credentials or paths (PermanentError), a drift freeze awaiting a human."""
    return isinstance(_cause(exc), PermanentError | DriftFrozen)


def objects_of(info: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per source object, the counts a run's info reports: `read`, `published` and `quarantined` from the
    read step; `inserted`, `updated`, `deleted` where a step reports them per object (under those names,
    in the read step's object details or in any step's `details["objects"][<object>]`), else None."""
    steps = (info or {}).get("steps") or []
    rows: dict[str, dict[str, Any]] = {}
    for step in steps:
        details = step.get("details") or {}
        if step.get("step") == "read":
            for obj in details.get("details") or []:
                name = str(obj.get("name") or "")
                row = rows.setdefault(name, {"object": name, **dict.fromkeys(OBJECT_COUNTS)})
                row["entity"] = obj.get("entity")
                row["read"] = obj.get("records_read")
                row["published"] = obj.get("records_published")
                row["quarantined"] = obj.get("quarantined")
                if obj.get("skipped"):
                    row["skipped"] = obj["skipped"]
                for key in ("inserted", "updated", "deleted"):
                    if obj.get(key) is not None:
                        row[key] = obj[key]
        per_object = details.get("objects")
        if isinstance(per_object, dict):
            for name, counts in per_object.items():
                if not isinstance(counts, dict):
                    continue
                row = rows.setdefault(str(name), {"object": str(name), **dict.fromkeys(OBJECT_COUNTS)})
                for key in OBJECT_COUNTS:
                    if counts.get(key) is not None:
                        row[key] = counts[key]
    return list(rows.values())


def _totals(info: dict[str, Any] | None) -> tuple[int, int]:
    for step in (info or {}).get("steps") or []:
        if step.get("step") == "read":
            d = step.get("details") or {}
            return int(d.get("records_read") or 0), int(d.get("quarantined") or 0)
    return 0, 0


def _changed(info: dict[str, Any] | None) -> dict[str, int | None]:
    """inserted, updated, deleted over the run's "changes" steps (None each when it has none)."""
    steps = [s for s in (info or {}).get("steps") or [] if s.get("step") == "changes" and s.get("ok", True)]
    if not steps:
        return dict.fromkeys(CHANGED)
    totals = dict.fromkeys(CHANGED, 0)
    for step in steps:
        for counts in ((step.get("details") or {}).get("objects") or {}).values():
            for key in CHANGED:
                totals[key] += int(counts.get(key) or 0)
    return totals


def _record_skip(connection, *, trigger: str, task_id: str, why: str) -> ConnectionRun:
    """A tick that started nothing: the connection's latest record grows when it is a skip already
    (for the same reason)."""
    now = timezone.now()
    last = ConnectionRun.objects.filter(connection=connection).order_by("-started_at", "-id").first()
    if last is not None and last.status == ConnectionRun.Status.SKIPPED and last.error == why:
        ConnectionRun.objects.filter(pk=last.pk).update(skipped_count=F("skipped_count") + 1, finished_at=now)
        last.refresh_from_db()
        return last
    return ConnectionRun.objects.create(connection=connection, trigger=trigger, task_id=task_id, started_at=now,
                                        finished_at=now, seconds=0.0, status=ConnectionRun.Status.SKIPPED,
                                        skipped_count=1, error=why)


@dataclass
class RunOutcome:
    status: str  # succeeded, failed, skipped, gone (the connection was deleted)
    run_id: int | None = None
    retry_in: int | None = None  # seconds, when the caller should retry
    error: str = ""
    info: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "run_id": self.run_id, "retry_in": self.retry_in, "error": self.error,
                "info": self.info}


def info_of_connection(info: dict[str, Any] | None, connection_id: int) -> dict[str, Any]:
    """A run's info as one connection's record keeps it: the steps of that connection (its read,
    deletes, changes) and those of the whole run (consume, values, materialize). A run over several
    connections (`manage.py sync`, the connect job) records one row per connection."""
    info = dict(info or {})
    info["steps"] = [s for s in info.get("steps") or [] if s.get("connection_id") in (None, connection_id)]
    return info


class RunRecord:
    """One recorded run: `start`, then `succeeded(info)` or `failed(exc)`. `extra` is kept in the
    row's info beside the run's own (e.g. `retry_of`: the run a retry repeats)."""

    def __init__(self, connection, *, trigger: str, attempt: int = 1, task_id: str = "",
                 extra: dict[str, Any] | None = None) -> None:
        self.extra = dict(extra or {})
        self.row = ConnectionRun.objects.create(connection=connection, trigger=trigger, attempt=attempt,
                                                task_id=task_id or "", started_at=timezone.now(),
                                                status=ConnectionRun.Status.RUNNING, info=self.extra)
        self.started = time.monotonic()

    def succeeded(self, info: dict[str, Any] | None) -> None:
        self._finish(ConnectionRun.Status.SUCCEEDED, info=info)

    def failed(self, exc: BaseException) -> str:
        """Record the failure (a skip when the read found another run going); returns the status."""
        cause = _cause(exc)
        step_info = getattr(exc, "step_info", None)
        info = {"steps": [step_info.as_dict()]} if step_info is not None else None
        status = ConnectionRun.Status.SKIPPED if isinstance(cause, SyncAlreadyRunning) else ConnectionRun.Status.FAILED
        self._finish(status, info=info, error=f"{cause.__class__.__name__}: {cause}"[:2000])
        return status

    def _finish(self, status: str, *, info=None, error: str = "") -> None:
        row = self.row
        row.status = status
        row.finished_at = timezone.now()
        row.seconds = round(time.monotonic() - self.started, 3)
        row.error = error
        row.info = {**(info or {}), **self.extra}
        row.object_counts = objects_of(info)
        row.records_read, row.quarantined = _totals(info)
        for key, value in _changed(info).items():
            setattr(row, key, value)
        row.skipped_count = 1 if status == ConnectionRun.Status.SKIPPED else 0
        row.save(update_fields=["status", "finished_at", "seconds", "error", "info", "object_counts", "records_read",
                                "quarantined", *CHANGED, "skipped_count"])
        # Pages showing the connection's state fetch it again on this event (connectors/health.py).
        payload = {"connection_id": row.connection_id, "run_id": row.pk, "status": status, "trigger": row.trigger,
                   "records_read": row.records_read, "quarantined": row.quarantined, "error": error[:300]}
        tenant = current_tenant()
        transaction.on_commit(lambda: publish_event(tenant, "run_finished", payload))


@contextmanager
def recorded_run(connection, *, trigger: str, attempt: int = 1, task_id: str = "",
                 extra: dict[str, Any] | None = None) -> Iterator[RunRecord]:
    """Record a run around the block: `running`, then `succeeded` with the counts of what the block
    returns in `rec.info`, or `failed` / `skipped` with the error (re-raised)."""
    rec = RunRecord(connection, trigger=trigger, attempt=attempt, task_id=task_id, extra=extra)
    rec.info = None
    try:
        yield rec
    except BaseException as exc:
        rec.failed(exc)
        raise
    rec.succeeded(rec.info)


class RunRecords:
    """The records of a run over several connections that drives the pipeline's steps itself
    (`manage.py sync`, the AOA connect job): a row per connection from the start of its read; a
    failed read ends its row at once, the others end with the run (the consume, values and
    materialize steps are everyone's)."""

    def __init__(self, *, trigger: str) -> None:
        self.trigger = trigger
        self.open: dict[int, RunRecord] = {}
        self.lock = threading.Lock()

    def start(self, connection) -> RunRecord:
        rec = RunRecord(connection, trigger=self.trigger)
        with self.lock:
            self.open[connection.pk] = rec
        return rec

    def read_failed(self, connection, exc: BaseException) -> None:
        """The connection's read failed (a PipelineStepFailed carries how far it got): its row ends now."""
        with self.lock:
            rec = self.open.pop(connection.pk, None)
        if rec is not None:
            rec.failed(exc)

    def finish(self, info: dict[str, Any] | None, exc: BaseException | None = None) -> None:
        """End every open row: with the run's info when it succeeded, with `exc` when a shared step failed."""
        with self.lock:
            records, self.open = list(self.open.items()), {}
        for connection_id, rec in records:
            if exc is None:
                rec.succeeded(info_of_connection(info, connection_id))
            else:
                rec.failed(exc)


def _failing_already(connection, row: ConnectionRun) -> bool:
    """Did the run before this one fail for good too (its alert went out already)?"""
    previous = (ConnectionRun.objects.filter(connection=connection, pk__lt=row.pk, trigger="schedule",
                                             status__in=[ConnectionRun.Status.SUCCEEDED, ConnectionRun.Status.FAILED])
                .order_by("-pk").first())
    return previous is not None and previous.status == ConnectionRun.Status.FAILED and previous.retry_at is None


def _alert(tenant, connection, row: ConnectionRun, error: str) -> None:
    """The run failed for good: an `alert` event, and Slack when configured (never raises). While the
    failures go on, each one is an event but Slack hears only of the first (a 1-minute schedule with
    revoked credentials would otherwise post every minute)."""
    repeat = _failing_already(connection, row)
    payload = {"kind": "sync_failed", "severity": "error", "connection_id": connection.pk,
               "connection": connection.name, "run_id": row.pk, "attempts": row.attempt, "error": error[:500],
               "repeat": repeat,
               "message": f"Scheduled sync of {connection.name} failed after {row.attempt} attempt(s): {error[:200]}"}
    publish_event(tenant, "alert", payload)
    if repeat:
        return
    try:
        notify_slack(text=f":red_circle: {payload['message']}")
    except Exception:  # noqa: BLE001 - a notification never breaks the task
        logger.warning("slack alert failed", exc_info=True)


GOING = "a run of this connection was going"
FROZEN = "the connection is frozen by its drift policy until its schema changes are reviewed"
PAUSED = "the connection is paused until a person reviews the deletes its last sync found"


def _skipped(tenant, connection, task_id: str, why: str = GOING) -> RunOutcome:
    row = _record_skip(connection, trigger="schedule", task_id=task_id, why=why)
    publish_event(tenant, "run_skipped", {"connection_id": connection.pk, "run_id": row.pk,
                                          "skipped": row.skipped_count, "reason": why})
    return RunOutcome(status="skipped", run_id=row.pk)


def scheduled_run(*, tenant, connection_id: int, attempt: int = 1, task_id: str = "") -> RunOutcome:
    """One scheduled tick of a connection (see the module's docstring). The caller (the Celery task)
    retries when `retry_in` is set."""
    from connectors.models import Connection

    from ..pipeline import pipeline_run

    connection = Connection.objects.filter(pk=connection_id).first()
    if connection is None:
        # The schedule goes with its connection; a tick already queued finds nothing to run.
        logger.info("scheduled run of connection %s: the connection is gone", connection_id)
        return RunOutcome(status="gone")
    if sync_running(tenant, connection.pk):
        return _skipped(tenant, connection, task_id)
    if connection.status == Connection.Status.FROZEN:
        # A person must decide the schema changes first (aam/drift): ticks wait, they do not fail.
        return _skipped(tenant, connection, task_id, FROZEN)
    if connection.status == Connection.Status.PAUSED:
        # The delete guard (dcl/deletes.py): ticks wait for the review, they do not fail.
        return _skipped(tenant, connection, task_id, PAUSED)
    rec = RunRecord(connection, trigger="schedule", attempt=attempt, task_id=task_id)
    try:
        info = pipeline_run(tenant=tenant, connection=connection, trigger="schedule").as_dict()
    except Exception as exc:  # noqa: BLE001 - recorded, then retried or alerted
        if rec.failed(exc) == ConnectionRun.Status.SKIPPED:
            # Another run took the lease between the check and the read: this tick started nothing.
            rec.row.delete()
            return _skipped(tenant, connection, task_id)
        row, permanent = rec.row, is_permanent(exc)
        retry_in = retry_delay(attempt) if not permanent and attempt <= settings.SCHEDULE_MAX_RETRIES else None
        if retry_in is not None:
            row.retry_at = timezone.now() + timedelta(seconds=retry_in)
            row.save(update_fields=["retry_at"])
        publish_event(tenant, "run_failed", {"connection_id": connection.pk, "run_id": row.pk, "attempt": attempt,
                                             "error": row.error[:500], "retry_in": retry_in, "permanent": permanent})
        if retry_in is None:
            _alert(tenant, connection, row, row.error)
        return RunOutcome(status="failed", run_id=row.pk, retry_in=retry_in, error=row.error, info=row.info)
    rec.succeeded(info)
    return RunOutcome(status="succeeded", run_id=rec.row.pk, info=info)


class RunNotRetryable(Conflict):
    default_message = "Only a failed run can be retried."


def connection_run_retry(*, connection, run: ConnectionRun) -> str:
    """Run a failed run of the connection again (same full or incremental read), recorded as a
    `retry` of it; returns the queued task's id. Refused (409) for a run that did not fail, and
    while a sync of the connection runs (SyncAlreadyRunning)."""
    from aam.sync_request import connection_sync_start

    if run.connection_id != connection.pk:
        raise ConnectionRun.DoesNotExist("no such run of this connection")
    if run.status != ConnectionRun.Status.FAILED:
        raise RunNotRetryable(f"Run #{run.pk} {run.status}: only a failed run can be retried.",
                              details={"run_id": run.pk, "status": run.status})
    return connection_sync_start(connection=connection, full=bool((run.info or {}).get("full")), trigger="retry",
                                 retry_of=run.pk)
