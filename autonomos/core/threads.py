"""Produce an iterable's items in a thread, a bounded number ahead of the code that uses them."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = "item", "end", "error"


def produced_ahead(
    items: Iterable[T],
    *,
    depth: int,
    name: str,
    context: Callable[[], AbstractContextManager] | None = None,
) -> Iterator[T]:
    """`items` in order, produced by a thread called `name` at most `depth` items ahead.

    For work that releases the GIL (I/O, C extensions) on both sides. The thread runs inside
    `context()` when given (a tenant's schema, say). An exception raised while producing is raised
    here, after the items produced before it. When the caller stops early (an error, `close()`),
    the thread stops after the item it is producing, closes `items` (a generator's `finally` runs in
    the thread that ran it) and is joined before this generator returns, so whatever `items` uses
    is free again.
    """
    handoff: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            with context() if context is not None else nullcontext():
                try:
                    for item in items:
                        if not offer((_ITEM, item)):
                            return
                finally:
                    close = getattr(items, "close", None)
                    if close is not None:
                        close()
            offer((_END, None))
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
            offer((_ERROR, exc))

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            kind, item = handoff.get()
            if kind == _ITEM:
                yield item
            elif kind == _ERROR:
                raise item
            else:
                return
    finally:
        stop.set()
        worker.join()
