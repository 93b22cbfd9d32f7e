"""FX arithmetic and the ECB file format, without the database: parse a rate file, look a rate up,
convert through the euro. Decimal throughout (a float cannot hold 0.1 EUR exactly).

The ECB's euro reference rates (`eurofxref-hist.csv`, https://www.ecb.europa.eu/stats/eurofxref/)
are one row per business day, newest first: `Date,USD,JPY,...,` with the units of each currency one
euro buys, `N/A` where the ECB published no rate (a currency not yet or no longer quoted), and an
empty trailing column after the last comma.
"""

from __future__ import annotations

import bisect
import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

BASE = "EUR"
NOT_AVAILABLE = {"", "N/A", "NA", "#N/A"}
MAX_LISTED_ERRORS = 50
# Factors are kept to 12 decimal places: 1 JPY = 0.006666666667 USD has 10 significant digits,
# more than the ECB's own 4 to 6.
FACTOR_PLACES = Decimal("1e-12")
_CODE_RE = re.compile(r"^[A-Z]{3}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CONTEXT = Context(prec=34)

# Why an amount has no reporting value (the views' `fx_missing`, the agents' left-out counts).
NO_CURRENCY = "no_currency"  # the record names no currency
UNKNOWN_CURRENCY = "unknown_currency"  # not an ISO 4217 code
NO_DATE = "no_date"  # no date to take the rate of
NO_RATE = "no_rate"  # no rate of the record's currency on or before the date
NO_REPORTING_RATE = "no_reporting_rate"  # no rate of the reporting currency on or before the date
MISSING_REASONS = (NO_CURRENCY, UNKNOWN_CURRENCY, NO_DATE, NO_RATE, NO_REPORTING_RATE)


def is_iso4217(code: str) -> bool:
    """An active ISO 4217 alphabetic code (pycountry's list)."""
    import pycountry

    return isinstance(code, str) and bool(_CODE_RE.match(code)) and pycountry.currencies.get(alpha_3=code) is not None


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "error": self.message}


class FxFileError(ValueError):
    """A rate file with bad rows: every bad line is named and nothing is loaded."""

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        shown = "; ".join(f"line {e.line}: {e.message}" for e in errors[:MAX_LISTED_ERRORS])
        more = f"; and {len(errors) - MAX_LISTED_ERRORS} more" if len(errors) > MAX_LISTED_ERRORS else ""
        super().__init__(f"the rate file has {len(errors)} bad line(s), nothing was loaded: {shown}{more}")


@dataclass
class ParsedRates:
    rates: list[tuple[date, str, Decimal]] = field(default_factory=list)  # (day, currency, units per EUR)
    currencies: list[str] = field(default_factory=list)
    days: int = 0
    not_available: int = 0  # N/A or empty cells

    @property
    def first_day(self) -> date | None:
        return min((d for d, _, _ in self.rates), default=None)

    @property
    def last_day(self) -> date | None:
        return max((d for d, _, _ in self.rates), default=None)


def _rate(cell: str) -> Decimal | None | str:
    """The rate in a cell, None for N/A, or an error message."""
    text = cell.strip()
    if text.upper() in NOT_AVAILABLE:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return f"{text[:40]!r} is not a number"
    if not value.is_finite() or value <= 0:
        return f"{text[:40]!r} is not a positive rate"
    if value.adjusted() > 12 or value.as_tuple().exponent < -10:
        return f"{text[:40]!r} is out of range (at most 13 digits before and 10 after the point)"
    return value


def ecb_parse(text: str) -> ParsedRates:
    """Parse an ECB euro reference-rate CSV. Raises FxFileError naming every bad line."""
    errors: list[LineError] = []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise FxFileError([LineError(1, "the file is empty (expected a header Date,USD,JPY,...)")]) from None
    except csv.Error as exc:
        raise FxFileError([LineError(1, f"unreadable CSV: {exc}")]) from None
    cells = [c.strip() for c in header]
    while cells and cells[-1] == "":
        cells.pop()  # the ECB's trailing empty column
    if not cells or cells[0].lower() != "date":
        raise FxFileError([LineError(1, "the header must start with Date (Date,USD,JPY,...)")])
    currencies = cells[1:]
    if not currencies:
        errors.append(LineError(1, "the header names no currency"))
    seen: set[str] = set()
    for code in currencies:
        if not _CODE_RE.match(code):
            errors.append(LineError(1, f"{code[:40]!r} is not a three-letter currency code"))
        elif code == BASE:
            errors.append(LineError(1, "EUR is the base of the rates, not a column"))
        elif code in seen:
            errors.append(LineError(1, f"currency {code} appears twice"))
        seen.add(code)
    if errors:
        raise FxFileError(errors)
    parsed = ParsedRates(currencies=list(currencies))
    first_line_of: dict[date, int] = {}
    width = len(currencies) + 1
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(LineError(reader.line_num, f"unreadable CSV: {exc}"))
            break
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < width or any(c.strip() for c in row[width:]):
            errors.append(LineError(line, f"{len(row)} cells where the header has {width} (Date and "
                                          f"{len(currencies)} currencies)"))
            continue
        raw_day = row[0].strip()
        try:
            if not _DATE_RE.match(raw_day):
                raise ValueError
            day = date.fromisoformat(raw_day)
        except ValueError:
            errors.append(LineError(line, f"{raw_day[:40]!r} is not a date (YYYY-MM-DD)"))
            continue
        if day in first_line_of:
            errors.append(LineError(line, f"date {day} appears twice (first on line {first_line_of[day]})"))
            continue
        first_line_of[day] = line
        bad = []
        for code, cell in zip(currencies, row[1:width], strict=True):
            value = _rate(cell)
            if isinstance(value, str):
                bad.append(f"{code}: {value}")
            elif value is None:
                parsed.not_available += 1
            else:
                parsed.rates.append((day, code, value))
        if bad:
            errors.append(LineError(line, "; ".join(bad)))
    if errors:
        raise FxFileError(errors)
    parsed.days = len(first_line_of)
    if not parsed.days:
        raise FxFileError([LineError(max(line, 1), "the file has a header but no dated rows")])
    return parsed


@dataclass(frozen=True)
class Conversion:
    """How to convert one currency on one day: `factor` reporting units per source unit, the day of
    the (oldest) rate it used, or why there is none (`missing`, one of MISSING_REASONS)."""

    factor: Decimal | None
    rate_day: date | None = None
    missing: str | None = None


class RateTable:
    """Rates per currency, each sorted by day; lookups take the latest rate on or before a day."""

    def __init__(self, rates: Mapping[str, Iterable[tuple[date, Decimal]]]) -> None:
        self._days: dict[str, list[date]] = {}
        self._values: dict[str, list[Decimal]] = {}
        for code, pairs in rates.items():
            ordered = sorted(pairs)
            self._days[code] = [d for d, _ in ordered]
            self._values[code] = [v for _, v in ordered]

    @property
    def currencies(self) -> list[str]:
        return sorted(self._days)

    def rate_on(self, currency: str, day: date) -> tuple[date, Decimal] | None:
        """(day of the rate, units per EUR): the latest on or before `day`; EUR is always 1."""
        if currency == BASE:
            return day, Decimal(1)
        days = self._days.get(currency)
        if not days:
            return None
        i = bisect.bisect_right(days, day)
        if i == 0:
            return None
        return days[i - 1], self._values[currency][i - 1]

    def conversion(self, source: str | None, target: str, day: date | None) -> Conversion:
        """The factor that turns an amount in `source` on `day` into `target`, through the euro."""
        if source is None or source == "":
            return Conversion(None, None, NO_CURRENCY)
        if source == target:
            return Conversion(Decimal(1))
        if not _CODE_RE.match(source):
            return Conversion(None, None, UNKNOWN_CURRENCY)
        if day is None:
            return Conversion(None, None, NO_DATE)
        have = self.rate_on(source, day)
        if have is None:
            return Conversion(None, None, NO_RATE)
        want = self.rate_on(target, day)
        if want is None:
            return Conversion(None, None, NO_REPORTING_RATE)
        factor = _CONTEXT.divide(want[1], have[1]).quantize(FACTOR_PLACES, rounding=ROUND_HALF_EVEN, context=_CONTEXT)
        dated = [d for code, (d, _) in ((source, have), (target, want)) if code != BASE]
        return Conversion(factor, min(dated) if dated else day, None)
