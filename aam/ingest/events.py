"""The canonical event contract (pydantic v2).

A `CanonicalEvent` is one source record in canonical form. On the wire records travel in
columnar batches (batches.py) for speed; `events_from_batch` turns a batch back into events, with
exactly these models, so the contract is checkable anywhere (tests, API, debugging).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Operation(StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"


class EventMetadata(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_fingerprint: str = Field(min_length=1)
    mapping_version: int = Field(ge=0)
    confidences: dict[str, float] = Field(default_factory=dict)  # canonical field → mapping confidence
    quality_flags: list[str] = Field(default_factory=list)  # e.g. "missing:name", "invalid:email"
    batch_id: str | None = None
    position: int | None = None  # record number within the object's read (line-based for files)

    @field_validator("confidences")
    @classmethod
    def _confidences_in_unit_interval(cls, value: dict[str, float]) -> dict[str, float]:
        for name, confidence in value.items():
            if not 0.0 <= confidence <= 1.0:
                raise ValueError(f"confidence of {name!r} is {confidence}, not in [0, 1]")
        return value


_CANONICAL_TYPES = (str, bool, int, Decimal, date, datetime, dict, list)


class CanonicalEvent(BaseModel):
    """One record of one source object, mapped onto one canonical entity."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(min_length=1)
    tenant_id: UUID
    connection_id: int = Field(ge=1)
    source_object: str = Field(min_length=1)
    source_id: str = Field(min_length=1)
    entity: str = Field(min_length=1)
    operation: Operation = Operation.UPSERT
    data: dict[str, Any]  # canonical field → coerced value
    raw: dict[str, Any] = Field(default_factory=dict)  # source field → value as read
    metadata: EventMetadata

    @field_validator("data")
    @classmethod
    def _typed_canonical_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, item in value.items():
            if item is None:
                continue
            if isinstance(item, float):
                raise ValueError(f"{name}: floats are not canonical; money and quantities are Decimal")
            if not isinstance(item, _CANONICAL_TYPES):
                raise ValueError(f"{name}: {type(item).__name__} is not a canonical type")
            if isinstance(item, datetime) and (item.tzinfo is None or item.utcoffset() != UTC.utcoffset(None)):
                raise ValueError(f"{name}: date-times are UTC and zone-aware")
        return value


def event_id_for(batch_id: str, source_id: str) -> str:
    """Deterministic: the same record in the same (replayed) batch has the same event id."""
    return hashlib.blake2b(f"{batch_id}\x1f{source_id}".encode(), digest_size=16).hexdigest()
