"""Reads: a connection's schedule and next run, its freshness, its recorded runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from ..models import ConnectionRun
from .services import periodic_task_of, spec_of

RUNS_SHOWN = 10


def _last_tick_at(connection, task) -> datetime | None:
    """When the schedule last fired: beat writes its own stamp every few minutes only; the run
    records are written at once (a row of skips ends at its last skip)."""
    ticks = [task.last_run_at] if task is not None and task.last_run_at is not None else []
    last = ConnectionRun.objects.filter(connection=connection, trigger="schedule").order_by("-started_at").first()
    if last is not None:
        ticks.append(last.finished_at if last.status == ConnectionRun.Status.SKIPPED else last.started_at)
    return max(ticks) if ticks else None


def connection_schedule(*, connection) -> dict[str, Any] | None:
    """The connection's schedule with its next run (None when it has none):
    `{kind, every_seconds, cron, timezone, enabled, description, next_run_at, last_tick_at}`."""
    task = periodic_task_of(connection)
    spec = spec_of(task)
    if spec is None:
        return None
    now = timezone.now()
    last_tick = _last_tick_at(connection, task)
    next_run = None
    if spec.enabled:
        # A schedule changed or never fired counts from its change, as beat does.
        since = last_tick if last_tick is not None and last_tick >= task.date_changed else task.date_changed
        if spec.kind == "interval":
            next_run = max(since + timedelta(seconds=spec.every_seconds or 0), now)
        else:
            # now + what is left, rounded to the second: a cron fires on whole minutes.
            remaining = max(task.schedule.remaining_estimate(since), timedelta(0))
            next_run = (now + remaining + timedelta(milliseconds=500)).replace(microsecond=0)
    return {**spec.as_dict(), "next_run_at": next_run, "last_tick_at": last_tick}


def last_good_sync_at(connection) -> datetime | None:
    """The end of the connection's last run that succeeded. Runs not recorded here (`manage.py sync`, the
    AOA connect job) stamp `Connection.last_synced_at` when their read succeeds: it counts too, unless a
    recorded run started before that stamp failed (its read stamped it, a later step failed)."""
    good = (ConnectionRun.objects.filter(connection=connection, status=ConnectionRun.Status.SUCCEEDED)
            .order_by("-finished_at").values_list("finished_at", flat=True).first())
    stamps = [good] if good is not None else []
    synced = connection.last_synced_at
    if synced is not None:
        latest = (ConnectionRun.objects.filter(connection=connection)
                  .exclude(status__in=[ConnectionRun.Status.SKIPPED, ConnectionRun.Status.RUNNING])
                  .order_by("-started_at").first())
        if not (latest is not None and latest.status == ConnectionRun.Status.FAILED and latest.started_at <= synced):
            stamps.append(synced)
    return max(stamps) if stamps else None


def connection_freshness(*, connection, stream: dict[str, Any] | None = None) -> dict[str, Any]:
    """How fresh the connection's data is: the last good sync and its age in seconds, the stream's lag
    (batches not applied yet: not delivered plus delivered and not acknowledged), the schedule and
    its next run, and the latest run."""
    from ..selectors import connection_stream_stats

    now = timezone.now()
    good = last_good_sync_at(connection)
    stats = stream if stream is not None else connection_stream_stats(connection=connection)
    lag, pending = stats.get("lag"), stats.get("pending")
    latest = ConnectionRun.objects.filter(connection=connection).order_by("-started_at", "-id").first()
    return {
        "connection_id": connection.pk,
        "last_good_sync_at": good,
        "seconds_since_good_sync": round((now - good).total_seconds(), 3) if good is not None else None,
        "stream": {
            "lag": lag,  # batches in the stream not delivered to the consumer yet
            "pending": pending,  # delivered, not acknowledged
            "unapplied": None if lag is None and pending is None else (lag or 0) + (pending or 0),
            "oldest_pending_at": stats.get("oldest_pending_at"),
            "error": stats.get("error") or "",
        },
        "schedule": connection_schedule(connection=connection),
        "last_run": run_as_dict(latest) if latest is not None else None,
    }


def connection_runs(*, connection, limit: int = RUNS_SHOWN) -> list[ConnectionRun]:
    return list(ConnectionRun.objects.filter(connection=connection).order_by("-started_at", "-id")[:limit])


def connection_run_get(*, connection, run_id: int) -> ConnectionRun:
    """One run of the connection; raises ConnectionRun.DoesNotExist (another connection's run too)."""
    return ConnectionRun.objects.get(connection=connection, pk=run_id)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _step_line(step: dict[str, Any]) -> str:
    """One line of a run's log, in words, for one pipeline step."""
    name, d = step.get("step") or "?", step.get("details") or {}
    took = f" in {float(step.get('seconds') or 0):.1f} s"
    if not step.get("ok", True):
        return f"{name} failed{took}: {d.get('error') or 'no reason recorded'}"
    if name == "read":
        line = (f"read {_plural(int(d.get('records_read') or 0), 'record')} from "
                f"{_plural(int(d.get('objects') or 0), 'object')}: {int(d.get('records_published') or 0):,} published, "
                f"{int(d.get('quarantined') or 0):,} quarantined{took}")
        skipped = [f"{o.get('name')} ({o.get('skipped')})" for o in d.get("details") or [] if o.get("skipped")]
        return line + (f"; not read: {'; '.join(skipped)}" if skipped else "")
    if name == "changes":
        totals = dict.fromkeys(("inserted", "updated", "deleted"), 0)
        for counts in (d.get("objects") or {}).values():
            for key in totals:
                totals[key] += int(counts.get(key) or 0)
        return f"changes: {totals['inserted']:,} inserted, {totals['updated']:,} updated, {totals['deleted']:,} deleted"
    if name == "deletes":
        return f"deletes: {int(step.get('rows') or 0):,} deleted at the source{took}"
    if name == "consume":
        return f"consume: {_plural(int(step.get('rows') or 0), 'record')} written to the store{took}"
    if name == "values":
        return f"values: {_plural(int(step.get('rows') or 0), 'distinct value')} mapped{took}"
    if name == "materialize":
        views = d.get("views") or {}
        shown = ", ".join(f"{e} {int(n):,}" for e, n in sorted(views.items()))
        return f"materialize: {_plural(len(views), 'view')} rebuilt ({shown or 'none'}){took}"
    return f"{name}: {_plural(int(step.get('rows') or 0), 'row')}{took}"


def run_log(run: ConnectionRun) -> list[str]:
    """The run's short log: a line per step it ran, then its error when it failed."""
    lines = [_step_line(s) for s in (run.info or {}).get("steps") or [] if isinstance(s, dict)]
    if run.error and not any("failed" in line for line in lines):
        lines.append(f"error: {run.error}")
    return lines


def run_retryable(run: ConnectionRun) -> bool:
    """A failed run may be run again (a run still going may not: its lease refuses a second)."""
    return run.status == ConnectionRun.Status.FAILED


def run_view(run: ConnectionRun) -> dict[str, Any]:
    """A run as the connection page shows it: the API's fields, its log and whether it can be retried."""
    return {**run_as_dict(run), "pk": run.pk, "retryable": run_retryable(run)}


def run_as_dict(run: ConnectionRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "trigger": run.trigger,
        "status": run.status,
        "attempt": run.attempt,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "seconds": run.seconds,
        "error": run.error,
        "retry_at": run.retry_at,
        "skipped_count": run.skipped_count,
        "records_read": run.records_read,
        "quarantined": run.quarantined,
        "inserted": run.inserted,
        "updated": run.updated,
        "deleted": run.deleted,
        "objects": run.object_counts,
        "full": bool((run.info or {}).get("full")),
        "retry_of": (run.info or {}).get("retry_of"),
        "log": run_log(run),
    }
