"""The discovered-schema types the mapping services consume: `connectors.base.SourceObject` /
`SourceField` (docs/contracts.md). `as_source_object()` also accepts a plain dict of the same shape
(tests, commands, API payloads)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from connectors.base import SourceField, SourceObject

__all__ = ["SourceField", "SourceObject", "as_source_object", "declared_id"]


def as_source_object(value: Any) -> SourceObject:
    """A SourceObject from itself or from `{"name", "fields" (or "columns"), "primary_key"?}`."""
    if isinstance(value, SourceObject):
        return value
    if isinstance(value, Mapping):
        fields = [
            f
            if isinstance(f, SourceField)
            else SourceField(name=f["name"], type=f.get("type", "string"), samples=list(f.get("samples") or []))
            for f in value.get("fields") or value.get("columns") or []
        ]
        return SourceObject(name=value["name"], fields=fields, primary_key=value.get("primary_key"))
    if hasattr(value, "name") and hasattr(value, "fields"):
        return value
    raise TypeError("a source object needs a name and fields")


def declared_id(obj: Any) -> str | None:
    """The object's primary key when it is the records' own id, for the mapping engine to read as the
    canonical `id`; None for a key a file got from columns that tell its rows apart (names, emails,
    dates), its line or its content (SourceObject.key_basis): those columns keep their own meaning."""
    if getattr(obj, "key_basis", "") not in ("", "id_column"):
        return None
    return getattr(obj, "primary_key", None)


def schema_fingerprint(fields: list[tuple[str, str]]) -> str:
    """A stable hash of the (field, type) set of a source schema: the batches carry it (aam.ingest)
    and drift snapshots compare by it (aam.drift)."""
    canonical = json.dumps(sorted([str(n), str(t)] for n, t in fields), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
