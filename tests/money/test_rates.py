"""FX without the database: the ECB file format and conversions through the euro (tenants/money/rates.py)."""

from datetime import date
from decimal import Decimal

import pytest

from tenants.money.rates import FxFileError, RateTable, ecb_parse

# ECB order (newest first), its `N/A` cells and its empty trailing column.
GOOD = """Date,USD,JPY,GBP,RUB,
2026-01-09,1.1600,183.10,0.86500,N/A,
2026-01-08,1.1650,183.40,0.86800,N/A,
2026-01-07,1.1700,183.00,0.87000,N/A,
"""


def test_an_ecb_file_is_read_with_its_na_cells_and_trailing_column():
    parsed = ecb_parse(GOOD)
    assert parsed.currencies == ["USD", "JPY", "GBP", "RUB"]
    assert (parsed.days, len(parsed.rates), parsed.not_available) == (3, 9, 3)
    assert (date(2026, 1, 8), "GBP", Decimal("0.86800")) in parsed.rates
    assert (parsed.first_day, parsed.last_day) == (date(2026, 1, 7), date(2026, 1, 9))
    assert not any(code == "RUB" for _, code, _ in parsed.rates)


def test_bad_rows_are_all_named_by_line():
    text = ("Date,USD,GBP,\n"
            "2026-01-09,1.16,0.865,\n"
            "2026-01-08,abc,0.868,\n"  # line 3: not a number
            "2026-13-01,1.17,0.87,\n"  # line 4: not a date
            "2026-01-06,-1.17,0,\n"  # line 5: neither rate is positive
            "2026-01-05,1.17\n"  # line 6: a cell short
            "2026-01-09,1.18,0.87,\n")  # line 7: the date of line 2 again
    with pytest.raises(FxFileError) as err:
        ecb_parse(text)
    lines = {e.line: e.message for e in err.value.errors}
    assert sorted(lines) == [3, 4, 5, 6, 7]
    assert "'abc' is not a number" in lines[3]
    assert "is not a date" in lines[4]
    assert "USD: '-1.17' is not a positive rate" in lines[5] and "GBP: '0' is not a positive rate" in lines[5]
    assert "2 cells where the header has 3" in lines[6]
    assert lines[7] == "date 2026-01-09 appears twice (first on line 2)"
    assert "line 3:" in str(err.value) and "nothing was loaded" in str(err.value)


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ("Day,USD\n2026-01-01,1.1\n", "the header must start with Date"),
    ("Date,USD,usd,EUR,US1\n", "'usd' is not a three-letter currency code"),
    ("Date,USD,USD\n", "currency USD appears twice"),
    ("Date,USD,EUR\n", "EUR is the base"),
    ("Date,USD,\n", "no dated rows"),
])
def test_a_file_that_is_not_a_rate_file_says_why(text, message):
    with pytest.raises(FxFileError, match=message):
        ecb_parse(text)


def _table():
    return RateTable({
        "USD": [(date(2026, 1, 7), Decimal("1.17")), (date(2026, 1, 9), Decimal("1.16"))],
        "GBP": [(date(2026, 1, 7), Decimal("0.87")), (date(2026, 1, 9), Decimal("0.865"))],
    })


def test_a_conversion_takes_the_rate_of_its_day():
    conv = _table().conversion("EUR", "USD", date(2026, 1, 9))
    assert (conv.factor, conv.rate_day, conv.missing) == (Decimal("1.160000000000"), date(2026, 1, 9), None)


def test_a_weekend_or_holiday_takes_the_latest_earlier_rate():
    saturday = date(2026, 1, 10)
    assert _table().rate_on("USD", saturday) == (date(2026, 1, 9), Decimal("1.16"))
    # 2026-01-08 has no row: the 7th's rate
    assert _table().conversion("EUR", "USD", date(2026, 1, 8)).factor == Decimal("1.17")


def test_gbp_to_usd_is_a_cross_rate_through_the_euro_in_decimal():
    conv = _table().conversion("GBP", "USD", date(2026, 1, 9))
    # 1 GBP = 1.16 / 0.865 USD = 1.341040462427745... → 12 places, half to even
    assert conv.factor == Decimal("1.341040462428")
    assert isinstance(conv.factor, Decimal)
    assert _table().conversion("USD", "GBP", date(2026, 1, 9)).factor == Decimal("0.745689655172")


@pytest.mark.parametrize(("source", "target", "day", "missing"), [
    ("GBP", "USD", date(2026, 1, 6), "no_rate"),  # before the first rate
    ("CHF", "USD", date(2026, 1, 9), "no_rate"),  # a currency the table does not hold
    (None, "USD", date(2026, 1, 9), "no_currency"),
    ("", "USD", date(2026, 1, 9), "no_currency"),
    ("US Dollar", "USD", date(2026, 1, 9), "unknown_currency"),
    ("GBP", "USD", None, "no_date"),
    ("GBP", "CHF", date(2026, 1, 9), "no_reporting_rate"),
])
def test_a_missing_rate_gives_no_factor_and_says_why(source, target, day, missing):
    conv = _table().conversion(source, target, day)
    assert (conv.factor, conv.missing) == (None, missing)


def test_the_same_currency_needs_no_rate_nor_date():
    conv = RateTable({}).conversion("CHF", "CHF", None)
    assert (conv.factor, conv.rate_day, conv.missing) == (Decimal(1), None, None)
