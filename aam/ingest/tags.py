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

import json

import pyarrow as pa
import pyarrow.compute as pc

_TAG_HEADS = frozenset({"resourcetags", "resource_tags", "tags", "tag", "labels", "label"})
_VENDOR_PREFIXES = ("user:", "aws:")  # CUR: user-defined and AWS-generated cost allocation tags
_ATHENA_PREFIXES = (("resource_tags_user_", ""), ("resource_tags_aws_", "aws:"))
# JSON string escapes; NUL is dropped, not escaped: PostgreSQL's jsonb refuses \u0000.
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\x00", ""))
_OTHER_CONTROLS = tuple(chr(c) for c in range(1, 32) if chr(c) not in "\n\r\t")
_NULL = pa.scalar(None, pa.string())


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


def _json_string(values: pa.Array) -> pa.Array:
    """Each string as a JSON string literal (quoted and escaped), by column."""
    for raw, escaped in _ESCAPES:
        values = pc.replace_substring(values, raw, escaped)
    if pc.any(pc.match_substring_regex(values, r"[\x01-\x1f]")).as_py():
        for char in _OTHER_CONTROLS:
            values = pc.replace_substring(values, char, f"\\u{ord(char):04x}")
    return pc.binary_join_element_wise('"', values, '"', "")


def collect_tags(table: pa.Table, columns: dict[str, str]) -> pa.Array:
    """The tags of every record of `table` as JSON text ({key: value}, keys sorted), from the tag columns
    `columns` ({key: source column}); a record without a non-empty tag value gets NULL."""
    if not columns:
        return pa.nulls(table.num_rows, pa.string())
    # Every pair carries its own trailing ", " and an absent tag is "": no nulls to skip in the join
    # (pyarrow 21's binary_join_element_wise with null_handling="skip" drops rows whose inputs are all
    # null, returning a shorter array).
    parts = []
    for key in sorted(columns):
        text = _as_text(table[columns[key]])
        present = pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(text), ""), False)
        pair = pc.binary_join_element_wise(json.dumps(key) + ": ", _json_string(text), ", ", "")
        parts.append(pc.if_else(present, pair, ""))
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "")
    joined = pc.utf8_rtrim(joined, characters=", ")  # each value ends with its closing quote
    return pc.if_else(pc.equal(joined, ""), _NULL, pc.binary_join_element_wise("{", joined, "}", ""))
