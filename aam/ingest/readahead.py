"""Read the driver's next page while the sync maps and publishes the current one.

A driver's `read` spends its time in the CSV parser, the database client or the network, all of
which release the GIL; the sync's own work per page (coercion, Arrow IPC, Redis) does too. Run in
one thread they take turns; with the read one page ahead they overlap (bench_ingest: the producer
of 1M records finishes ~1 s sooner).

Pages come out in the driver's order, so cursors and checkpoints mean what they meant. A failure
in the driver is raised in the sync at the page where it happened. When the sync stops early
(an error while publishing, drift), the reader stops after the page it is reading.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

from django.db import connection
from django_tenants.utils import tenant_context

T = TypeVar("T")

_PAGE, _END, _ERROR = "page", "end", "error"


def read_ahead(pages: Iterable[T], *, tenant, depth: int = 1) -> Iterator[T]:
    """`pages`, read `depth` pages ahead in a thread working in `tenant`'s schema (0: in this thread)."""
    if depth <= 0:
        yield from pages
        return
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            with tenant_context(tenant):  # drivers may look up the tenant (upload folders, tokens)
                for page in pages:
                    if not offer((_PAGE, page)):
                        return
                offer((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the sync, which raises it
            offer((_ERROR, exc))
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()  # a generator stopped early releases its file or cursor here, in its own thread
            connection.close()  # this thread's database connection, if the driver opened one

    reader = threading.Thread(target=read, name="aam-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            kind, item = handoff.get()
            if kind == _PAGE:
                yield item
            elif kind == _ERROR:
                raise item
            else:
                return
    finally:
        stop.set()
        reader.join()
