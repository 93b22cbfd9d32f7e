"""Nested documents as flat records: {"a": {"b": 1}} → {"a.b": 1}. Lists stay values (type json)."""

from __future__ import annotations

from typing import Any

from .typeinfer import jsonable

MAX_DEPTH = 8


def flatten(doc: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    out = {} if out is None else out
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and depth < MAX_DEPTH:
            flatten(value, f"{name}.", out, depth + 1)
        else:
            out[name] = jsonable(value)
    return out
