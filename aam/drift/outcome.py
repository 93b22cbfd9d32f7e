"""`DriftOutcome`: what a drift check found and did. A module of its own (no model imports), so the
reporting helpers and the sync can name it without importing the drift services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DriftOutcome:
    """What a drift check found and did for one (connection, source object)."""

    connection_id: int
    source_object: str
    fingerprint: str
    baseline: bool = False  # first look at this object: nothing to compare with
    events: list[dict[str, Any]] = field(default_factory=list)
    applied: int = 0
    queued: int = 0
    review_item_ids: list[int] = field(default_factory=list)
    mapping_version: int | None = None
    frozen: bool = False
    frozen_reason: str = ""

    @property
    def drifted(self) -> bool:
        return bool(self.events)

    def as_dict(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            "source_object": self.source_object,
            "fingerprint": self.fingerprint,
            "baseline": self.baseline,
            "events": self.events,
            "applied": self.applied,
            "queued": self.queued,
            "review_item_ids": self.review_item_ids,
            "mapping_version": self.mapping_version,
            "frozen": self.frozen,
        }
