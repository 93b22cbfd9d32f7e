"""The tenant's memory of approved value maps, as the engine sees it.

The pipeline implements `ValueMemory` on the tenant's approved maps (per source and field, reused
across connections of the same vendor); `InMemoryValueMemory` is the plain implementation used by
tests, benchmarks and the `map_values` command."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from . import Candidate

MEMORY_CAP = 0.99


@runtime_checkable
class ValueMemory(Protocol):
    def lookup(self, source: str, entity: str, field: str, raw_key: str) -> tuple[Any, float] | None:
        """The approved canonical value of `raw_key` and its confidence, or None when never decided."""


class InMemoryValueMemory:
    """Approved maps in a dict: {(source, entity, field, raw_key): (canonical, confidence)}."""

    def __init__(self, entries: dict[tuple[str, str, str, str], tuple[Any, float]] | None = None):
        self._entries = dict(entries or {})

    def remember(self, source: str, entity: str, field: str, raw_key: str, canonical: Any, confidence: float = 1.0):
        self._entries[(source, entity, field, raw_key)] = (canonical, float(confidence))

    def lookup(self, source: str, entity: str, field: str, raw_key: str) -> tuple[Any, float] | None:
        return self._entries.get((source, entity, field, raw_key))


def from_memory(
    memory: ValueMemory | None, *, source: str, entity: str, field: str, key: str, allowed
) -> Candidate | None:
    """A candidate from an approved map; a remembered value outside the value set is ignored."""
    if memory is None:
        return None
    try:
        hit = memory.lookup(source, entity, field, key)
    except Exception:  # noqa: BLE001 - a broken memory never breaks a sync; the other evidence decides
        return None
    if not hit:
        return None
    canonical, confidence = hit
    if canonical is not None and not allowed(canonical):
        return None
    return Candidate(canonical, min(MEMORY_CAP, max(0.0, float(confidence))), "memory", "approved value map")
