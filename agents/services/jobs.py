"""Job lifecycle: create, claim (with the per-tenant concurrency limit), progress, finish, cancel,
and the one-active-connect-job rule (enforced by a partial unique index, see models.Job)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from autonomos.core.errors import Conflict, TooBusy
from autonomos.core.events import publish_event
from autonomos.core.tenancy import current_tenant

from ..models import Job

logger = logging.getLogger(__name__)

# Progress writes from fast callbacks are coalesced: at most one per job per interval unless the
# percentage moved by at least PROGRESS_MIN_STEP.
PROGRESS_MIN_INTERVAL = 0.5
PROGRESS_MIN_STEP = 5
_last_progress_write: dict[int, tuple[float, int]] = {}


class JobConflict(Conflict):
    """A job is in the way (409 with its id as a number in `error.details.job_id`)."""

    def __init__(self, message: str, *, job_id: int):
        super().__init__(message, details={"job_id": job_id})
        self.job_id = job_id


class TooManyJobs(TooBusy):
    default_message = "Too many jobs are waiting or running for this tenant; try again when some have finished."


class JobBusy(Exception):
    """The tenant is at its concurrency limit; the task retries later."""


class JobCancelled(Exception):
    """Raised at a step boundary of a job whose cancellation was requested."""


def _event_payload(job: Job) -> dict:
    return {"job_id": job.pk, "parent_id": job.parent_id, "kind": job.kind, "status": job.status,
            "progress": job.progress, "step": job.step, "connection_id": job.connection_id}


def job_event(job: Job) -> None:
    publish_event(current_tenant(), "job_progress", _event_payload(job))


def _user_or_none(user):
    return user if user is not None and getattr(user, "is_authenticated", False) and user.pk else None


def job_create(*, kind: str, params: dict | None = None, parent: Job | None = None, connection_obj=None,
               user=None, step: str = "") -> Job:
    """A queued job (child jobs are created by their parent's runner)."""
    job = Job(kind=kind, params=params or {}, parent=parent, connection=connection_obj,
              requested_by=_user_or_none(user), step=step or "queued")
    job.full_clean()
    job.save()
    return job


def job_reap_stale() -> int:
    """Mark active top-level jobs whose heartbeat stopped as failed, so a dead worker cannot block
    the tenant's connect jobs forever. Returns how many were reaped."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.AOA_JOB_STALE_SECONDS)
    stale = list(Job.objects.filter(status__in=Job.ACTIVE, updated_at__lt=cutoff))
    for job in stale:
        minutes = settings.AOA_JOB_STALE_SECONDS // 60
        job_finish(job=job, status=Job.Status.FAILED,
                   error=f"lost: no progress for over {minutes} minutes (the worker running it stopped)")
    return len(stale)


# The job tasks (agents/tasks.py), by their Celery names: the tasks call these services, so the
# services look the tasks up in Celery's registry instead of importing them (no import circle).
CONNECT_JOB_TASK = "agents.connect_job"
AGENTS_JOB_TASK = "agents.agents_job"


def _enqueue(job: Job, task_name: str) -> None:
    """Send the job's task after commit; a broker outage fails the job instead of leaving it queued."""
    task_id = job.task_id

    def send():
        try:
            current_app.tasks[task_name].apply_async(args=[job.pk], task_id=task_id)
        except Exception as exc:  # noqa: BLE001 - reported on the job, which must not stay queued forever
            logger.exception("could not queue job %s", job.pk)
            fresh = Job.objects.filter(pk=job.pk).first()
            if fresh is not None and fresh.status == Job.Status.QUEUED:
                job_finish(job=fresh, status=Job.Status.FAILED, error=f"could not queue the job: {type(exc).__name__}")

    transaction.on_commit(send)


def _active_connect_job() -> Job | None:
    return Job.objects.filter(kind=Job.Kind.CONNECT, parent__isnull=True, status__in=Job.ACTIVE).first()


def connect_job_start(*, connection_ids: Iterable[int] | None = None, user=None, full: bool = False) -> Job:
    """Queue a connect job over the given connections (all of the tenant's when None).

    Raises `JobConflict` (409) with the active job's id when one is queued or running, and a
    ValidationError for unknown connection ids or a tenant without connections.
    """
    from django.core.exceptions import ValidationError

    from connectors.models import Connection

    current_tenant()
    job_reap_stale()
    existing = _active_connect_job()
    if existing is not None:
        raise JobConflict(f"A connect job (#{existing.pk}) is already {existing.status}.", job_id=existing.pk)
    if connection_ids is None:
        ids = list(Connection.objects.order_by("id").values_list("id", flat=True))
        if not ids:
            raise ValidationError({"connection_ids": "This tenant has no connections yet: add one first."})
    else:
        ids = sorted(set(connection_ids))
        if not ids:
            raise ValidationError({"connection_ids": "Give at least one connection id, or omit the field for all."})
        found = set(Connection.objects.filter(id__in=ids).values_list("id", flat=True))
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValidationError({"connection_ids": f"Unknown connection ids: {missing}."})
    for _ in range(2):
        try:
            with transaction.atomic():
                job = Job(kind=Job.Kind.CONNECT, params={"connection_ids": ids, "full": bool(full)},
                          requested_by=_user_or_none(user), step="queued", task_id=str(uuid.uuid4()))
                job.full_clean(validate_constraints=False)  # the unique index is the arbiter, not a pre-check
                job.save()
            break
        except IntegrityError:
            # Another request inserted its connect job between our check and our insert; the index
            # made us lose, so report the winner (unless it already finished: then try once more).
            existing = _active_connect_job()
            if existing is not None:
                raise JobConflict(f"A connect job (#{existing.pk}) is already {existing.status}.",
                                  job_id=existing.pk) from None
    else:
        raise JobConflict("Another connect job was starting at the same moment; try again.", job_id=0)
    transaction.on_commit(lambda: job_event(job))
    _enqueue(job, CONNECT_JOB_TASK)
    return job


def agents_job_start(*, agents: list[str] | None = None, user=None) -> Job:
    """Queue an agents-only job (no sync). Counts toward the tenant's job limits."""
    current_tenant()
    job_reap_stale()
    if Job.objects.filter(parent__isnull=True, status__in=Job.ACTIVE).count() >= settings.AOA_MAX_ACTIVE_JOBS:
        raise TooManyJobs()
    job = Job(kind=Job.Kind.AGENTS, params={"agents": agents or []}, requested_by=_user_or_none(user),
              step="queued", task_id=str(uuid.uuid4()))
    job.full_clean()
    job.save()
    transaction.on_commit(lambda: job_event(job))
    _enqueue(job, AGENTS_JOB_TASK)
    return job


def job_claim(*, job_id: int, limited: bool = False) -> Job | None:
    """Move a job to running (a retried job that is already running is taken again) and count the
    attempt. Returns None when the job was cancelled or has finished meanwhile.

    `limited`: the job counts toward AOA_MAX_RUNNING_JOBS; when the tenant is at the limit the
    claim raises JobBusy and the job stays queued. An advisory lock per tenant serializes the
    count-and-claim so two workers cannot both take the last slot.
    """
    with transaction.atomic():
        if limited:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"aoa-jobs:{connection.schema_name}"])
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in Job.ACTIVE:
            return None
        if job.cancel_requested:
            job_finish(job=job, status=Job.Status.CANCELLED, error="", step="cancelled before it started")
            return None
        if limited and job.status == Job.Status.QUEUED:
            running = (Job.objects.filter(parent__isnull=True, status=Job.Status.RUNNING)
                       .exclude(kind=Job.Kind.CONNECT).count())
            if running >= settings.AOA_MAX_RUNNING_JOBS:
                raise JobBusy(f"{running} jobs already running")
        job.status = Job.Status.RUNNING
        job.attempts += 1
        job.started_at = job.started_at or timezone.now()
        job.step = "starting" if job.attempts == 1 else f"starting (attempt {job.attempts})"
        job.save(update_fields=["status", "attempts", "started_at", "step", "updated_at"])
    job_event(job)
    return job


def job_progress_set(*, job: Job, progress: int | None = None, step: str | None = None, force: bool = False) -> None:
    """Record progress (0-100, never going backwards) and the current step; publishes job_progress.

    Coalesced for chatty callers: skipped when less than PROGRESS_MIN_INTERVAL passed and the
    percentage moved by less than PROGRESS_MIN_STEP, unless `force` or the step text changed.
    """
    new_progress = job.progress if progress is None else max(job.progress, min(100, max(0, int(progress))))
    new_step = job.step if step is None else step[:300]
    now = time.monotonic()
    key = (connection.schema_name, job.pk)
    last_at, last_pct = _last_progress_write.get(key, (0.0, -100))
    if (not force and new_step == job.step and now - last_at < PROGRESS_MIN_INTERVAL
            and new_progress - last_pct < PROGRESS_MIN_STEP):
        job.progress = new_progress
        return
    job.progress, job.step = new_progress, new_step
    Job.objects.filter(pk=job.pk).update(progress=new_progress, step=new_step, updated_at=timezone.now())
    _last_progress_write[key] = (now, new_progress)
    job_event(job)


def job_heartbeat(*, job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now())


def job_finish(*, job: Job, status: str, error: str = "", result: dict | None = None, step: str | None = None) -> Job:
    """Close a job with its final status (and result); idempotent for a job already finished."""
    job.status = status
    job.error = error[:5000]
    if result is not None:
        job.result = result
    if status in (Job.Status.SUCCEEDED, Job.Status.PARTIAL, Job.Status.SKIPPED):
        job.progress = 100
    job.step = step if step is not None else status
    job.finished_at = timezone.now()
    job.full_clean(validate_constraints=False)
    job.save(update_fields=["status", "error", "result", "progress", "step", "finished_at", "updated_at"])
    _last_progress_write.pop((connection.schema_name, job.pk), None)
    job_event(job)
    return job


def job_cancel_requested(*, job: Job) -> bool:
    """Re-read the cancel flag (set by another process) at a step boundary."""
    return Job.objects.filter(pk=job.pk, cancel_requested=True).exists()


def job_cancel(*, job: Job, user=None) -> Job:
    """Cancel a job: a queued one stops now; a running one at its next step boundary.

    Raises JobConflict when the job has already finished.
    """
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status not in Job.ACTIVE:
            raise JobConflict(f"Job #{job.pk} has already finished ({job.status}).", job_id=job.pk)
        job.cancel_requested = True
        job.save(update_fields=["cancel_requested", "updated_at"])
        Job.objects.filter(parent=job, status__in=Job.ACTIVE).update(cancel_requested=True)
        if job.status == Job.Status.QUEUED:
            for child in Job.objects.filter(parent=job, status__in=Job.ACTIVE):
                job_finish(job=child, status=Job.Status.CANCELLED)
            who = getattr(_user_or_none(user), "username", None)
            job_finish(job=job, status=Job.Status.CANCELLED, step=f"cancelled by {who}" if who else "cancelled")
        else:
            job.step = f"{job.step} (cancelling)"[:300]
            job.save(update_fields=["step", "updated_at"])
            transaction.on_commit(lambda: job_event(job))
    return job
