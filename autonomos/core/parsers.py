"""JSON with bounded nesting: the API's request parser and a `loads` for JSON text from sources.

Python's json module recurses once per level of nesting: a body of 100,000 `[` raised
RecursionError, which no parser caught (a 500 on every JSON endpoint, the unauthenticated token
endpoint included). Here the depth is measured first, without recursion, and a body nested deeper
than API_JSON_MAX_DEPTH is refused before the json module sees it; RecursionError is caught anyway
(a limit set higher than the interpreter's stack allows).
"""

from __future__ import annotations

import codecs
import json
import re
from itertools import accumulate

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

DEFAULT_MAX_DEPTH = 64

# A JSON string (escapes included; the unrolled form keeps the regex engine linear and
# non-recursive). An unterminated string is not matched: its brackets are then counted, which
# is harmless since the text is not JSON anyway.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JSONTooDeep(ValueError):
    """JSON nested deeper than allowed."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"JSON nested deeper than {limit} levels")


def max_depth_setting() -> int:
    return int(getattr(settings, "API_JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH))


def json_depth(text: str | bytes) -> int:
    """How deep arrays and objects nest in `text` (0 for a scalar), counted without recursion.

    Strings are cut out first (a `[` inside a string is no nesting), then only brackets remain;
    the depth is the highest running sum of +1 per opening and -1 per closing bracket. All of it
    runs in C (re, accumulate, max): about 10 ms per MB of brackets.
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", "replace")
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def depth_exceeds(text: str | bytes, limit: int) -> bool:
    """True when `text` nests deeper than `limit`. Cheap when it has at most `limit` brackets."""
    opening = (b"[", b"{") if isinstance(text, bytes | bytearray) else ("[", "{")
    if text.count(opening[0]) + text.count(opening[1]) <= limit:
        return False
    return json_depth(text) > limit


def loads(text: str | bytes, *, max_depth: int | None = None, **kwargs):
    """`json.loads` that raises JSONTooDeep (a ValueError) instead of recursing past `max_depth`
    (API_JSON_MAX_DEPTH unless given), and never RecursionError: callers that handle a ValueError
    for bad JSON handle too-deep JSON the same way."""
    limit = max_depth_setting() if max_depth is None else max_depth
    if depth_exceeds(text, limit):
        raise JSONTooDeep(limit)
    try:
        return json.loads(text, **kwargs)
    except RecursionError:
        raise JSONTooDeep(limit) from None


class BoundedJSONParser(JSONParser):
    """DRF's JSONParser with a nesting limit (API_JSON_MAX_DEPTH): too deep is a 400, never a 500.

    The body size is bounded before this by RequestSizeLimitMiddleware (413)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        parse_constant = strict_constant if self.strict else None
        try:
            return loads(text, parse_constant=parse_constant)
        except JSONTooDeep as exc:
            raise ParseError(f"JSON parse error - nested deeper than the limit of {exc.limit} levels.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
