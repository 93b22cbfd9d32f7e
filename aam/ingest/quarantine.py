"""Quarantine: records that cannot land are kept with the reason, never dropped silently."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from .normalize import Rejected

MAX_RAW_CHARS = 20_000


def _bounded(raw: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(raw, default=str)
    if len(text) <= MAX_RAW_CHARS:
        return json.loads(text)
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
            source_id=(r.source_id or "")[:255],
            position=r.position,
            reason=r.reason[:2000],
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
