"""Stage 2, consume → write: the tenant's streams applied to its DuckDB file.

While connections are read, a consumer runs beside them in a thread of this process (DuckDB and
Arrow release the GIL), so a read larger than a stream's capacity never stalls on back-pressure;
after the reads, a last drain applies what it had not read yet.

The consumer commits each cursor with its page's rows and publishes it to `Connection.cursor`
(dcl/cursors.py). Starting, it first publishes cursors a dead consumer committed but never
published; the reads wait for that (bounded), so they resume where the data ends."""

from __future__ import annotations

import logging
import threading
import time

from django.db import connection as db_connection

from ..consumer import ConsumeResult
from ..services import stream_consume, streams_waiting

logger = logging.getLogger(__name__)

# How long the reads wait for the consumer to open the store and publish leftover cursors. Past
# it (another writer holds the store), they start from the published cursors: at worst pages
# already written are read again, and their batches are recognized by id or upserted.
READY_SECONDS = 10.0


class ConsumerBeside:
    """A consumer thread (its own database connection, set to the tenant) from enter to exit.
    A failure is kept in `failure`, not raised: the last drain retries it."""

    def __init__(self, tenant, connection_ids=None, *, name: str = "dcl-consumer") -> None:
        self.tenant = tenant
        self.connection_ids = connection_ids
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        db_connection.set_tenant(self.tenant)
        try:
            stream_consume(tenant=self.tenant, connection_ids=self.connection_ids, until_idle=False, stop=self.stop,
                           ready=self.ready)
        except BaseException as exc:  # noqa: BLE001 - kept for the run to report
            logger.warning("the consumer beside the reads failed: %s", exc, exc_info=True)
            self.failure = exc
        finally:
            db_connection.close()

    def __enter__(self) -> ConsumerBeside:
        self.thread.start()
        self.wait_ready()
        return self

    def wait_ready(self, seconds: float | None = None) -> bool:
        """Wait until the consumer published the cursors committed before it started (or failed,
        or `seconds`, READY_SECONDS by default, passed); whether it is ready."""
        deadline = time.monotonic() + (READY_SECONDS if seconds is None else seconds)
        while not self.ready.is_set() and self.thread.is_alive() and time.monotonic() < deadline:
            self.ready.wait(0.05)
        if not self.ready.is_set():
            logger.warning("the consumer beside the reads is not ready; the reads start from the published cursors")
        return self.ready.is_set()

    def close(self, *, wait: bool = True) -> None:
        self.stop.set()
        self.thread.join(timeout=None if wait else 5)

    def __exit__(self, *exc) -> None:
        self.close()


def drain(*, tenant, connection_ids=None) -> ConsumeResult:
    """Apply everything waiting in the streams (of `connection_ids`, or all the tenant's) now. Streams
    with nothing in them cost one XLEN each: the store is not opened (a sync with no change)."""
    if not streams_waiting(tenant, connection_ids):
        return ConsumeResult()
    return stream_consume(tenant=tenant, connection_ids=connection_ids, until_idle=True, idle_seconds=0)
