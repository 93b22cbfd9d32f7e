"""Schema drift: fingerprints, the diff between two snapshots of a source object, repairs, review.

The sync's hook is `drift_check` (aam.drift.services); `DriftFrozen` (aam.drift.errors) is what it
raises when the connection's drift policy stops the sync. Both are importable from here; the
models and services load lazily (this package is imported while Django loads its models).
"""

from .diff import FieldSnapshot, SchemaChange, diff_schemas, schema_fingerprint, type_change_direction
from .errors import DriftFrozen

__all__ = [
    "DriftFrozen",
    "FieldSnapshot",
    "SchemaChange",
    "diff_schemas",
    "drift_check",
    "drift_detect",
    "review_decide",
    "schema_fingerprint",
    "type_change_direction",
]


def __getattr__(name: str):
    if name in ("drift_check", "drift_detect", "DriftOutcome"):
        from . import services

        return getattr(services, name)
    if name == "review_decide":
        from .review import review_decide

        return review_decide
    raise AttributeError(name)
