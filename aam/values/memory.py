"""The tenant's memory of approved value maps, as the value engine asks it:
`lookup(source, entity, field, raw_key) -> (canonical, confidence) | None`.

A person's decision on a value (aam.values.review) is remembered per source vendor and field
(`ValueMemory`), so the next connection of the same vendor, or the next sync, maps that value the
same way without asking again. The memory is read once per value stage (one query), not per value.
"""

from __future__ import annotations

from aam.models import ValueMemory

# A person decided it: as sure as the vendor's own metadata, below certainty (a person can err and the
# vendor can change the meaning of a code).
MEMORY_CONFIDENCE = 0.99


class ValueMemoryLookup:
    """The approved value maps of the current tenant, loaded lazily in one query."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str, str], str | None] | None = None

    def _load(self) -> dict[tuple[str, str, str, str], str | None]:
        if self._rows is None:
            self._rows = {
                (vendor.lower(), entity, field, raw_key): canonical
                for vendor, entity, field, raw_key, canonical in ValueMemory.objects.values_list(
                    "vendor", "entity", "field", "raw_key", "canonical"
                )
            }
        return self._rows

    def lookup(self, source: str, entity: str, field: str, raw_key: str) -> tuple[str | None, float] | None:
        """(canonical, confidence) a person approved for this vendor's value of `entity.field`, or None.
        A remembered "no canonical value" is (None, confidence)."""
        key = ((source or "").lower(), entity, field, raw_key)
        rows = self._load()
        if key not in rows:
            return None
        return rows[key], MEMORY_CONFIDENCE

    def __len__(self) -> int:
        return len(self._load())
