"""Type coercion of source values into canonical kinds.

Two implementations of one rule set:

- `coerce_column`: vectorized (pyarrow compute) for a whole column of a page. A clean column is
  one cast; a column with vendor formats ("$1,234.50", "Yes", "01/31/2024") goes through
  vectorized clean-ups; only values that still fail are looked at one by one, to give each a
  reason. This is the hot path.
- `coerce_value`: the same rules for one Python value (events built by hand, tests, the API).

Empty values become null. A value that cannot be coerced is an error with a reason; the caller
quarantines the record (a wrong value is never guessed into place).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .kinds import ARROW_TYPES, DECIMAL_PRECISION, DECIMAL_SCALE, Kind

TRUE_WORDS = ("true", "t", "yes", "y", "1", "on", "checked")
FALSE_WORDS = ("false", "f", "no", "n", "0", "off", "unchecked")
_TRUE = pa.array(TRUE_WORDS)
_FALSE = pa.array(FALSE_WORDS)

_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# Currency symbols, thousands separators, spaces and a trailing percent sign carry no value.
_NUMBER_NOISE = r"[\s$€£¥₹,%_']|USD|EUR|GBP"
_DATE_FORMATS = ("%m/%d/%Y", "%Y/%m/%d", "%d.%m.%Y", "%d/%m/%Y", "%m-%d-%Y", "%Y%m%d", "%b %d, %Y", "%d %b %Y")
_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%d.%m.%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
)
_QUANT = Decimal(1).scaleb(-DECIMAL_SCALE)
_MAX_DECIMAL = Decimal(10) ** (DECIMAL_PRECISION - DECIMAL_SCALE)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_MS_THRESHOLD = 100_000_000_000  # larger integers are milliseconds, not seconds


class CoercionError(ValueError):
    """A value that cannot be the canonical kind; the message is the reason shown to people."""


@dataclass
class ColumnResult:
    values: pa.Array
    errors: dict[int, str] = field(default_factory=dict)  # row index → reason


# --- one value ---------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return repr(text) if isinstance(value, str) else text


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise CoercionError(f"{_short(value)} is a boolean, not a number")
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CoercionError(f"{value!r} is not a finite number")
        number = Decimal(repr(value))
    else:
        text = str(value).strip()
        negative = text.startswith("(") and text.endswith(")")
        if negative:
            text = text[1:-1]
        text = re.sub(_NUMBER_NOISE, "", text)
        if not _NUMBER_RE.match(text):
            raise CoercionError(f"{_short(value)} is not a number")
        number = Decimal(text)
        if negative:
            number = -number
    number = number.quantize(_QUANT, rounding=ROUND_HALF_EVEN) if number.is_finite() else number
    if not number.is_finite() or abs(number) >= _MAX_DECIMAL:
        raise CoercionError(f"{_short(value)} is out of range")
    return number


def _to_int(value: Any) -> int:
    number = _to_decimal(value)
    if number != number.to_integral_value():
        raise CoercionError(f"{_short(value)} is not a whole number")
    result = int(number)
    if not -(2**63) <= result < 2**63:
        raise CoercionError(f"{_short(value)} is out of range")
    return result


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal) and value in (0, 1):
        return bool(value)
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CoercionError(f"{_short(value)} is not a boolean")


def _from_epoch(number: float) -> datetime:
    seconds = number / 1000 if abs(number) >= _EPOCH_MS_THRESHOLD else number
    return _EPOCH + timedelta(seconds=seconds)


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    if isinstance(value, bool):
        raise CoercionError(f"{_short(value)} is not a date-time")
    if isinstance(value, int | float):
        return _from_epoch(value)
    text = str(value).strip()
    if text.isdigit() and len(text) >= 9:
        return _from_epoch(int(text))
    iso = text.replace(" ", "T", 1) if len(text) > 10 and text[10] == " " else text
    # Python 3.11 reads "Z" and "+00:00", not "+0000" (Salesforce): add the colon.
    iso = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", iso)
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        parsed = None
        for fmt in _DATETIME_FORMATS + _DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if parsed is None:
            raise CoercionError(f"{_short(value)} is not a date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:
        return _to_datetime(value).date()
    except CoercionError:
        raise CoercionError(f"{_short(value)} is not a date") from None


def _to_json(value: Any) -> str:
    # PostgreSQL's jsonb refuses the \u0000 escape: NUL characters are dropped.
    return _json_text(value).replace("\\u0000", "")


def _json_text(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "{[":
            try:
                return json.dumps(json.loads(text), sort_keys=True)
            except ValueError:
                raise CoercionError(f"{_short(value)} is not valid JSON") from None
        return json.dumps(text)  # a plain string is a JSON string
    return json.dumps(value, default=str)


def _to_string(value: Any) -> str:
    return _text(value).replace("\x00", "")


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_SCALAR = {
    Kind.STRING: _to_string,
    Kind.DECIMAL: _to_decimal,
    Kind.INTEGER: _to_int,
    Kind.BOOLEAN: _to_bool,
    Kind.DATE: _to_date,
    Kind.DATETIME: _to_datetime,
    Kind.JSON: _to_json,
}


def coerce_value(kind: Kind, value: Any) -> Any:
    """One value as `kind` (None for blanks); raises CoercionError with the reason."""
    if _blank(value):
        return None
    return _SCALAR[kind](value)


# --- a column ----------------------------------------------------------------------------------


def _try_cast(arr: pa.Array, target: pa.DataType) -> pa.Array | None:
    try:
        return pc.cast(arr, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OverflowError):
        return None


def _blank_to_null(arr: pa.Array) -> pa.Array:
    """Strings: trimmed, and empty → null (a CSV cell of spaces is no value)."""
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, arr.type), trimmed)


def _elementwise(arr: pa.Array, kind: Kind, field_name: str) -> ColumnResult:
    """The slow, exact path: every value through coerce_value; reasons per failing row."""
    out: list[Any] = []
    errors: dict[int, str] = {}
    for i, value in enumerate(arr.to_pylist()):
        try:
            out.append(coerce_value(kind, value))
        except CoercionError as exc:
            errors[i] = f"{field_name}: {exc}"
            out.append(None)
    return ColumnResult(pa.array(out, type=ARROW_TYPES[kind]), errors)


def _first_parse(arr: pa.Array, formats: tuple[str, ...], unit: str = "us") -> pa.Array:
    """The first format that parses each value (null where none does), vectorized."""
    result = pc.strptime(arr, format=formats[0], unit=unit, error_is_null=True)
    for fmt in formats[1:]:
        if result.null_count == arr.null_count:
            break
        result = pc.coalesce(result, pc.strptime(arr, format=fmt, unit=unit, error_is_null=True))
    return result


def _finish(arr: pa.Array, candidate: pa.Array, kind: Kind, field_name: str) -> ColumnResult:
    """Rows non-null in `arr` but null in `candidate` failed: redo only those one by one."""
    failed = pc.and_(pc.is_valid(arr), pc.is_null(candidate))
    if not pc.any(failed).as_py():
        return ColumnResult(candidate)
    idx = pc.indices_nonzero(failed)
    redo = _elementwise(arr.take(idx), kind, field_name)
    if redo.errors and len(redo.errors) == len(idx):
        positions = idx.to_pylist()
        return ColumnResult(candidate, {positions[i]: reason for i, reason in redo.errors.items()})
    # Some values the vectorized clean-ups missed are fine one by one: splice them in.
    values = candidate.to_pylist()
    errors: dict[int, str] = {}
    for j, pos in enumerate(idx.to_pylist()):
        if j in redo.errors:
            errors[pos] = redo.errors[j]
        else:
            values[pos] = redo.values[j].as_py()
    return ColumnResult(pa.array(values, type=ARROW_TYPES[kind]), errors)


_OPTION_CODE = r"^[0-9]{1,3}$"


def _is_option_set(words: pa.Array) -> bool:
    """An integer-coded status (an option set such as Dynamics' statecode 0 open / 1 won / 2 lost)
    rather than a 0/1 flag: every value is a small code and at least one is above 1."""
    present = pc.drop_null(words)
    if len(present) == 0 or not pc.all(pc.match_substring_regex(present, _OPTION_CODE)).as_py():
        return False
    return pc.max(pc.cast(present, pa.int64())).as_py() > 1


def _option_set_to_bool(words: pa.Array) -> pa.Array:
    """A status code mapped to a boolean is true for code 1, the option sets' "yes" state (revert's
    convention: statecode → is_won), and false for every other state; no record is quarantined for it."""
    return pc.if_else(pc.is_null(words), pa.scalar(None, pa.bool_()), pc.equal(words, "1"))


def _string_column(arr: pa.Array, kind: Kind, field_name: str) -> ColumnResult:
    target = ARROW_TYPES[kind]
    if kind is Kind.STRING:
        if arr.null_count == len(arr):
            return ColumnResult(arr)
        # NUL bytes cannot be stored in PostgreSQL text: they go here, once, not at every export.
        if pc.any(pc.match_substring(arr, "\x00")).as_py():
            arr = pc.replace_substring(arr, "\x00", "")
        if not pc.any(pc.equal(arr, "")).as_py():
            return ColumnResult(arr)
        return ColumnResult(pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr))
    if kind is Kind.JSON:
        return _elementwise(arr, kind, field_name)
    if kind is Kind.BOOLEAN:
        words = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
        words = pc.if_else(pc.equal(words, ""), pa.scalar(None, pa.string()), words)
        if _is_option_set(words):
            return ColumnResult(_option_set_to_bool(words))
        result = pc.if_else(pc.is_in(words, _TRUE), True, pc.if_else(pc.is_in(words, _FALSE), False, None))
        return _finish(words, result, kind, field_name)
    fast = _try_cast(arr, target)
    if fast is not None:
        return ColumnResult(fast)
    arr = _blank_to_null(arr)
    if kind in (Kind.DECIMAL, Kind.INTEGER):
        negative = pc.and_(pc.starts_with(arr, "("), pc.ends_with(arr, ")"))
        cleaned = pc.replace_substring_regex(arr, _NUMBER_NOISE + r"|[()]", "")
        cleaned = pc.if_else(negative, pc.binary_join_element_wise("-", cleaned, ""), cleaned)
        valid = pc.match_substring_regex(cleaned, _NUMBER_RE.pattern)
        cleaned = pc.if_else(valid, cleaned, pa.scalar(None, pa.string()))
        candidate = _try_cast(cleaned, target)
        if candidate is None:  # too many decimals, or integers written "12.0": exact path
            return _elementwise(arr, kind, field_name)
        return _finish(arr, candidate, kind, field_name)
    if kind is Kind.DATE:
        candidate = _try_cast(arr, target)
        if candidate is None:
            parsed = _first_parse(arr, ("%Y-%m-%d",) + _DATE_FORMATS, unit="s")
            candidate = pc.cast(parsed, pa.date32())
        return _finish(arr, candidate, kind, field_name)
    if kind is Kind.DATETIME:
        # Zoned ISO values cast directly (the fast path above); zone-less ones are UTC by convention.
        naive = _try_cast(arr, pa.timestamp("us"))
        if naive is not None:
            return ColumnResult(pc.cast(naive, target))
        parsed = _first_parse(arr, _DATETIME_FORMATS + _DATE_FORMATS)
        candidate = pc.cast(parsed, target)
        return _finish(arr, candidate, kind, field_name)
    return _elementwise(arr, kind, field_name)


def _typed_column(arr: pa.Array, kind: Kind, field_name: str) -> ColumnResult:
    """Non-string input (drivers that return typed values: PostgreSQL, MongoDB, JSON APIs)."""
    target = ARROW_TYPES[kind]
    t = arr.type
    if kind is Kind.DATETIME:
        if pa.types.is_timestamp(t):
            return ColumnResult(pc.cast(arr if t.tz else pc.cast(arr, pa.timestamp("us")), target))
        if pa.types.is_date(t):
            return ColumnResult(pc.cast(pc.cast(arr, pa.timestamp("us")), target))
        if pa.types.is_integer(t) or pa.types.is_floating(t):
            as_int = pc.cast(arr, pa.int64(), safe=False)
            millis = pc.if_else(
                pc.greater_equal(pc.abs(as_int), _EPOCH_MS_THRESHOLD), as_int, pc.multiply(as_int, 1000)
            )
            return ColumnResult(pc.cast(pc.cast(millis, pa.timestamp("ms")), target))
    if kind is Kind.DATE and pa.types.is_timestamp(t):
        return ColumnResult(pc.cast(pc.cast(arr, pa.timestamp("us", tz="UTC") if t.tz else t), pa.date32()))
    if kind is Kind.STRING and (pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_boolean(t)):
        cast = _try_cast(arr, pa.string())
        if cast is not None:
            return ColumnResult(pc.utf8_lower(cast) if pa.types.is_boolean(t) else cast)
    if kind is Kind.BOOLEAN and pa.types.is_integer(t):
        as_text = pc.cast(arr, pa.string())
        if _is_option_set(as_text):
            return ColumnResult(_option_set_to_bool(as_text))
    if kind in (Kind.DECIMAL, Kind.INTEGER, Kind.BOOLEAN) and not pa.types.is_floating(t):
        cast = _try_cast(arr, target)
        if cast is not None:
            return ColumnResult(cast)
    if kind is Kind.DECIMAL and pa.types.is_floating(t):
        finite = pc.is_finite(arr)
        if pc.all(pc.or_(finite, pc.is_null(arr))).as_py():
            # Floats to 10 decimal places: round first so 0.1 is 0.1, not 0.1000000000000000055.
            cast = _try_cast(pc.round(arr, DECIMAL_SCALE), target)
            if cast is not None:
                return ColumnResult(cast)
    return _elementwise(arr, kind, field_name)


def coerce_column(column: pa.Array | pa.ChunkedArray, kind: Kind, *, field_name: str) -> ColumnResult:
    """A column as `kind`, with a reason for every row whose value cannot be that kind."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    target = ARROW_TYPES[kind]
    if pa.types.is_null(arr.type):
        return ColumnResult(pa.nulls(len(arr), target))
    if arr.type == target and kind not in (Kind.STRING, Kind.JSON):
        return ColumnResult(arr)
    if pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.string())
    if pa.types.is_string(arr.type):
        return _string_column(arr, kind, field_name)
    return _typed_column(arr, kind, field_name)
