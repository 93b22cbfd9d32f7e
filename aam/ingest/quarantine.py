"""Quarantine: records that cannot land are kept with the reason, never dropped silently."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from .coerce import json_without_nul
from .normalize import Rejected

MAX_RAW_CHARS = 20_000


def _bounded(raw: dict[str, Any]) -> dict[str, Any]:
    # PostgreSQL's jsonb holds neither NUL characters (dropped) nor NaN or Infinity (kept as text): a
    # record quarantined for one bad value must not fail the whole sync for another.
    text = json_without_nul(json.dumps(raw, default=str))
    if len(text) <= MAX_RAW_CHARS:
        return json.loads(text, parse_constant=str)
    return {"_truncated": text[:MAX_RAW_CHARS]}


def quarantine_records(
    *,
    connection,
    source_object: str,
    entity: str | None,
    rejected: list[Rejected],
    mapping_version: int,
    schema_fingerprint: str,
) -> int:
    """Store rejected records (bulk) with their reason and position; returns how many."""
    from aam.models import QuarantinedRecord

    rows = [
        QuarantinedRecord(
            connection=connection,
            source_object=source_object[:255],
            entity=entity or "",
            source_id=(r.source_id or "").replace("\x00", "")[:255],
            position=r.position,
            reason=r.reason.replace("\x00", "")[:2000],
            raw=_bounded(r.raw),
            mapping_version=mapping_version,
            schema_fingerprint=schema_fingerprint[:64],
        )
        for r in rejected
    ]
    for row in rows[:1]:
        row.full_clean()
    with transaction.atomic():
        QuarantinedRecord.objects.bulk_create(rows, batch_size=1000)
    return len(rows)
