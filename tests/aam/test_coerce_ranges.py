"""Hostile values in coercion: out-of-range numbers and dates, NaN, deep JSON, decimal commas. Each one is a
CoercionError with a reason (its record is quarantined), never another exception that would fail a whole sync;
the vectorized column path and the one-value path agree."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from aam.ingest.coerce import CoercionError, coerce_column, coerce_value
from aam.ingest.kinds import Kind

HOSTILE = [
    (Kind.DATETIME, "99999999999999999", "out of range"),
    (Kind.DATETIME, "9999999999999999", "out of range"),
    (Kind.DATETIME, "253402300800000", "out of range"),  # 10000-01-01 in milliseconds
    (Kind.DATETIME, "9" * 5000, "out of range"),
    (Kind.DATETIME, "9999-12-31T23:00:00-05:00", "out of range"),  # year 10000 in UTC
    (Kind.DATETIME, "0001-01-01T00:00:00+05:00", "out of range"),  # year 0 in UTC
    (Kind.DATETIME, "123456789²", "not a date-time"),
    (Kind.DATETIME, 10**30, "out of range"),
    (Kind.DATETIME, -(10**30), "out of range"),
    (Kind.DATETIME, float("nan"), "not a finite number"),
    (Kind.DATETIME, float("inf"), "not a finite number"),
    (Kind.DATETIME, 1e300, "out of range"),
    (Kind.DATE, "99999999999999999", "out of range"),
    (Kind.DATE, "9999-12-31T23:00:00-05:00", "out of range"),
    (Kind.DECIMAL, "1e28", "out of range"),
    (Kind.DECIMAL, "1e38", "out of range"),
    (Kind.DECIMAL, "1e99999999999999999999", "out of range"),
    (Kind.DECIMAL, "9999999999999999999999999999.99999999999", "out of range"),  # rounds up to 1e28
    (Kind.DECIMAL, "10000000000000000000000000000.5", "out of range"),
    (Kind.DECIMAL, 10**5000, "out of range"),
    (Kind.DECIMAL, Decimal("NaN"), "not a finite number"),
    (Kind.DECIMAL, float("inf"), "not a finite number"),
    (Kind.INTEGER, "99999999999999999999", "out of range"),
    (Kind.INTEGER, 2**63, "out of range"),
    (Kind.INTEGER, "1e30", "out of range"),
    (Kind.BOOLEAN, Decimal("sNaN"), "cannot be read as boolean"),
    (Kind.JSON, "[" * 100_000, "not valid JSON"),
    (Kind.JSON, '{"a": NaN}', "not valid JSON"),
    (Kind.JSON, {1: "a", "b": 2}, "not valid JSON"),
    (Kind.STRING, 10**5000, "cannot be read as string"),
]


@pytest.mark.parametrize("kind,value,reason", HOSTILE, ids=[f"{k.value}-{i}" for i, (k, _, _) in enumerate(HOSTILE)])
def test_a_hostile_value_is_a_coercion_error_with_its_reason(kind, value, reason):
    with pytest.raises(CoercionError, match=reason):
        coerce_value(kind, value)


def test_large_values_inside_the_range_are_kept_exactly():
    assert coerce_value(Kind.DECIMAL, "1e18") == Decimal("1000000000000000000")
    assert coerce_value(Kind.DECIMAL, "100000000000000000000") == Decimal("1e20")
    # 28 digits before the point and 10 after: the default decimal context (28 digits) would round these.
    assert coerce_value(Kind.DECIMAL, "-9999999999999999999999999999.5") == Decimal("-9999999999999999999999999999.5")
    assert coerce_value(Kind.DECIMAL, "1234567890123456789.0123456789") == Decimal("1234567890123456789.0123456789")
    assert coerce_value(Kind.INTEGER, str(2**63 - 1)) == 2**63 - 1
    assert coerce_value(Kind.INTEGER, "1e18") == 10**18
    assert coerce_value(Kind.DATETIME, "253402300799999") == datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    assert coerce_value(Kind.DATE, "9999-12-31") == date(9999, 12, 31)


def test_one_out_of_range_timestamp_fails_only_its_row_in_a_text_column():
    result = coerce_column(pa.array(["2024-01-01", "99999999999999999", None]), Kind.DATETIME, field_name="created_at")
    assert result.values.to_pylist() == [datetime(2024, 1, 1, tzinfo=UTC), None, None]
    assert list(result.errors) == [1]
    assert "created_at" in result.errors[1] and "out of range" in result.errors[1]


def test_an_offset_that_carries_a_date_past_9999_is_refused_on_the_fast_path_too():
    # Every value casts in one Arrow step, which by itself would give year 10000 and year 0.
    values = ["9999-12-31T23:00:00-05:00", "2024-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00"]
    for kind, good in ((Kind.DATETIME, datetime(2024, 1, 1, tzinfo=UTC)), (Kind.DATE, date(2024, 1, 1))):
        result = coerce_column(pa.array(values), kind, field_name="f")
        assert result.values.to_pylist() == [None, good, None]
        assert sorted(result.errors) == [0, 2] and all("out of range" in r for r in result.errors.values())


def test_typed_epoch_numbers_out_of_range_or_not_finite_are_refused_not_wrapped_or_zeroed():
    ints = coerce_column(pa.array([9999999999999999, 1700000000123, 2**63 - 1]), Kind.DATETIME, field_name="f")
    assert ints.values.to_pylist()[1] == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert ints.values.null_count == 2 and sorted(ints.errors) == [0, 2]
    floats = coerce_column(pa.array([float("nan"), 1.5, float("inf"), 1e300]), Kind.DATETIME, field_name="f")
    assert floats.values.to_pylist() == [None, datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC), None, None]
    assert sorted(floats.errors) == [0, 2, 3]
    unsigned = coerce_column(pa.array([2**64 - 1, 1], pa.uint64()), Kind.DATETIME, field_name="f")
    assert unsigned.values.to_pylist()[1] == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC) and list(unsigned.errors) == [0]


@pytest.mark.parametrize("kind", [Kind.DATETIME, Kind.DATE, Kind.STRING])
def test_typed_timestamps_past_year_9999_are_refused_whatever_the_target(kind):
    arr = pa.array([2**62, 0], pa.timestamp("s"))
    result = coerce_column(arr, kind, field_name="f")
    assert result.values[0].as_py() is None and result.values[1].as_py() is not None
    assert list(result.errors) == [0] and "out of range" in result.errors[0]
    days = coerce_column(pa.array([2**30, 0], pa.date32()), kind, field_name="f")
    assert list(days.errors) == [0]


def test_decimal_and_integer_columns_refuse_values_beyond_their_range():
    dec = coerce_column(pa.array(["1e20", "1e28", "1", "abc"]), Kind.DECIMAL, field_name="f")
    assert dec.values.to_pylist() == [Decimal("1e20"), None, Decimal("1"), None]
    assert sorted(dec.errors) == [1, 3] and "out of range" in dec.errors[1]
    big = coerce_column(pa.array([10**30, 1], pa.decimal128(38, 0)), Kind.DECIMAL, field_name="f")
    assert big.values.to_pylist() == [None, Decimal("1")] and list(big.errors) == [0]
    ints = coerce_column(pa.array(["99999999999999999999", "1"]), Kind.INTEGER, field_name="f")
    assert ints.values.to_pylist() == [None, 1] and "out of range" in ints.errors[0]
    unsigned = coerce_column(pa.array([2**64 - 1, 1], pa.uint64()), Kind.INTEGER, field_name="f")
    assert unsigned.values.to_pylist() == [None, 1] and list(unsigned.errors) == [0]


def test_json_that_postgresql_cannot_store_or_python_cannot_nest_is_refused_per_row():
    result = coerce_column(pa.array(['{"a": 1}', "[" * 100_000, '{"b": NaN}']), Kind.JSON, field_name="tags")
    assert result.values.to_pylist() == ['{"a": 1}', None, None]
    assert sorted(result.errors) == [1, 2]


@pytest.mark.parametrize("text", ["1,5", "1234,56", "1.234,56", "1 250,50", "1,5000", "12,34"])
def test_a_decimal_comma_is_refused_never_read_as_a_thousands_separator(text):
    with pytest.raises(CoercionError, match="use a dot as decimal separator"):
        coerce_value(Kind.DECIMAL, text)
    result = coerce_column(pa.array([text, "2.5"]), Kind.DECIMAL, field_name="amount")
    assert result.values.to_pylist() == [None, Decimal("2.5")]
    assert "use a dot as decimal separator" in result.errors[0]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1,500", "1500"),
        ("1,500.25", "1500.25"),
        ("$1,234,567.5", "1234567.5"),
        ("(1,000)", "-1000"),
        ("-1,000", "-1000"),
    ],
)
def test_commas_that_separate_thousands_are_still_read(text, expected):
    assert coerce_value(Kind.DECIMAL, text) == Decimal(expected)
    result = coerce_column(pa.array([text, "x"]), Kind.DECIMAL, field_name="f")
    assert result.values[0].as_py() == Decimal(expected) and list(result.errors) == [1]


def test_values_fixed_one_by_one_are_spliced_back_between_failures():
    result = coerce_column(pa.array(["2024-01-31", "2024-01-31T10:00:00", "x", None, "  "]), Kind.DATE, field_name="d")
    assert result.values.to_pylist() == [date(2024, 1, 31), date(2024, 1, 31), None, None, None]
    assert list(result.errors) == [2]
