"""Celery entry points of AOA: thin, tenant-bound, retried with backoff on infrastructure errors."""

from __future__ import annotations

import logging

import redis
from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from autonomos.core.tasks import TenantBoundTask

logger = logging.getLogger(__name__)

# Database or Redis going away mid-job: worth retrying the whole job (every step is idempotent:
# cursors move only after publish, batch ids are deterministic, finished sources are not redone).
TRANSIENT = (OperationalError, InterfaceError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class JobTask(TenantBoundTask):
    """A task that runs one Job (args[0] is its id): when it finally fails, the job says so."""

    abstract = True

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from .models import Job
        from .services import job_finish

        try:
            job = Job.objects.filter(pk=args[0]).first() if args else None
            if job is not None and job.status in Job.ACTIVE:
                job_finish(job=job, status=Job.Status.FAILED,
                           error=f"gave up after {self.request.retries + 1} attempts: {type(exc).__name__}: {exc}")
        except Exception:  # noqa: BLE001 - the database may be what failed
            logger.exception("could not mark job %s failed", args[0] if args else None)


@shared_task(base=JobTask, bind=True, name="agents.connect_job", autoretry_for=TRANSIENT, retry_backoff=5,
             retry_backoff_max=120, retry_jitter=True, max_retries=3,
             soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT, time_limit=settings.CELERY_TASK_TIME_LIMIT)
def connect_job_task(self, job_id: int) -> str | None:
    from .services import connect_job_execute

    job = connect_job_execute(job_id=job_id)
    return job.status if job else None


@shared_task(base=JobTask, bind=True, name="agents.agents_job", autoretry_for=TRANSIENT, retry_backoff=5,
             retry_backoff_max=120, retry_jitter=True, max_retries=3, soft_time_limit=10 * 60, time_limit=12 * 60)
def agents_job_task(self, job_id: int) -> str | None:
    from .services import JobBusy, agents_job_execute

    try:
        job = agents_job_execute(job_id=job_id)
    except JobBusy as exc:
        # At the tenant's concurrency limit: wait in the queue, backing off up to a minute.
        raise self.retry(exc=exc, countdown=min(60, 2 ** min(self.request.retries, 6)), max_retries=120) from None
    return job.status if job else None
