"""`_extras` of text pages is built column by column; it must hold exactly what json.dumps of each
record's non-empty unmapped values holds (NUL characters dropped: PostgreSQL's jsonb refuses them)."""

import json

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from aam.ingest.normalize import _extras_of_text

NAMES = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
VALUES = st.one_of(st.none(), st.just(""), st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",))))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_columnar_extras_hold_what_json_dumps_of_each_record_holds(data):
    names = data.draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    rows = data.draw(st.integers(min_value=1, max_value=12))
    table = pa.table({name: data.draw(st.lists(VALUES, min_size=rows, max_size=rows)) for name in names})
    got = _extras_of_text(table).to_pylist()
    for record, text in zip(table.to_pylist(), got, strict=True):
        expected = {k: v.replace("\x00", "") for k, v in record.items() if v is not None and v != ""}
        assert (json.loads(text) if text is not None else {}) == expected
        assert text is None or list(json.loads(text)) == sorted(expected)  # keys sorted, as before


def test_quotes_backslashes_line_breaks_and_control_characters_survive():
    values = ['say "hi"', "back\\slash", "two\nlines\r\n", "tab\there", "bell\x07", "nul\x00", "ünï", "  "]
    got = _extras_of_text(pa.table({"v": values, "w": ["x"] * len(values)})).to_pylist()
    assert [json.loads(t)["v"] for t in got] == [v.replace("\x00", "") for v in values]  # spaces are a value here
