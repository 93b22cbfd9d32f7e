"""The discovered-schema types the mapping services consume.

They belong to the connectors layer (`connectors.base.SourceObject` / `SourceField`, see
docs/contracts.md). Until that module exists these dataclasses stand in with the same shape; once it
exists it is used as is. `as_source_object()` also accepts plain dicts (tests, commands).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

try:  # pragma: no cover - depends on the connectors developer's progress
    from connectors.base import SourceField, SourceObject  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover

    @dataclass
    class SourceField:  # type: ignore[no-redef]
        name: str
        type: str = "string"
        samples: list[Any] = field(default_factory=list)
        nullable: bool = True

    @dataclass
    class SourceObject:  # type: ignore[no-redef]
        name: str
        fields: list[SourceField] = field(default_factory=list)
        primary_key: str | None = None
        cursor_field: str | None = None
        row_count: int | None = None


def as_source_object(value: Any) -> Any:
    """A SourceObject-like object (`.name`, `.fields`, `.primary_key`) from itself or a dict."""
    if isinstance(value, Mapping):
        fields = [
            f
            if not isinstance(f, Mapping)
            else SourceField(name=f["name"], type=f.get("type", "string"), samples=list(f.get("samples") or []))
            for f in value.get("fields") or value.get("columns") or []
        ]
        return SourceObject(name=value["name"], fields=fields, primary_key=value.get("primary_key"))
    if not hasattr(value, "name") or not hasattr(value, "fields"):
        raise TypeError("a source object needs a name and fields")
    return value
