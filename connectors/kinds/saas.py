"""What the three SaaS drivers share: sampling values per field, the samples/type helpers, and the
cache and shape of the vendors' value metadata (`Driver.value_metadata`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

from ..base import SourceField, keyed_samples_fill, max_samples
from ..typeinfer import sample_of

logger = logging.getLogger("connectors.metadata")


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


# --- value metadata -------------------------------------------------------------------------------


class ValueMetadataCache:
    """One driver's value metadata per object: fetched on first use, kept for the driver's life (one
    sync), failures included: a failing endpoint is asked once per object, not once per page."""

    def __init__(self, kind: str):
        self.kind = kind
        self._objects: dict[str, dict[str, dict]] = {}

    def get(self, object_name: str, fetch: Callable[[str], dict[str, dict]]) -> dict[str, dict]:
        if object_name not in self._objects:
            try:
                found = fetch(object_name)
            except Exception as exc:  # noqa: BLE001 - metadata is evidence, never a reason to fail a sync
                logger.warning(
                    "%s: value metadata of %r unavailable, its values are mapped without it: %s: %s",
                    self.kind,
                    object_name,
                    type(exc).__name__,
                    str(exc)[:300],
                )
                found = {}
            self._objects[object_name] = {column: entry for column, entry in found.items() if _entries(entry)}
        return self._objects[object_name]


def _entries(entry: dict) -> list:
    return entry.get("options") or entry.get("stages") or []


def option(value: Any, label: Any) -> dict[str, Any] | None:
    """One `{"value", "label"}` entry; None for an option without a value. A missing label is the
    value's text; a label is kept as the vendor wrote it (markup, NUL, any length: it is data)."""
    if value is None or value == "":
        return None
    return {"value": value, "label": str(value) if label is None else str(label)}


def options(pairs: Iterable[tuple[Any, Any]]) -> dict[str, list[dict[str, Any]]]:
    """`{"options": [...]}` from (value, label) pairs, each value once (the first label wins)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for value, label in pairs:
        entry = option(value, label)
        if entry is not None and repr(entry["value"]) not in seen:
            seen.add(repr(entry["value"]))
            out.append(entry)
    return {"options": out}


def fraction(value: Any, *, percent: bool = False) -> float | None:
    """A probability on 0–1 from a number or numeric text (a percentage when `percent`); None when it
    is missing, not a number or outside the range."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if percent:
        number /= 100
    if not math.isfinite(number) or not 0 <= number <= 1:
        return None
    return number


def flag(value: Any) -> bool | None:
    """A boolean from a JSON boolean or the text HubSpot sends ("true"/"false"); None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def stage(
    value: Any,
    label: Any,
    *,
    probability: float | None = None,
    is_closed: bool | None = None,
    is_won: bool | None = None,
    forecast_category: Any = None,
) -> dict[str, Any] | None:
    """One `stages` entry; optional keys only when the vendor said them."""
    entry = option(value, label)
    if entry is None:
        return None
    if probability is not None:
        entry["probability"] = probability
    if is_closed is not None:
        entry["is_closed"] = is_closed
    if is_won is not None:
        entry["is_won"] = is_won
    if forecast_category not in (None, ""):
        entry["forecast_category"] = str(forecast_category)
    return entry
