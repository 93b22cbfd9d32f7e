"""Stage 2, consume → write: the tenant's streams applied to its DuckDB file.

While connections are read, a consumer runs beside them in a thread of this process (DuckDB and
Arrow release the GIL), so a read larger than a stream's capacity never stalls on back-pressure;
after the reads, a last drain applies what it had not read yet."""

from __future__ import annotations

import logging
import threading

from django.db import connection as db_connection

from ..consumer import ConsumeResult
from ..services import stream_consume

logger = logging.getLogger(__name__)


class ConsumerBeside:
    """A consumer thread (its own database connection, set to the tenant) from enter to exit.
    A failure is kept in `failure`, not raised: the last drain retries it."""

    def __init__(self, tenant, connection_ids=None, *, name: str = "dcl-consumer") -> None:
        self.tenant = tenant
        self.connection_ids = connection_ids
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        db_connection.set_tenant(self.tenant)
        try:
            stream_consume(tenant=self.tenant, connection_ids=self.connection_ids, until_idle=False, stop=self.stop)
        except BaseException as exc:  # noqa: BLE001 - kept for the run to report
            logger.warning("the consumer beside the reads failed: %s", exc, exc_info=True)
            self.failure = exc
        finally:
            db_connection.close()

    def __enter__(self) -> ConsumerBeside:
        self.thread.start()
        return self

    def close(self, *, wait: bool = True) -> None:
        self.stop.set()
        self.thread.join(timeout=None if wait else 5)

    def __exit__(self, *exc) -> None:
        self.close()


def drain(*, tenant, connection_ids=None) -> ConsumeResult:
    """Apply everything waiting in the streams (of `connection_ids`, or all the tenant's) now."""
    return stream_consume(tenant=tenant, connection_ids=connection_ids, until_idle=True, idle_seconds=0)
