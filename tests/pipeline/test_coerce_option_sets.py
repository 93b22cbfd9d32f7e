"""Integer-coded statuses mapped to booleans (Dynamics statecode → is_won) coerce instead of quarantining."""

import pyarrow as pa

from aam.ingest.coerce import coerce_column
from aam.ingest.kinds import Kind


def test_text_status_codes_map_code_one_to_true_and_other_states_to_false():
    result = coerce_column(pa.array(["0", "1", "2", None, "1"]), Kind.BOOLEAN, field_name="is_won")
    assert result.values.to_pylist() == [False, True, False, None, True]
    assert not result.errors


def test_integer_status_codes_do_not_cast_two_to_true():
    result = coerce_column(pa.array([0, 1, 2, None]), Kind.BOOLEAN, field_name="is_won")
    assert result.values.to_pylist() == [False, True, False, None]


def test_plain_zero_one_flags_and_words_still_coerce_as_booleans():
    assert coerce_column(pa.array(["0", "1"]), Kind.BOOLEAN, field_name="f").values.to_pylist() == [False, True]
    assert coerce_column(pa.array(["Yes", "no"]), Kind.BOOLEAN, field_name="f").values.to_pylist() == [True, False]


def test_a_word_that_is_not_a_boolean_is_still_an_error():
    result = coerce_column(pa.array(["true", "maybe"]), Kind.BOOLEAN, field_name="f")
    assert result.errors and 1 in result.errors


def test_deal_status_words_coerce_for_the_deal_booleans_only():
    words = pa.array(["Won", "Lost", "Open", None, "Closed Won"])
    won = coerce_column(words, Kind.BOOLEAN, field_name="is_won").values.to_pylist()
    closed = coerce_column(words, Kind.BOOLEAN, field_name="is_closed").values.to_pylist()
    assert won == [True, False, False, None, True] and closed == [True, True, False, None, True]
    other = coerce_column(words, Kind.BOOLEAN, field_name="is_active")
    assert set(other.errors) == {0, 1, 2, 4}  # not deal booleans: words that are not booleans stay errors
    mixed = coerce_column(pa.array(["Won", "maybe"]), Kind.BOOLEAN, field_name="is_won")
    assert 1 in mixed.errors  # one unknown word: no guessing, the value is still an error


def test_a_status_code_mapped_to_is_closed_is_closed_for_every_state_but_open():
    result = coerce_column(pa.array(["0", "1", "2", None]), Kind.BOOLEAN, field_name="is_closed")
    assert result.values.to_pylist() == [False, True, True, None]  # lost (2) is closed too
    typed = coerce_column(pa.array([0, 1, 2]), Kind.BOOLEAN, field_name="is_closed")
    assert typed.values.to_pylist() == [False, True, True]
