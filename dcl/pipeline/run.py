"""The owner of a pipeline run: read (→ normalize → publish) each connection with a consumer
beside the reads, drain the streams, materialize the views.

Every caller starts a run here: the `sync` command, the Celery task `dcl.connection_sync` (which the
sync API and drift re-processing queue by name: aam is below the DCL), stream replay, and the AOA
connect job (which drives the steps itself, to report them as child jobs). See
docs/adr/0013-pipeline-run.md.

    with SyncRun(tenant=t, connection_ids=[1, 2], trigger="command") as run:
        run.read(connection_1)          # StepInfo("read", 1, rows, seconds)
        run.read(connection_2)
    run.consume()                       # StepInfo("consume", ...)
    run.values()                        # StepInfo("values", ...): canonical values (run by materialize
                                        # itself when the caller did not)
    run.materialize()                   # StepInfo("materialize", ...)
    run.info                            # RunInfo: every step, in order

A failing step is raised once, as PipelineStepFailed(step, exception, step_info).
"""

from __future__ import annotations

import logging
import threading
import time

from django_tenants.utils import tenant_context

from ..changes import COUNTS as CHANGE_COUNTS
from ..changes import changes_counted
from ..deletes import deletes_possible, deletes_sync
from .consume import ConsumerBeside, drain
from .info import PipelineStepFailed, RunInfo, StepInfo
from .materialize import materialize as views_rebuild
from .read import SyncResult, read_connection
from .values import values_map

logger = logging.getLogger(__name__)


class SyncRun:
    """One run of the pipeline over connections of one tenant.

    `connection_ids` are the streams the consumer beside the reads follows (None: all the tenant's).
    Inside `with`, that consumer runs; `read` may be called from several threads at once (each
    thread with its own database connection)."""

    def __init__(self, *, tenant, connection_ids=None, full: bool = False, trigger: str = "manual") -> None:
        self.tenant = tenant
        self.connection_ids = sorted(connection_ids) if connection_ids else None
        self.full = full
        self.info = RunInfo(trigger=trigger, full=full)
        self._beside: ConsumerBeside | None = None
        self._reads: dict[int, tuple[object, SyncResult]] = {}  # read, deletes not looked for yet
        self.lock = threading.Lock()

    def start(self) -> SyncRun:
        """Start the consumer beside the reads."""
        self._beside = ConsumerBeside(self.tenant, self.connection_ids,
                                      name=f"dcl-consumer-{self.info.trigger}").__enter__()
        return self

    def stop(self, *, wait: bool = True) -> None:
        """Stop the consumer beside the reads; without `wait`, give it 5 seconds (a run being failed)."""
        if self._beside is not None:
            self._beside.close(wait=wait)

    def __enter__(self) -> SyncRun:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def consumer_failure(self) -> BaseException | None:
        """The error the consumer beside the reads stopped with, if it did."""
        return self._beside.failure if self._beside is not None else None

    def _step(self, info: StepInfo, started: float, exc: BaseException | None = None) -> None:
        info.seconds = time.monotonic() - started
        info.ok = exc is None
        if exc is not None:
            info.details["error"] = f"{exc.__class__.__name__}: {exc}"[:2000]
        self.info.steps.append(info)

    def _attempt(self, info: StepInfo, started: float, work):
        """`work()`'s result; when it raises, the step is recorded failed and PipelineStepFailed raised."""
        try:
            return work()
        except Exception as exc:
            self._step(info, started, exc)
            raise PipelineStepFailed(info.step, exc, info) from exc

    def read(self, connection, *, progress=None) -> SyncResult:
        """Read one connection into its stream (step "read"); `progress(SyncProgress)` as it goes."""
        info, started = StepInfo("read", connection.pk), time.monotonic()
        result = self._attempt(info, started, lambda: read_connection(
            tenant=self.tenant, connection=connection, full=self.full, progress=progress))
        info.rows = result.records_published
        info.details = result.as_dict()
        self._step(info, started)
        with self.lock:
            self._reads[connection.pk] = (connection, result)
        return result

    def consume(self, connection_ids=None) -> StepInfo:
        """Apply what is still waiting in the streams (step "consume"), of `connection_ids` or the run's."""
        ids = connection_ids if connection_ids is not None else self.connection_ids
        info, started = StepInfo("consume"), time.monotonic()
        result = self._attempt(info, started, lambda: drain(tenant=self.tenant, connection_ids=ids))
        info.rows = result.records
        info.details = result.as_dict()
        self._step(info, started)
        self.deletes(ids)
        return info

    def deletes(self, connection_ids=None) -> list[StepInfo]:
        """Find and apply what the sources of the connections read in this run (of `connection_ids`,
        or all) no longer have (step "deletes", one per connection; dcl/deletes.py). Runs after the
        reads are consumed, so the DCL holds everything they brought; rows = records deleted."""
        with self.lock:
            wanted = [c for c in self._reads if connection_ids is None or c in connection_ids]
            reads = [self._reads.pop(c) for c in wanted]
        steps = []
        for connection, result in reads:
            entries, examined = list(result.entry_ids), []
            if deletes_possible(result):
                info, started = StepInfo("deletes", connection.pk), time.monotonic()
                outcome = self._attempt(info, started, lambda c=connection, r=result: self._deletes_sync(c, r))
                info.rows = outcome.deleted
                info.details = outcome.as_dict()
                self._step(info, started)
                steps.append(info)
                entries += outcome.entry_ids
                examined = [o.source_object for o in outcome.objects]
            steps.append(self.changes(connection, result, entries, examined))
        return steps

    def _deletes_sync(self, connection, read: SyncResult):
        with tenant_context(self.tenant):
            return deletes_sync(tenant=self.tenant, connection=connection, read=read,
                                drain=lambda ids: drain(tenant=self.tenant, connection_ids=ids))

    def changes(self, connection, read: SyncResult, entry_ids: list[str], examined: list[str] = ()) -> StepInfo:
        """What the connection's batches of this run changed, per source object (step "changes":
        inserted, updated, deleted from the ledger rows of the stream entries the run published,
        dcl/changes.py); every object the read mapped or the delete stage `examined` (one that
        vanished from the source, say) is listed, with zeros when nothing changed."""
        info, started = StepInfo("changes", connection.pk), time.monotonic()
        counted = self._attempt(info, started, lambda: changes_counted(
            tenant=self.tenant, connection_id=connection.pk, entry_ids=entry_ids))
        names = [*(d.name for d in read.details if d.entity and not d.skipped), *examined]
        objects = {name: dict.fromkeys(CHANGE_COUNTS, 0) for name in names}
        for name, counts in counted.items():
            objects[name] = counts
        info.rows = sum(sum(c.values()) for c in objects.values())
        info.details = {"objects": objects, "entries": len(entry_ids)}
        self._step(info, started)
        return info

    def values(self) -> StepInfo:
        """Map the distinct values of every value-mapped column onto canonical values (step "values"):
        only the values not decided yet go to the engine; rows = distinct values seen."""
        info, started = StepInfo("values"), time.monotonic()
        # the connections this run read or consumed (None: every connection of the tenant, when the run
        # read nothing itself); a backlog of another connection drained here is scanned at its next sync
        read = {s.connection_id for s in self.info.steps if s.step == "read" and s.connection_id is not None}
        consumed = {int(c) for s in self.info.steps if s.step == "consume"
                    for c in (s.details.get("connection_ids") or ())}
        changed = sorted(read | consumed) if read else None
        report = self._attempt(info, started, lambda: values_map(tenant=self.tenant, connection_ids=changed))
        info.rows = int(report.get("distinct_values", 0))
        info.details = report
        self._step(info, started)
        return info

    def materialize(self) -> dict[str, int]:
        """Bring the unified views up to date in PostgreSQL (step "materialize"): only what changed since
        they were last published (docs/adr/0022-incremental-views.md); {entity: rows}.
        The value stage runs first when this run has not run it since its last consume: every caller
        of a run gets canonical values."""
        if not self._values_done():
            self.values()
        info, started = StepInfo("materialize"), time.monotonic()
        plans: dict = {}
        views = self._attempt(info, started, lambda: views_rebuild(tenant=self.tenant, report=plans))
        info.rows = sum(views.values())
        info.details = {"views": views, "plans": plans}
        self._step(info, started)
        return views


    def _values_done(self) -> bool:
        """The value stage ran after the last consume (and after the last read) of this run."""
        for info in reversed(self.info.steps):
            if info.step == "values":
                return info.ok
            if info.step in ("consume", "read", "deletes", "changes"):
                return False
        return False


def pipeline_run(*, tenant, connection, full: bool = False, trigger: str = "manual", progress=None,
                 materialize: bool = True) -> RunInfo:
    """Run the whole pipeline for one connection: read it with a consumer beside, drain every
    stream of the tenant, then (with `materialize`) rebuild the views. Returns the run's info."""
    run = SyncRun(tenant=tenant, full=full, trigger=trigger)
    with run:
        run.read(connection, progress=progress)
    if run.consumer_failure is not None:
        info = StepInfo("consume", ok=False, details={"error": str(run.consumer_failure)[:2000]})
        run.info.steps.append(info)
        raise PipelineStepFailed("consume", run.consumer_failure, info)
    run.consume()  # what the consumer had not read when it was stopped
    if materialize:
        run.materialize()
    return run.info
