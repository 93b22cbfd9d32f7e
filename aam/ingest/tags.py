"""Tag columns → one `tags` JSON object per record, column by column.

Billing exports spread tags over one column per key: the AWS Cost and Usage Report has
`resourceTags/user:Team`, `resourceTags/aws:createdBy`; flattened documents have `tags.Team`; other
exports `tags/Team`, `labels/team` or `tag:Team`; Athena's CUR tables `resource_tags_user_team`. The
mapping engine leaves such columns unmapped on purpose ("a single tag column: tags are collected,
not mapped one by one", aam/mapping): here they are collected into the entity's `tags` field as
{key: value}, empty values left out, no tags at all → NULL.

Keys: CUR's `user:` marks a user-defined tag and is not part of the key (`Team`); AWS's own keys
keep their prefix (`aws:createdBy`), as AWS names them.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .jsoncols import json_objects

_TAG_HEADS = frozenset({"resourcetags", "resource_tags", "tags", "tag", "labels", "label"})
_VENDOR_PREFIXES = ("user:", "aws:")  # CUR: user-defined and AWS-generated cost allocation tags
_ATHENA_PREFIXES = (("resource_tags_user_", ""), ("resource_tags_aws_", "aws:"))
def tag_key(column: str) -> str | None:
    """The tag key a source column holds the values of, or None when it is not a tag column."""
    name = column.strip()
    key = None
    for sep in ("/", ".", ":"):
        head, found, tail = name.partition(sep)
        if not found or not tail.strip():
            continue
        if head.lower() in _TAG_HEADS or (sep == "/" and tail.lower().startswith(_VENDOR_PREFIXES)):
            key = tail
            break
    if key is None:
        lower = name.lower()
        for prefix, keep in _ATHENA_PREFIXES:
            if lower.startswith(prefix) and len(name) > len(prefix):
                key = keep + name[len(prefix) :]
                break
    if key is None:
        return None
    if key.lower().startswith("user:"):
        key = key[len("user:") :]
    return key.strip() or None


def tag_columns(column_names: list[str]) -> dict[str, str]:
    """{tag key: source column} of the tag columns among `column_names`; when two columns name the same
    key, the first one is the tag (the other stays an unmapped column, its value is not lost)."""
    found: dict[str, str] = {}
    for column in column_names:
        if column.startswith("__"):
            continue
        key = tag_key(column)
        if key is not None and key not in found:
            found[key] = column
    return found


def _as_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_large_string(values.type) or pa.types.is_null(values.type):
        return pc.cast(values, pa.string())
    try:
        return pc.cast(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        # Nested or binary values a driver handed over as such: as text, one by one (rare).
        return pa.array([None if v is None else str(v) for v in values.to_pylist()], type=pa.string())


def collect_tags(table: pa.Table, columns: dict[str, str]) -> pa.Array:
    """The tags of every record of `table` as JSON text ({key: value}, keys sorted), from the tag columns
    `columns` ({key: source column}); a record without a non-empty tag value gets NULL."""
    if not columns:
        return pa.nulls(table.num_rows, pa.string())
    return json_objects({key: _as_text(table[column]) for key, column in columns.items()}, blank_is_empty=True)
