"""Type inference of text columns: booleans need one consistent vocabulary."""

from __future__ import annotations

import pytest

from connectors.registry import build_driver
from connectors.typeinfer import infer_text_type


@pytest.mark.parametrize(
    "values",
    [
        ["Y", "N", "y", "", "N"],
        ["t", "F", "T"],
        ["true", "FALSE", "True"],
        ["Yes", "no", "YES"],
        ["true"],  # a whole word means what it says even alone
        ["No", "No"],
    ],
)
def test_values_of_one_boolean_vocabulary_are_boolean(values):
    assert infer_text_type(values) == "boolean"


@pytest.mark.parametrize(
    "values",
    [
        ["N"],  # one letter alone: north, size N, an initial
        ["Y", "Y", "Y"],
        ["F", "F"],  # a grade, a gender code
        ["S", "M", "L", "N"],
        ["yes", "n"],  # two vocabularies mixed
        ["T", "no"],
        ["true", "y", "false"],
    ],
)
def test_single_letters_or_mixed_vocabularies_stay_strings(values):
    assert infer_text_type(values) == "string"


def test_other_types_are_unchanged(settings):
    assert infer_text_type(["1", "2", ""]) == "integer"
    assert infer_text_type(["1", "2.5"]) == "number"
    assert infer_text_type(["2024-01-01", "2024-01-02T10:00:00Z"]) == "datetime"
    assert infer_text_type(["007", "12"]) == "string"
    assert infer_text_type([]) == "string"


def test_a_csv_column_holding_only_the_letter_n_stays_a_string_while_y_n_flags_are_boolean(csv_dir):
    rows = ["sku,fit,active,gift_wrap"]
    rows += [f"A{i},N,{'Y' if i % 3 else 'N'},{'yes' if i % 2 else 'n'}" for i in range(10)]  # fit N = narrow
    (csv_dir / "items.csv").write_text("\n".join(rows) + "\n")
    (items,) = build_driver("filesource", {"folder": str(csv_dir)}, {}).discover()
    types = {f.name: f.type for f in items.fields}
    assert types == {"sku": "string", "fit": "string", "active": "boolean", "gift_wrap": "string"}
