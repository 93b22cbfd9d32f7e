"""Field types from sample values: string, integer, number, boolean, date, datetime, json.

Strings (CSV cells) are classified by pattern; Python values (database rows, documents) by type.
A column is the narrowest type every non-empty sample fits; integers with a leading zero (zip codes,
account numbers) stay strings because a number would drop the zero.

A column of strings is boolean only when its values use one boolean vocabulary (true/false, yes/no,
t/f or y/n, in any case). A single letter says little on its own (sizes S/M/L, grades, compass points,
initials), so t/f and y/n need both letters of the pair among the values: a column that only ever
shows "N", or mixes "yes" with "n", stays a string.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from autonomos.core.parsers import loads as json_loads

_INT = re.compile(r"^[+-]?(0|[1-9]\d{0,17})$")
_NUM = re.compile(r"^[+-]?((0|[1-9]\d*)(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_BOOL_VOCABULARIES = (
    frozenset({"true", "false"}),
    frozenset({"yes", "no"}),
    frozenset({"t", "f"}),
    frozenset({"y", "n"}),
)
_BOOL = frozenset().union(*_BOOL_VOCABULARIES)
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4}|\d{1,2}\.\d{1,2}\.\d{4})$")
_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?\s?(Z|[+-]\d{2}:?\d{2}|UTC)?"
    r"|\d{1,2}/\d{1,2}/\d{4},? \d{1,2}:\d{2}(:\d{2})?( ?[AaPp][Mm])?)$"
)

# When samples disagree, the result is the narrowest type that holds them all.
_WIDEN = {
    frozenset({"integer", "number"}): "number",
    frozenset({"date", "datetime"}): "datetime",
}


def classify_text(value: str) -> str:
    v = value.strip()
    if v.lower() in _BOOL:
        return "boolean"
    if _INT.match(v):
        return "integer"
    if _NUM.match(v):
        return "number"
    if _DATE.match(v):
        return "date"
    if _DATETIME.match(v):
        return "datetime"
    if v[:1] in "{[" and v[-1:] in "}]":
        try:
            json_loads(v)  # JSON nested deeper than API_JSON_MAX_DEPTH is a string (json.loads recursed)
            return "json"
        except ValueError:
            pass
    return "string"


def classify_value(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, (float, decimal.Decimal)):
        return "number"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, (dict, list, tuple)):
        return "json"
    return "string"


def combine(types: Iterable[str]) -> str:
    kinds = frozenset(types)
    if not kinds:
        return "string"
    if len(kinds) == 1:
        return next(iter(kinds))
    return _WIDEN.get(kinds, "string")


def consistent_boolean(words: set[str]) -> bool:
    """True when lower-cased `words` all come from one boolean vocabulary (both letters for t/f, y/n)."""
    for vocabulary in _BOOL_VOCABULARIES:
        if words and words <= vocabulary:
            single_letters = all(len(w) == 1 for w in vocabulary)
            return words == vocabulary if single_letters else True
    return False


def infer_text_type(values: Iterable[str]) -> str:
    """Type of a column of strings; empty cells are ignored (they make the field nullable)."""
    kinds: set[str] = set()
    words: set[str] = set()
    for value in values:
        if value is None or value.strip() == "":
            continue
        kind = classify_text(value)
        kinds.add(kind)
        if kind == "boolean":
            words.add(value.strip().lower())
    if kinds == {"boolean"} and not consistent_boolean(words):
        return "string"
    return combine(kinds)


def jsonable(value: Any) -> Any:
    """A record value as JSON-compatible data (see connectors/base.py for the rules)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    return str(value)


def sample_of(value: Any, limit: int = 200) -> Any:
    """A sample value small enough to show and to send to a mapping model (without NUL characters,
    which PostgreSQL's text and jsonb refuse: samples are stored with the schema snapshot)."""
    value = jsonable(value)
    if isinstance(value, str):
        value = value.replace("\x00", "")
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
        return text if len(text) <= limit else text[:limit] + "…"
    return value
