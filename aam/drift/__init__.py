"""Schema drift: fingerprints, the diff between two snapshots of a source object, and repairs."""

from .diff import FieldSnapshot, SchemaChange, diff_schemas, schema_fingerprint, type_change_direction

__all__ = ["FieldSnapshot", "SchemaChange", "diff_schemas", "schema_fingerprint", "type_change_direction"]
