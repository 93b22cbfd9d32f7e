"""Type coercion of source values into canonical kinds.

Two implementations of one rule set:

- `coerce_column`: vectorized (pyarrow compute) for a whole column of a page. A clean column is
  one cast; a column with vendor formats ("$1,234.50", "Yes", "01/31/2024") goes through
  vectorized clean-ups; only values that still fail are looked at one by one, to give each a
  reason. This is the hot path.
- `coerce_value`: the same rules for one Python value (events built by hand, tests, the API).

Empty values become null. A value that cannot be coerced is an error with a reason; the caller
quarantines the record (a wrong value is never guessed into place). That includes values outside
what the views can hold and the API can read back: decimals of 1e28 and more (numeric(38, 10)),
integers beyond int64, dates and date-times outside the years 1 to 9999 (Python's range). No other
exception leaves this module for a bad value: one hostile cell never fails a whole sync.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
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
_NOISE_BUT_COMMAS = r"[\s$€£¥₹%_'()]|USD|EUR|GBP"
# A comma is read only as a thousands separator, in groups of three digits before any decimal point:
# "1,234.50" is 1234.5, but "1,5" or "1.234,56" (a decimal comma) is refused, never read as 15 or 1.23456.
_GROUPED_RE = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?([eE][+-]?\d+)?$")
_COMMA_REASON = "use a dot as decimal separator; a comma may only separate thousands"
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
# Room for every in-range value at DECIMAL_SCALE places, and for one that rounds up to the bound (the
# default context's 28 digits cannot quantize 1e18 to 10 places).
_DECIMAL_CONTEXT = Context(prec=DECIMAL_PRECISION + 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_MS_THRESHOLD = 100_000_000_000  # larger integers are milliseconds, not seconds
_DATE_RANGE = "dates run from year 1 to 9999"
# Python's datetime range (years 1 to 9999) as raw Arrow values: what the API can read back.
_FIRST_SECOND = int((datetime.min.replace(tzinfo=UTC) - _EPOCH).total_seconds())
_LAST_SECOND = int((datetime.max.replace(tzinfo=UTC) - _EPOCH).total_seconds())
_UNIT_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000}
_FIRST_DAY, _LAST_DAY = (date.min - _EPOCH.date()).days, (date.max - _EPOCH.date()).days


class CoercionError(ValueError):
    """A value that cannot be the canonical kind; the message is the reason shown to people."""


class _OutOfRange(CoercionError):
    """A well-formed value beyond what the kind can hold (its reason survives a fallback parse)."""


@dataclass
class ColumnResult:
    values: pa.Array
    errors: dict[int, str] = field(default_factory=dict)  # row index → reason


# --- one value ---------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _short(value: Any) -> str:
    try:
        text = value if isinstance(value, str) else repr(value)
    except ValueError:  # an integer beyond Python's 4300-digit conversion limit
        text = f"a {value.bit_length()}-bit integer" if isinstance(value, int) else type(value).__name__
    text = text if len(text) <= 60 else text[:57] + "..."
    return repr(text) if isinstance(value, str) else text


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise CoercionError(f"{_short(value)} is a boolean, not a number")
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise CoercionError(f"{value!r} is not a finite number")
        number = Decimal(repr(value))
    else:
        text = str(value).strip()
        negative = text.startswith("(") and text.endswith(")")
        if negative:
            text = text[1:-1]
        if "," in text:
            grouped = re.sub(_NOISE_BUT_COMMAS, "", text)
            if not _GROUPED_RE.match(grouped):
                raise CoercionError(f"{_short(value)} is not a number ({_COMMA_REASON})")
        text = re.sub(_NUMBER_NOISE, "", text)
        if not _NUMBER_RE.match(text):
            raise CoercionError(f"{_short(value)} is not a number")
        try:
            number = Decimal(text)
        except InvalidOperation:  # an exponent beyond what Decimal holds at all
            raise _OutOfRange(f"{_short(value)} is out of range") from None
        if negative:
            number = -number
    if not number.is_finite():
        raise CoercionError(f"{_short(value)} is not a finite number")
    # Bounded before rounding (1e40 would not fit the context), and again after: 9…9.99999999999 rounds up.
    # copy_abs, not abs(): abs() rounds to the default context's 28 digits.
    if number.copy_abs() >= _MAX_DECIMAL:
        raise _OutOfRange(f"{_short(value)} is out of range")
    number = number.quantize(_QUANT, rounding=ROUND_HALF_EVEN, context=_DECIMAL_CONTEXT)
    if number.copy_abs() >= _MAX_DECIMAL:
        raise _OutOfRange(f"{_short(value)} is out of range")
    return number


def _to_int(value: Any) -> int:
    number = _to_decimal(value)
    if number != number.to_integral_value():
        raise CoercionError(f"{_short(value)} is not a whole number")
    result = int(number)
    if not -(2**63) <= result < 2**63:
        raise _OutOfRange(f"{_short(value)} is out of range")
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


def _from_epoch(number: float, value: Any) -> datetime:
    if isinstance(number, float) and not math.isfinite(number):
        raise CoercionError(f"{_short(value)} is not a finite number")
    millis = abs(number) >= _EPOCH_MS_THRESHOLD
    try:
        # Integer milliseconds stay exact (number / 1000 as a float would be off by microseconds).
        return _EPOCH + (timedelta(milliseconds=number) if millis else timedelta(seconds=number))
    except OverflowError:
        raise _OutOfRange(f"{_short(value)} is out of range ({_DATE_RANGE})") from None


def _utc(moment: datetime, value: Any) -> datetime:
    """`moment` in UTC (naive is UTC); an offset that carries it past year 9999 or before year 1 is out of range."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise _OutOfRange(f"{_short(value)} is out of range ({_DATE_RANGE})") from None


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return _utc(value, value)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=UTC)
    if isinstance(value, bool):
        raise CoercionError(f"{_short(value)} is not a date-time")
    if isinstance(value, int | float):
        return _from_epoch(value, value)
    text = str(value).strip()
    if text.isascii() and text.isdigit() and len(text) >= 9:  # isascii: "²" is a digit to isdigit, not to int
        if len(text.lstrip("0")) > 18:  # far past year 9999 even in milliseconds (and no 4300-digit int())
            raise _OutOfRange(f"{_short(value)} is out of range ({_DATE_RANGE})")
        return _from_epoch(int(text), value)
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
    return _utc(parsed, value)


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return _utc(value, value).date()
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
    except _OutOfRange:
        raise
    except CoercionError:
        raise CoercionError(f"{_short(value)} is not a date") from None


# A \u0000 escape, not an escaped backslash followed by "u0000" (the text "\\u0000" stays as it is).
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def json_without_nul(text: str) -> str:
    """JSON text without NUL characters: PostgreSQL's jsonb refuses the \\u0000 escape."""
    return _JSON_NUL.sub(r"\1", text) if "\\u0000" in text else text


def _to_json(value: Any) -> str:
    return json_without_nul(_json_text(value))


def _json_text(value: Any) -> str:
    # allow_nan=False: NaN and Infinity are not JSON (PostgreSQL's jsonb refuses them).
    try:
        if isinstance(value, dict | list):
            return json.dumps(value, sort_keys=True, default=str, allow_nan=False)
        if isinstance(value, str):
            text = value.strip()
            if text[:1] in "{[":
                return json.dumps(json.loads(text), sort_keys=True, allow_nan=False)
            return json.dumps(text)  # a plain string is a JSON string
        return json.dumps(value, default=str, allow_nan=False)
    except (ValueError, TypeError, RecursionError):  # TypeError: keys of mixed types; Recursion: nesting
        raise CoercionError(f"{_short(value)} is not valid JSON") from None


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
    """One value as `kind` (None for blanks); raises CoercionError with the reason, and nothing else."""
    if _blank(value):
        return None
    try:
        return _SCALAR[kind](value)
    except CoercionError:
        raise
    except (ArithmeticError, ValueError, TypeError, RecursionError):
        # A value no rule above foresaw (decimal.InvalidOperation and OverflowError are ArithmeticErrors):
        # this record is quarantined, the rest of the page lands.
        raise CoercionError(f"{_short(value)} cannot be read as {kind.value}") from None


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
    for i, value in enumerate(_py_values(arr)):
        if isinstance(value, _Unreadable):
            errors[i] = f"{field_name}: {value.text} is out of range"
            out.append(None)
            continue
        try:
            out.append(coerce_value(kind, value))
        except CoercionError as exc:
            errors[i] = f"{field_name}: {exc}"
            out.append(None)
    return ColumnResult(pa.array(out, type=ARROW_TYPES[kind]), errors)


@dataclass
class _Unreadable:
    """An Arrow value Python cannot hold (a duration of a million years), by its Arrow text."""

    text: str


def _arrow_text(arr: pa.Array, i: int) -> str:
    try:
        return _short(pc.cast(arr.slice(i, 1), pa.string())[0].as_py())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return f"a {arr.type} value"


def _py_values(arr: pa.Array) -> list[Any]:
    try:
        return arr.to_pylist()
    except (ValueError, OverflowError):  # a value outside Python's range: one by one
        out: list[Any] = []
        for i in range(len(arr)):
            try:
                out.append(arr[i].as_py())
            except (ValueError, OverflowError):
                out.append(_Unreadable(_arrow_text(arr, i)))
        return out


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
    positions = idx.to_pylist()
    errors = {positions[j]: reason for j, reason in redo.errors.items()}
    if redo.errors and len(redo.errors) == len(idx):
        return ColumnResult(candidate, errors)
    # Some values the vectorized clean-ups missed are fine one by one: splice them in (in Arrow: no
    # Python copy of the column).
    redone = pa.array([j not in redo.errors for j in range(len(idx))], type=pa.bool_())
    spliced = pc.replace_with_mask(failed, failed, redone)  # the failed rows that came out fine
    values = pc.replace_with_mask(candidate.cast(ARROW_TYPES[kind]), spliced, redo.values.filter(redone))
    return ColumnResult(values, errors)


_OPTION_CODE = r"^[0-9]{1,3}$"


def _is_option_set(words: pa.Array) -> bool:
    """An integer-coded status (an option set such as Dynamics' statecode 0 open / 1 won / 2 lost)
    rather than a 0/1 flag: every value is a small code and at least one is above 1."""
    present = pc.drop_null(words)
    if len(present) == 0 or not pc.all(pc.match_substring_regex(present, _OPTION_CODE)).as_py():
        return False
    return pc.max(pc.cast(present, pa.int64())).as_py() > 1


# A deal's status written as a word (Dynamics' statecode label, an export's "Stage outcome") mapped to a
# boolean deal field: which words make it true. Only a column whose every value is such a word is read so.
_OUTCOME_WORDS = pa.array(["open", "active", "in progress", "won", "lost", "closed won", "closed lost", "closed",
                           "canceled", "cancelled"])
_OUTCOME_TRUE = {
    "is_won": pa.array(["won", "closed won"]),
    "is_closed": pa.array(["won", "lost", "closed won", "closed lost", "closed", "canceled", "cancelled"]),
}


def _all_outcome_words(words: pa.Array) -> bool:
    present = pc.drop_null(words)
    return len(present) > 0 and pc.all(pc.is_in(present, value_set=_OUTCOME_WORDS)).as_py()


def is_deal_status(column: pa.Array | pa.ChunkedArray) -> bool:
    """Every value of `column` is a state code (Dynamics' statecode 0, 1, 2) or a deal-state word: a
    status, which says open, won or lost, not a won/not-won flag."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    words = pc.drop_null(pc.utf8_lower(pc.utf8_trim_whitespace(arr.cast(pa.string()))))
    words = words.filter(pc.not_equal(words, ""))
    if len(words) == 0:
        return False
    state = pc.or_(pc.match_substring_regex(words, _OPTION_CODE), pc.is_in(words, value_set=_OUTCOME_WORDS))
    return pc.all(state).as_py()


def _option_set_to_bool(words: pa.Array, field_name: str) -> pa.Array:
    """A status code mapped to a boolean is true for code 1, the option sets' "yes" state (revert's
    convention: statecode → is_won), and false for every other state; mapped to `is_closed` it is true
    for every state but 0 (open: won and lost are both closed). No record is quarantined for it."""
    truth = pc.not_equal(words, "0") if field_name == "is_closed" else pc.equal(words, "1")
    return pc.if_else(pc.is_null(words), pa.scalar(None, pa.bool_()), truth)


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
            return ColumnResult(_option_set_to_bool(words, field_name))
        outcome = _OUTCOME_TRUE.get(field_name)
        if outcome is not None and _all_outcome_words(words):
            return ColumnResult(pc.if_else(pc.is_null(words), pa.scalar(None, pa.bool_()), pc.is_in(words, outcome)))
        result = pc.if_else(pc.is_in(words, _TRUE), True, pc.if_else(pc.is_in(words, _FALSE), False, None))
        return _finish(words, result, kind, field_name)
    fast = _try_cast(arr, target)
    if fast is not None:
        return ColumnResult(fast)
    arr = _blank_to_null(arr)
    if kind in (Kind.DECIMAL, Kind.INTEGER):
        negative = pc.and_(pc.starts_with(arr, "("), pc.ends_with(arr, ")"))
        cleaned = pc.replace_substring_regex(arr, _NOISE_BUT_COMMAS, "")
        commas = pc.match_substring(cleaned, ",")
        if pc.any(commas).as_py():
            # Commas that are not thousands separators ("1,5") are left to the exact path, for the reason.
            misplaced = pc.and_(commas, pc.invert(pc.match_substring_regex(cleaned, _GROUPED_RE.pattern)))
            cleaned = pc.if_else(misplaced, pa.scalar(None, pa.string()), pc.replace_substring(cleaned, ",", ""))
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
            # Epoch seconds, or milliseconds from _EPOCH_MS_THRESHOLD on. In float64, exact for every
            # integer in range; NaN, infinities and values past year 9999 are left null here, and
            # get their reason from the exact path.
            number = pc.cast(arr, pa.float64(), safe=False)  # beyond 2**53 it is out of range anyway
            millis = pc.if_else(
                pc.greater_equal(pc.abs(number), float(_EPOCH_MS_THRESHOLD)), number, pc.multiply(number, 1000.0)
            )
            inside = pc.and_(
                pc.greater_equal(millis, float(_FIRST_SECOND * 1000)), pc.less(millis, float((_LAST_SECOND + 1) * 1000))
            )
            millis = pc.if_else(inside, millis, pa.scalar(None, pa.float64()))  # NaN compares false: null too
            as_int = pc.cast(pc.floor(millis), pa.int64())
            return _finish(arr, pc.cast(pc.cast(as_int, pa.timestamp("ms")), target), kind, field_name)
    if kind is Kind.DATE and pa.types.is_timestamp(t):
        return ColumnResult(pc.cast(pc.cast(arr, pa.timestamp("us", tz="UTC") if t.tz else t), pa.date32()))
    if kind is Kind.STRING and (pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_boolean(t)):
        cast = _try_cast(arr, pa.string())
        if cast is not None:
            return ColumnResult(pc.utf8_lower(cast) if pa.types.is_boolean(t) else cast)
    if kind is Kind.BOOLEAN and pa.types.is_integer(t):
        as_text = pc.cast(arr, pa.string())
        if _is_option_set(as_text):
            return ColumnResult(_option_set_to_bool(as_text, field_name))
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


def _raw_range(t: pa.DataType) -> tuple[pa.DataType, int, int] | None:
    """The raw integer type of a temporal Arrow type and Python's range (years 1 to 9999) in it; None
    when every value of the type is inside (nanoseconds) or the type is not a date or timestamp."""
    if pa.types.is_timestamp(t) and t.unit in _UNIT_PER_SECOND:
        per_second = _UNIT_PER_SECOND[t.unit]
        return pa.int64(), _FIRST_SECOND * per_second, (_LAST_SECOND + 1) * per_second - 1
    if pa.types.is_date32(t):
        return pa.int32(), _FIRST_DAY, _LAST_DAY
    if pa.types.is_date64(t):
        return pa.int64(), _FIRST_DAY * 86_400_000, (_LAST_DAY + 1) * 86_400_000 - 1
    return None


def _outside_dates(arr: pa.Array) -> pa.Array | None:
    """Which values of a temporal column lie outside years 1 to 9999 (None when none do)."""
    bounds = _raw_range(arr.type)
    if bounds is None or len(arr) == 0:
        return None
    raw_type, first, last = bounds
    raw = arr.view(raw_type)
    outside = pc.or_(pc.less(raw, first), pc.greater(raw, last))
    return pc.fill_null(outside, False) if pc.any(outside).as_py() else None


def coerce_column(column: pa.Array | pa.ChunkedArray, kind: Kind, *, field_name: str) -> ColumnResult:
    """A column as `kind`, with a reason for every row whose value cannot be that kind."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    # Dates past year 9999 (or before year 1) cannot be read back by Python, so not by the API either:
    # refused when they come in typed, and when a conversion (a UTC offset) carries a value there.
    early: dict[int, str] = {}
    outside = _outside_dates(arr)
    if outside is not None:
        for i in pc.indices_nonzero(outside).to_pylist():
            early[i] = f"{field_name}: {_arrow_text(arr, i)} is out of range ({_DATE_RANGE})"
        arr = pc.if_else(outside, pa.scalar(None, arr.type), arr)
    result = _coerce_column(arr, kind, field_name)
    if kind in (Kind.DATE, Kind.DATETIME):
        outside = _outside_dates(result.values)
        if outside is not None:  # the exact path says why, row by row
            redo = _finish(
                arr, pc.if_else(outside, pa.scalar(None, result.values.type), result.values), kind, field_name
            )
            result = ColumnResult(redo.values, {**result.errors, **redo.errors})
    if early:
        result = ColumnResult(result.values, {**result.errors, **early})
    return result


def _coerce_column(arr: pa.Array, kind: Kind, field_name: str) -> ColumnResult:
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
