"""What the three SaaS drivers share: sampling values per field and the samples/type helpers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..base import SourceField, keyed_samples_fill, max_samples
from ..typeinfer import sample_of


def fields_with_samples(
    columns: list[tuple[str, str, bool]], records: Iterable[dict[str, Any]], primary_key: str | None = None
) -> list[SourceField]:
    """SourceFields from (name, type, nullable) metadata, with distinct non-empty sample values (and,
    given the primary key, the values of the first records keyed by it)."""
    limit = max_samples()
    records = list(records)
    samples: dict[str, list[Any]] = {name: [] for name, _, _ in columns}
    for record in records:
        for name, bucket in samples.items():
            value = record.get(name)
            if value in (None, "") or len(bucket) >= limit:
                continue
            value = sample_of(value)
            if value not in bucket:
                bucket.append(value)
    fields = [
        SourceField(name=name, type=type_, samples=samples[name], nullable=nullable)
        for name, type_, nullable in columns
    ]
    keyed_samples_fill(fields, records, primary_key)
    return fields
