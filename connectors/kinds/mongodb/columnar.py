"""MongoDB documents → one Arrow table per page, column by column (issue #17, part 5; ADR 0018).

The row path flattened every document into a new dict of JSON-compatible values (`flatten` +
`jsonable`), and ingestion then transposed those dicts into Arrow (`records_to_table`). Here each
page's documents (pymongo's own dicts, decoded from BSON in C) are walked once into per-column value
lists, and each column becomes one Arrow array: plain values in one C pass, datetimes in one
vectorized cast, only other BSON types (ObjectId, Decimal128, …) value by value. The table equals
what `records_to_table` made of the flattened records (tests/connectors/test_mongo_columnar.py).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ...flatten import MAX_DEPTH
from ...typeinfer import jsonable

_PLAIN = frozenset({type(None), str, int, float, bool})
_CONVERT_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError)


def _walk(doc: dict, prefix: str, columns: dict[str, list], row: int, depth: int) -> None:
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value and depth < MAX_DEPTH:
            _walk(value, f"{name}.", columns, row, depth + 1)
            continue
        values = columns.get(name)
        if values is None:
            values = columns[name] = []
        if len(values) > row:  # `a.b` given twice (a dotted key and a nested one): the last wins, as in flatten
            values[row] = value
            continue
        if len(values) < row:
            values.extend([None] * (row - len(values)))
        values.append(value)


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _array(values: list) -> pa.Array:
    """One column as the row path left it: JSON values, nested ones as sorted JSON text."""
    kinds = set(map(type, values))
    if kinds <= {type(None), dt.datetime} and dt.datetime in kinds and all(
        v is None or v.tzinfo is None for v in values
    ):
        # pymongo's naive UTC datetimes: isoformat() of each, written by Arrow
        text = pc.cast(pa.array(values, pa.timestamp("us")), pa.string())
        return pc.replace_substring(pc.replace_substring(text, ".000000", ""), " ", "T")
    if not kinds <= _PLAIN:
        values = [jsonable(v) for v in values]
    try:
        arr = pa.array(values)
    except _CONVERT_ERRORS:
        arr = None
    if arr is not None and not (pa.types.is_nested(arr.type) or pa.types.is_binary(arr.type)):
        return arr
    values = [json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict | list) else v for v in values]
    try:
        return pa.array(values)
    except _CONVERT_ERRORS:  # one field, several types: text (the coercion reads it)
        return pa.array([None if v is None else _text_of(v) for v in values], type=pa.string())


def documents_to_table(docs: list[dict]) -> pa.Table:
    """A page of documents as an Arrow table with flattened, dotted column names."""
    columns: dict[str, list] = {}
    for row, doc in enumerate(docs):
        _walk(doc, "", columns, row, 0)
    n = len(docs)
    for values in columns.values():
        if len(values) < n:
            values.extend([None] * (n - len(values)))
    return pa.table({name: _array(values) for name, values in columns.items()})
