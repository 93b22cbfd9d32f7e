"""The connect job: sync the chosen sources → consume their streams → materialize the unified
views → run the agents, with a per-source report.

Shape of a run:
- one child `sync` job per connection; syncs run in a small thread pool (AOA_SYNC_PARALLELISM),
  each thread with its own database connection set to the tenant. A failing source (after its
  retries for transient errors) is recorded and never stops the others;
- a DCL consumer runs in another thread for as long as the syncs do, so the producer's
  back-pressure (a stream near MAXLEN) never waits on a consumer that is not running, and cursors
  move (they do once the consumer applied the pages);
- after every sync: a last drain of the streams, one `materialize` child, one `agents` child;
- cancellation is checked at every step boundary: sources not started are cancelled, running
  ones finish their current sync, nothing after them starts.
Status: every source ok → succeeded; some failed → partial; all failed → failed. No materialized
rows → the agents step is skipped with the reason, which is not an error.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db import connection as db_connection

from autonomos.core.tenancy import current_tenant

from ..models import Job
from ..routing import route_connection
from .jobs import (
    JobCancelled,
    job_cancel_requested,
    job_claim,
    job_create,
    job_finish,
    job_heartbeat,
    job_progress_set,
)

logger = logging.getLogger(__name__)

SYNC_SHARE, CONSUME_SHARE, MATERIALIZE_SHARE = 70, 5, 10  # of 100; the agents take the rest
HEARTBEAT_INTERVAL = 30.0


def _transient_errors() -> tuple[type[BaseException], ...]:
    import redis

    errors: list[type[BaseException]] = [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    try:
        from connectors.errors import TransientError

        errors.append(TransientError)
    except ImportError:  # connectors without an error module yet: only infrastructure errors are transient
        pass
    return tuple(errors)


def _permanent_errors() -> tuple[type[BaseException], ...]:
    try:
        from connectors.errors import PermanentError

        return (PermanentError,)
    except ImportError:
        return ()


def _error_text(exc: BaseException) -> str:
    message = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {message}"[:2000] if not message.startswith(type(exc).__name__) else message[:2000]


@dataclass
class SourceReport:
    connection_id: int
    name: str
    kind: str
    job_id: int | None = None
    status: str = "queued"
    attempts: int = 0
    records_read: int = 0
    records_published: int = 0
    quarantined: int = 0
    error: str = ""
    routed_to: list[str] = field(default_factory=list)
    route_reason: str = ""
    seconds: float = 0.0


class _Progress:
    """The progress callback of a source's read step: takes the pipeline's one progress shape,
    aam's `SyncProgress(object_name, records_read, records_published, quarantined, total)`, and
    updates the child job."""

    def __init__(self, child: Job, fractions: dict[int, float], cid: int):
        self.child, self.fractions, self.cid = child, fractions, cid

    def __call__(self, report) -> None:
        read, estimate = report.records_read or 0, report.total
        if estimate:
            # the estimate is a row count; done only when the read returns
            self.fractions[self.cid] = min(max(read / estimate, 0.0), 0.99)
        try:
            job_progress_set(job=self.child, progress=int(self.fractions.get(self.cid, 0.0) * 100),
                             step=f"{report.object_name}: {read:,} records read"[:300])
        except Exception:  # noqa: BLE001 - progress reporting never breaks a sync
            logger.debug("progress update failed", exc_info=True)


class ConnectRun:
    """One execution (attempt) of a connect job."""

    def __init__(self, job: Job):
        self.job = job
        self.tenant = current_tenant()
        self.reports: dict[int, SourceReport] = {}
        self.fractions: dict[int, float] = {}
        self.children: dict[int, Job] = {}
        self.last_heartbeat = time.monotonic()
        self.run = None  # the pipeline run (dcl.pipeline.SyncRun), made in execute

    # --- helpers ---------------------------------------------------------------------------

    def check_cancel(self) -> None:
        if job_cancel_requested(job=self.job):
            raise JobCancelled()

    def parent_progress(self, extra: int = 0, step: str | None = None, force: bool = False) -> None:
        n = max(1, len(self.reports))
        synced = sum(self.fractions.get(cid, 0.0) for cid in self.reports) / n
        job_progress_set(job=self.job, progress=int(synced * SYNC_SHARE) + extra, step=step, force=force)
        if time.monotonic() - self.last_heartbeat > HEARTBEAT_INTERVAL:
            job_heartbeat(job=self.job)
            self.last_heartbeat = time.monotonic()

    def _child(self, kind: str, *, connection_obj=None, step: str = "") -> Job:
        existing = Job.objects.filter(parent=self.job, kind=kind, connection=connection_obj).first()
        if existing is not None:
            return existing
        return job_create(kind=kind, parent=self.job, connection_obj=connection_obj, step=step or "queued")

    # --- the run ---------------------------------------------------------------------------

    def execute(self) -> Job:
        """Run the job; each source's run is recorded on its connection (ConnectionRun, trigger "job"):
        a failed read ends its record at once, the others end with the job's shared steps."""
        from dcl.schedules.runs import RunRecords

        self.records = RunRecords(trigger="job")
        try:
            job = self._execute()
        except BaseException as exc:
            self.records.finish(self._run_info(), exc)
            raise
        self.records.finish(self._run_info())
        return job

    def _run_info(self) -> dict | None:
        return self.run.info.as_dict() if self.run is not None else None

    def _execute(self) -> Job:
        from connectors.models import Connection
        from dcl.pipeline import SyncRun

        ids = [int(i) for i in self.job.params.get("connection_ids") or []]
        self.run = SyncRun(tenant=self.tenant, connection_ids=ids, full=bool(self.job.params.get("full")),
                           trigger=f"connect-job-{self.job.pk}")
        connections = {c.pk: c for c in Connection.objects.filter(pk__in=ids)}
        for cid in ids:
            conn = connections.get(cid)
            if conn is None:
                self.reports[cid] = SourceReport(connection_id=cid, name="", kind="", status="failed",
                                                 error="the connection was deleted before the job ran")
                continue
            route = route_connection(kind=conn.kind, domain=conn.domain, config=conn.config)
            child = self._child(Job.Kind.SYNC, connection_obj=conn, step=f"waiting to sync {conn.name}")
            self.children[cid] = child
            report = SourceReport(connection_id=cid, name=conn.name, kind=conn.kind, job_id=child.pk,
                                  routed_to=list(route.domains), route_reason=route.reason)
            if child.status == Job.Status.SUCCEEDED:  # a retried job does not redo finished sources
                report.status, self.fractions[cid] = "succeeded", 1.0
                report.records_read = child.result.get("records_read", 0)
                report.records_published = child.result.get("records_published", 0)
                report.quarantined = child.result.get("quarantined", 0)
            elif child.status not in Job.ACTIVE:  # failed in an earlier attempt: it gets another go
                Job.objects.filter(pk=child.pk).update(status=Job.Status.QUEUED, error="", finished_at=None,
                                                       progress=0, step=f"waiting to sync {conn.name}")
                child.refresh_from_db()
            self.reports[cid] = report
        self.parent_progress(step=f"syncing {len(connections)} sources", force=True)

        try:
            self.sync_all(connections)
            self.check_cancel()
            self.drain_final()
            self.check_cancel()
        except JobCancelled as exc:
            self.records.finish(self._run_info(), exc)
            return self.finish_cancelled()
        except _StepFailed as exc:
            self.records.finish(self._run_info(), exc)
            self._skip_child(Job.Kind.MATERIALIZE, "skipped: the streams could not be consumed")
            self._skip_child(Job.Kind.AGENTS, "skipped: the streams could not be consumed")
            return self.finish(Job.Status.FAILED, error=str(exc), note=str(exc))

        ok = [r for r in self.reports.values() if r.status == "succeeded"]
        failed = [r for r in self.reports.values() if r.status != "succeeded"]
        views: dict[str, int] = {}
        agents: list[dict] = []
        agents_note = ""
        if not ok:
            agents_note = "skipped: every source failed, nothing new landed"
            self._skip_child(Job.Kind.MATERIALIZE, agents_note)
            self._skip_child(Job.Kind.AGENTS, agents_note)
        else:
            try:
                views = self.materialize()
                self.records.finish(self._run_info())  # the sources' runs end with the views
                self.check_cancel()
                agents, agents_note = self.run_agents(views)
            except JobCancelled as exc:
                self.records.finish(self._run_info(), exc)
                return self.finish_cancelled()
            except _StepFailed as exc:
                self.records.finish(self._run_info(), exc)
                return self.finish(Job.Status.FAILED, error=str(exc), views=views, agents=agents, note=str(exc))

        agents_failed = any(a.get("status") == "failed" for a in agents)
        if not failed and not agents_failed:
            status = Job.Status.SUCCEEDED
        elif ok:
            status = Job.Status.PARTIAL
        else:
            status = Job.Status.FAILED
        error = "; ".join(f"{r.name or r.connection_id}: {r.error}" for r in failed)
        return self.finish(status, error=error, views=views, agents=agents, note=agents_note)

    def sync_all(self, connections: dict) -> None:
        pending = [cid for cid, r in self.reports.items() if r.status == "queued" and cid in connections]
        if not pending:
            return
        workers = max(1, min(settings.AOA_SYNC_PARALLELISM, len(pending)))
        futures: dict[Future, int] = {}
        started: set[int] = set()
        lock = threading.Lock()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"aoa-{self.job.pk}")
        # The pipeline run's consumer follows the pending sources' streams beside the reads.
        self.run.connection_ids = sorted(pending)
        self.run.start()
        completed = False
        try:
            for cid in pending:
                futures[pool.submit(self._sync_thread, connections[cid], started, lock)] = cid
            not_done = set(futures)
            while not_done:
                done, not_done = wait(not_done, timeout=1.0, return_when=FIRST_COMPLETED)
                for future in done:
                    exc = future.exception() if not future.cancelled() else None
                    if exc is not None:  # _sync_thread reports its own errors; this is a bug guard
                        report = self.reports[futures[future]]
                        report.status, report.error = "failed", _error_text(exc)
                self.parent_progress(step=self._sync_step())
                if job_cancel_requested(job=self.job):
                    for future in not_done:
                        if future.cancel():
                            cid = futures[future]
                            self.reports[cid].status = "cancelled"
                            job_finish(job=self.children[cid], status=Job.Status.CANCELLED)
                    not_done = {f for f in not_done if not f.cancelled()}
            completed = True
        finally:
            # On an error here (e.g. the task's soft time limit) do not wait for running syncs: the
            # job is being failed, and the sources' cursors only move after a durable publish.
            pool.shutdown(wait=completed, cancel_futures=True)
            self.run.stop(wait=completed)  # a failure of its consumer is retried by the final drain

    def _sync_step(self) -> str:
        running = [r.name for r in self.reports.values() if r.status == "running"]
        done = sum(1 for r in self.reports.values() if r.status in ("succeeded", "failed", "cancelled"))
        return f"syncing {', '.join(running)} ({done}/{len(self.reports)} done)" if running else \
            f"synced {done}/{len(self.reports)} sources"

    def _sync_thread(self, conn, started: set[int], lock: threading.Lock) -> None:
        """Runs in a pool thread: its own database connection, set to the tenant, closed at the end."""
        db_connection.set_tenant(self.tenant)
        try:
            self._sync_one(conn, started, lock)
        finally:
            db_connection.close()

    def _sync_one(self, conn, started: set[int], lock: threading.Lock) -> None:
        from aam.sync_lock import SyncAlreadyRunning
        from dcl.pipeline import PipelineStepFailed

        cid = conn.pk
        report, child = self.reports[cid], self.children[cid]
        if job_cancel_requested(job=self.job):
            report.status = "cancelled"
            job_finish(job=child, status=Job.Status.CANCELLED)
            return
        child = job_claim(job_id=child.pk) or child
        self.children[cid] = child
        report.status = "running"
        with lock:
            started.add(cid)
        transient, permanent = _transient_errors(), _permanent_errors()
        retries = max(0, settings.AOA_SOURCE_RETRIES)
        begin = time.monotonic()
        self.records.start(conn)
        failure = None
        for attempt in range(1, retries + 2):
            report.attempts = attempt
            job_progress_set(job=child, step=f"syncing {conn.name}" + (f" (attempt {attempt})" if attempt > 1 else ""),
                             force=True)
            try:
                result = self.run.read(conn, progress=_Progress(child, self.fractions, cid))
            except PipelineStepFailed as failed:
                exc, failure = failed.exception, failed
            else:
                exc = None
            if exc is None:
                report.status, report.error = "succeeded", ""
                for name in ("records_read", "records_published", "quarantined"):
                    setattr(report, name, int(getattr(result, name, 0) or 0))
                break
            if isinstance(exc, permanent):
                report.status, report.error = "failed", _error_text(exc)
                break
            if isinstance(exc, transient):
                report.error = _error_text(exc)
                if attempt > retries or job_cancel_requested(job=self.job):
                    report.status = "failed"
                    break
                delay = settings.AOA_RETRY_BACKOFF_SECONDS * (2 ** (attempt - 1))
                job_progress_set(job=child, step=f"transient error, retrying in {delay:g}s: {report.error}"[:300],
                                 force=True)
                time.sleep(delay)
                conn.refresh_from_db()
                continue
            if isinstance(exc, SyncAlreadyRunning) and attempt <= retries:
                # Someone else (a manual sync) holds this connection: wait for it like a transient error.
                report.error = _error_text(exc)
                time.sleep(settings.AOA_RETRY_BACKOFF_SECONDS * (2 ** (attempt - 1)))
                continue
            # one source's failure must not stop the others
            logger.error("sync of connection %s failed", cid, exc_info=exc)
            report.status, report.error = "failed", _error_text(exc)
            break
        report.seconds = round(time.monotonic() - begin, 3)
        self.fractions[cid] = 1.0
        child_result = {k: getattr(report, k) for k in ("records_read", "records_published", "quarantined",
                                                         "attempts", "seconds")}
        child.attempts = report.attempts
        child.save(update_fields=["attempts", "updated_at"])
        if report.status != "succeeded":
            self.records.read_failed(conn, failure or RuntimeError(report.error or report.status))
        if report.status == "succeeded":
            job_finish(job=child, status=Job.Status.SUCCEEDED, result=child_result,
                       step=f"synced {report.records_published} records")
        else:
            job_finish(job=child, status=Job.Status.FAILED, error=report.error, result=child_result)

    def drain_final(self) -> None:
        """Apply what is still waiting in the streams of the sources that synced (the run's consume step)."""
        from dcl.pipeline import PipelineStepFailed

        ok = [cid for cid, r in self.reports.items() if r.status == "succeeded"]
        if not ok:
            return
        self.parent_progress(step="consuming streams", force=True)
        try:
            self.run.consume(ok)
        except PipelineStepFailed as failed:
            logger.error("consuming the streams failed", exc_info=failed.exception)
            raise _StepFailed(f"consuming the sources' streams failed: {_error_text(failed.exception)}") from failed
        self.parent_progress(extra=CONSUME_SHARE, step="streams consumed", force=True)

    def materialize(self) -> dict[str, int]:
        from dcl.pipeline import PipelineStepFailed

        child = self._child(Job.Kind.MATERIALIZE, step="materializing views")
        child = job_claim(job_id=child.pk) or child
        self.parent_progress(extra=CONSUME_SHARE, step="materializing unified views", force=True)
        try:
            counts = self.run.materialize()
        except PipelineStepFailed as failed:
            exc = failed.exception
            logger.error("materialization failed", exc_info=exc)
            job_finish(job=child, status=Job.Status.FAILED, error=_error_text(exc))
            self._skip_child(Job.Kind.AGENTS, "skipped: the views could not be materialized")
            raise _StepFailed(f"materializing the unified views failed: {_error_text(exc)}") from exc
        counts = {str(k): int(v or 0) for k, v in counts.items()}
        job_finish(job=child, status=Job.Status.SUCCEEDED, result={"views": counts},
                   step=f"materialized {sum(counts.values())} rows in {len(counts)} views")
        self.parent_progress(extra=CONSUME_SHARE + MATERIALIZE_SHARE, step="views materialized", force=True)
        return counts

    def run_agents(self, views: dict[str, int]) -> tuple[list[dict], str]:
        from .runs import agents_run

        if not any(views.values()):
            note = "skipped: no materialized data (the sources produced no rows in any unified view)"
            self._skip_child(Job.Kind.AGENTS, note)
            return [], note
        child = self._child(Job.Kind.AGENTS, step="running agents")
        child = job_claim(job_id=child.pk) or child
        self.parent_progress(extra=CONSUME_SHARE + MATERIALIZE_SHARE, step="running agents", force=True)
        runs = agents_run(tenant=self.tenant, job=child)
        summary = [{"agent": r.agent, "run_id": r.pk, "status": r.status,
                    "reason": r.skipped_reason or r.error} for r in runs]
        ran = [r for r in runs if r.status == "succeeded"]
        failed = [r for r in runs if r.status == "failed"]
        if failed and not ran:
            child_status = Job.Status.FAILED
        elif failed:
            child_status = Job.Status.PARTIAL
        elif ran:
            child_status = Job.Status.SUCCEEDED
        else:
            child_status = Job.Status.SKIPPED
        note = ", ".join(f"{r.agent} {r.status}" for r in runs)
        job_finish(job=child, status=child_status, result={"runs": summary},
                   error="; ".join(f"{r.agent}: {r.error}" for r in failed), step=note or "no agents")
        return summary, note

    def _skip_child(self, kind: str, reason: str) -> None:
        child = self._child(kind, step=reason)
        if child.status in Job.ACTIVE:
            job_finish(job=child, status=Job.Status.SKIPPED, step=reason[:300], result={"reason": reason})

    # --- endings ---------------------------------------------------------------------------

    def result(self, views: dict | None = None, agents: list | None = None, note: str = "") -> dict:
        reports = list(self.reports.values())
        ok = sum(1 for r in reports if r.status == "succeeded")
        return {
            "summary": f"{ok} of {len(reports)} sources synced" + (f"; agents: {note}" if note else ""),
            "sources": [asdict(r) for r in reports],
            "views": views or {},
            "agents": agents or [],
        }

    def finish(self, status: str, *, error: str = "", views=None, agents=None, note: str = "") -> Job:
        result = self.result(views, agents, note)
        return job_finish(job=self.job, status=status, error=error, result=result, step=result["summary"])

    def finish_cancelled(self) -> Job:
        for child in Job.objects.filter(parent=self.job, status__in=Job.ACTIVE):
            job_finish(job=child, status=Job.Status.CANCELLED)
            if child.connection_id in self.reports and self.reports[child.connection_id].status == "queued":
                self.reports[child.connection_id].status = "cancelled"
        for kind in (Job.Kind.MATERIALIZE, Job.Kind.AGENTS):
            child = self._child(kind)
            if child.status in Job.ACTIVE:
                job_finish(job=child, status=Job.Status.CANCELLED)
        result = self.result(note="cancelled")
        return job_finish(job=self.job, status=Job.Status.CANCELLED, result=result,
                          step=f"cancelled ({result['summary']})")


class _StepFailed(Exception):
    pass


def connect_job_execute(*, job_id: int) -> Job | None:
    """Run (or, on a retry, resume) a connect job. Infrastructure errors (database, Redis)
    propagate so the Celery task retries with backoff; anything else fails the job with the reason."""
    from django.db import InterfaceError, OperationalError

    job = job_claim(job_id=job_id)
    if job is None:
        return Job.objects.filter(pk=job_id).first()
    try:
        return ConnectRun(job).execute()
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        from celery.exceptions import SoftTimeLimitExceeded

        logger.exception("connect job %s failed", job_id)
        reason = "time limit reached" if isinstance(exc, SoftTimeLimitExceeded) else _error_text(exc)
        job.refresh_from_db()
        for child in Job.objects.filter(parent=job, status__in=Job.ACTIVE):
            job_finish(job=child, status=Job.Status.FAILED, error=reason)
        return job_finish(job=job, status=Job.Status.FAILED, error=reason)


__all__ = ["ConnectRun", "connect_job_execute"]
