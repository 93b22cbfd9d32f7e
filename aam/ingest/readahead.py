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

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import connection
from django_tenants.utils import tenant_context

from autonomos.core.threads import produced_ahead

T = TypeVar("T")


def read_ahead(pages: Iterable[T], *, tenant, depth: int = 1) -> Iterator[T]:
    """`pages`, read `depth` pages ahead in a thread working in `tenant`'s schema (0: in this thread)."""
    if depth <= 0:
        yield from pages
        return

    @contextmanager
    def in_tenant():
        try:
            with tenant_context(tenant):  # drivers may look up the tenant (upload folders, tokens)
                yield
        finally:
            connection.close()  # the thread's own database connection, if the driver opened one

    yield from produced_ahead(pages, depth=depth, name="aam-read-ahead", context=in_tenant)
