"""JSON objects built column by column: one `{"key": "value", ...}` per row from text columns, with no
Python step per record (used for `tags` and `_extras`, which pages carry for every record)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

# JSON string escapes; NUL is dropped, not escaped: PostgreSQL's jsonb refuses \u0000.
_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"), ("\x00", ""))
_OTHER_CONTROLS = tuple(chr(c) for c in range(1, 32) if chr(c) not in "\n\r\t")
_NEEDS_ESCAPE = '[\\\\"\\x00-\\x1f]'
_NULL = pa.scalar(None, pa.string())


def json_string(values: pa.Array) -> pa.Array:
    """Each string as a JSON string literal (quoted and escaped), by column."""
    if pc.any(pc.match_substring_regex(values, _NEEDS_ESCAPE)).as_py():  # most columns have nothing to escape
        for raw, escaped in _ESCAPES:
            values = pc.replace_substring(values, raw, escaped)
        if pc.any(pc.match_substring_regex(values, r"[\x01-\x1f]")).as_py():
            for char in _OTHER_CONTROLS:
                values = pc.replace_substring(values, char, f"\\u{ord(char):04x}")
    return pc.binary_join_element_wise('"', values, '"', "")


def json_objects(columns: dict[str, pa.Array], *, blank_is_empty: bool = False) -> pa.Array:
    """Per row, the JSON object of `columns` ({key: text column}) without its empty values (null, "",
    and with `blank_is_empty` also only spaces), keys sorted; a row with none gets NULL."""
    if not columns:
        raise ValueError("json_objects needs at least one column")
    # Every pair carries its own trailing ", " and an absent value is "": no nulls to skip in the join
    # (pyarrow 21's binary_join_element_wise with null_handling="skip" drops rows whose inputs are all
    # null, returning a shorter array).
    parts = []
    for key in sorted(columns):
        text = columns[key]
        probe = pc.utf8_trim_whitespace(text) if blank_is_empty else text
        present = pc.fill_null(pc.not_equal(probe, ""), False)
        pair = pc.binary_join_element_wise(json.dumps(key) + ": ", json_string(text), ", ", "")
        parts.append(pc.if_else(present, pair, ""))
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "")
    joined = pc.utf8_rtrim(joined, characters=", ")  # each value ends with its closing quote
    return pc.if_else(pc.equal(joined, ""), _NULL, pc.binary_join_element_wise("{", joined, "}", ""))
