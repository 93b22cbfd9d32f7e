"""Give freed memory back to the operating system (glibc's `malloc_trim`)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

logger = logging.getLogger(__name__)


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def memory_back() -> bool:
    """Release the heap's free pages (a no-op where the C library has no `malloc_trim`, e.g. musl or
    macOS); whether anything was released."""
    libc = _libc()
    if libc is None:
        return False
    try:
        return bool(libc.malloc_trim(0))
    except Exception:  # noqa: BLE001 - never fail a task for this
        logger.debug("malloc_trim failed", exc_info=True)
        return False
