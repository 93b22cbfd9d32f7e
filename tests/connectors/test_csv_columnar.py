"""The columnar CSV reader (pyarrow blocks) gives exactly what the careful row reader gives."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.kinds.filesource.csvio import CsvFile, Position

CELLS = st.sampled_from(
    ["", "a", "Acme, Inc.", 'say "hi"', "two\nlines", "x\r\ny", " pad ", "Müller", "€12", "1.5", '"', "q\"q"]
)


def _quote(cell: str) -> str:
    if any(ch in cell for ch in ',"\r\n') or cell.startswith(" "):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _line(cells: list[str]) -> str:
    return ",".join(_quote(c) for c in cells)


ANOMALIES = st.sampled_from(
    [
        None,
        "short",  # too few fields
        "long",  # too many fields
        "padded",  # trailing empty cells (kept)
        "blank",  # an empty line
        "stray",  # a stray quote after a quoted field
        "badbytes",  # bytes that are not UTF-8
        "literal",  # a quote inside an unquoted field (`ab"c`): quote parity no longer tells records apart
    ]
)


@st.composite
def csv_files(draw):
    width = draw(st.integers(1, 4))
    header = [f"c{i}" for i in range(width)]
    lines = [_line(header).encode()]
    for _ in range(draw(st.integers(0, 40))):
        cells = draw(st.lists(CELLS, min_size=width, max_size=width))
        kind = draw(ANOMALIES) if draw(st.booleans()) else None
        if kind == "short" and width > 1:
            line = _line(cells[:-1]).encode()
        elif kind == "long":
            line = _line([*cells, "extra"]).encode()
        elif kind == "padded":
            line = (_line(cells) + ",,").encode()
        elif kind == "blank":
            line = b""
        elif kind == "stray":
            line = (_line(cells[:-1] + ['"oops"x'])).encode() if width > 1 else b'"oops"x'
        elif kind == "literal":
            line = (_line(cells[:-1]) + ("," if width > 1 else "") + 'ab"c').encode()
        elif kind == "badbytes":
            line = _line(cells).encode() + b"\xff\xfe"
        else:
            line = _line(cells).encode()
        lines.append(line)
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    data = ending.join(lines)
    if draw(st.booleans()):
        data += ending
    return data, draw(st.integers(1, 7))


def _careful(path, page_size):
    records, errors = [], []
    for page_records, page_errors, _pos in CsvFile(path).pages(page_size=page_size):
        records += page_records
        errors += [(e.position, e.reason) for e in page_errors]
    return records, errors


def _columnar(path, page_size, start=None):
    records, errors, positions = [], [], []
    for table, page_records, page_errors, pos in CsvFile(path).table_pages(page_size=page_size, start=start):
        if table is not None:
            assert not page_records
            records += table.to_pylist()
        records += page_records
        errors += [(e.position, e.reason) for e in page_errors]
        positions.append(pos)
    return records, errors, positions


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=csv_files())
def test_columnar_pages_equal_the_careful_reader_records_and_errors(tmp_path, case):
    data, page_size = case
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    expected = _careful(path, page_size)
    records, errors, positions = _columnar(path, page_size)
    assert (records, errors) == expected
    # Every cursor resumes exactly: reading on from a page's position gives the rest.
    for i, pos in enumerate(positions[:-1]):
        rest, rest_errors, _ = _columnar(path, page_size, start=Position(pos.offset, pos.line, pos.row))
        before = sum(1 for _ in records) - len(rest)
        assert records[before:] == rest
        assert errors[len(errors) - len(rest_errors):] == rest_errors
        if i > 3:
            break


def test_a_clean_utf8_file_comes_as_arrow_tables_of_about_page_size_rows(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"id,name\n" + b"".join(b"%d,name %d\n" % (i, i) for i in range(10_000)))
    pages = list(CsvFile(path).table_pages(page_size=1000))
    assert all(table is not None for table, *_ in pages)
    assert [t.num_rows for t, *_ in pages] == [1000] * 10
    assert pages[-1][3].row == 10_000 and pages[-1][3].line == 10_001


def test_one_broken_row_sends_only_its_block_to_the_careful_reader(tmp_path):
    path = tmp_path / "b.csv"
    rows = [b"%d,ok" % i for i in range(3000)]
    rows[1500] = b"1500"  # too few fields, on line 1502
    path.write_bytes(b"id,v\n" + b"\n".join(rows) + b"\n")
    pages = list(CsvFile(path).table_pages(page_size=500))
    errors = [e for *_, page_errors, _ in pages for e in page_errors]
    assert [e.position for e in errors] == [1502]
    columnar = sum(t.num_rows for t, *_ in pages if t is not None)
    assert columnar >= 2000  # the blocks before and after the broken one stay columnar
    assert sum(len(r) for _, r, *_ in pages) + columnar == 2999


def test_a_block_cut_inside_a_quoted_value_is_not_taken_from_pyarrow(tmp_path):
    # Quote parity says the record ends after line 6; the csv module (and pyarrow, read through)
    # sees `lines"` as a literal quote and a value opening on line 6. pyarrow would close that value
    # at the end of the block; the sentinel line shows it, and the careful reader reads the block.
    data = (
        b'c0,c1,c2\n"two\nlines",,"two\nlines"\xff\xfe\n"two\nlines",,"two\nlines"\xff\xfe\n'
        b",,\n,,M\xc3\xbcller\n"
    )
    path = tmp_path / "q.csv"
    path.write_bytes(data)
    expected = _careful(path, 2)
    records, errors, _ = _columnar(path, 2)
    assert (records, errors) == expected
    assert records == [{"c0": "", "c1": "", "c2": ""}, {"c0": "", "c1": "", "c2": "Müller"}]


def test_a_one_column_file_with_quotes_keeps_every_row(tmp_path):
    path = tmp_path / "one.csv"
    path.write_bytes(b'name\n"Acme, Inc."\nGlobex\n"say ""hi"""\n')
    records, errors, _ = _columnar(path, 1000)
    assert errors == [] and [r["name"] for r in records] == ["Acme, Inc.", "Globex", 'say "hi"']


def test_an_encoding_decided_by_the_careful_reader_past_a_block_holds_for_the_rest_of_the_file(tmp_path):
    """An ASCII-so-far file: the careful reader (called for a ragged row) reads on past its block and
    meets the first non-ASCII line, in Latin-1. The file is then Latin-1 to its end, also for the
    blocks after the careful page, where a later line would happen to be valid UTF-8."""
    rows = iter(range(10**6))

    def ascii_rows(k):
        return [b"row%07d,%d" % (i, i) for i in (next(rows) for _ in range(k))]

    lines = [b"a,b", *ascii_rows(20_000), b"ragged", *ascii_rows(60_000), b"caf\xe9,latin1"]
    lines += [*ascii_rows(30_000), b"caf\xc3\xa9,utf8", *ascii_rows(10)]
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    expected_records, expected_errors = _careful(path, 100_000)
    records, errors, _ = _columnar(path, 100_000)
    assert (records, errors) == (expected_records, expected_errors)
    assert [r for r in records if r["a"].startswith("caf")] == [
        {"a": "café", "b": "latin1"},
        {"a": "cafÃ©", "b": "utf8"},  # the UTF-8 bytes of é, read as cp1252 like the rest of the file
    ]
