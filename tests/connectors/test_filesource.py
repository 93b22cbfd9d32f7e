"""The filesource driver on real files, including broken ones."""

from __future__ import annotations

import pytest

from connectors.errors import ObjectNotFound, PermanentError
from connectors.kinds.filesource.csvio import SNIFF_BYTES
from connectors.registry import build_driver


def driver(folder, **config):
    return build_driver("filesource", {"folder": str(folder), **config}, {})


def read_all(drv, name, cursor=None, page_size=1000):
    records, errors, last = [], [], None
    for page in drv.read(name, cursor, page_size):
        records += page.rows()
        errors += page.errors
        last = page.cursor
    return records, errors, last


def write(folder, name, data: bytes):
    (folder / name).write_bytes(data)
    return folder / name


def test_plain_utf8_csv_reads_every_record_as_strings(csv_dir):
    write(csv_dir, "accounts.csv", b"Id,Name,City\n1,Acme,Berlin\n2,Globex,Paris\n")
    records, errors, cursor = read_all(driver(csv_dir), "accounts")
    assert records == [{"Id": "1", "Name": "Acme", "City": "Berlin"}, {"Id": "2", "Name": "Globex", "City": "Paris"}]
    assert errors == []
    assert cursor["row"] == 2


def test_utf8_bom_is_not_part_of_the_first_column_name(csv_dir):
    write(csv_dir, "c.csv", "\ufeffName,Stadt\nMüller,Köln\n".encode())
    records, errors, _ = read_all(driver(csv_dir), "c")
    assert records == [{"Name": "Müller", "Stadt": "Köln"}]


def test_latin1_file_is_decoded_without_errors(csv_dir):
    write(csv_dir, "l.csv", "name;city\nRenée;Besançon\nJosé;Málaga\n".encode("latin-1"))
    records, errors, _ = read_all(driver(csv_dir), "l")
    assert errors == []
    assert records[0] == {"name": "Renée", "city": "Besançon"}
    assert records[1]["city"] == "Málaga"


def test_cp1252_characters_after_a_long_ascii_start_switch_the_encoding_not_error(csv_dir):
    body = b"".join(b"%d,plain ascii row\n" % i for i in range(40000))  # more than the sniffed sample
    write(csv_dir, "w.csv", b"id,text\n" + body + "40000,“curly” café €\n".encode("cp1252"))
    records, errors, _ = read_all(driver(csv_dir), "w")
    assert errors == []
    assert records[-1] == {"id": "40000", "text": "“curly” café €"}


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_detected(csv_dir, delimiter):
    text = (
        delimiter.join(["a", "b", "c"]) + "\n" + delimiter.join(["1", "2,5" if delimiter != "," else "2", "x"]) + "\n"
    )
    write(csv_dir, "d.csv", text.encode())
    records, errors, _ = read_all(driver(csv_dir), "d")
    assert errors == []
    assert list(records[0]) == ["a", "b", "c"]
    assert records[0]["a"] == "1"


def test_quoted_multiline_fields_stay_one_record_and_line_numbers_follow(csv_dir):
    write(csv_dir, "m.csv", b'id,notes,n\n1,"first line\nsecond line, with comma",x\n2,"a ""quoted"" word",y\n3,bad\n')
    records, errors, _ = read_all(driver(csv_dir), "m")
    assert records[0]["notes"] == "first line\nsecond line, with comma"
    assert records[1]["notes"] == 'a "quoted" word'
    assert [(e.position, e.reason) for e in errors] == [(5, "expected 3 fields, found 2")]


def test_ragged_rows_are_reported_with_line_numbers_and_the_rest_loads(csv_dir):
    rows = [b"id,name,amount"] + [b"%d,n%d,%d" % (i, i, i) for i in range(1, 11)]
    rows[3] = b"3,too,many,fields"
    rows[7] = b"7,short"
    write(csv_dir, "r.csv", b"\n".join(rows) + b"\n")
    records, errors, cursor = read_all(driver(csv_dir), "r", page_size=4)
    assert [r["id"] for r in records] == ["1", "2", "4", "5", "6", "8", "9", "10"]
    assert [(e.position, e.reason) for e in errors] == [
        (4, "expected 3 fields, found 4"),
        (8, "expected 3 fields, found 2"),
    ]
    assert errors[0].raw == "3,too,many,fields"
    assert cursor["row"] == 10


def test_trailing_empty_cells_from_excel_are_not_an_error(csv_dir):
    write(csv_dir, "x.csv", b"a,b\n1,2,,\n")
    records, errors, _ = read_all(driver(csv_dir), "x")
    assert records == [{"a": "1", "b": "2"}] and errors == []


def test_undecodable_bytes_in_a_utf8_file_are_one_error_and_other_rows_load(csv_dir):
    good = "ü".encode()
    data = b"id,name\n1,J" + good + b"rgen\n2,bad\xff\xfebytes\n3,Zo" + "ë".encode() + b"\n"
    write(csv_dir, "u.csv", data)
    records, errors, _ = read_all(driver(csv_dir), "u")
    assert [r["id"] for r in records] == ["1", "3"]
    assert records[0]["name"] == "Jürgen"
    assert len(errors) == 1 and errors[0].position == 3
    assert "undecodable" in errors[0].reason


def test_empty_file_has_no_fields_and_no_records(csv_dir):
    write(csv_dir, "empty.csv", b"")
    drv = driver(csv_dir)
    (obj,) = drv.discover()
    assert obj.name == "empty" and obj.fields == [] and obj.row_count == 0
    records, errors, cursor = read_all(drv, "empty")
    assert records == [] and errors == [] and cursor["row"] == 0


def test_header_only_file_discovers_fields_and_reads_nothing(csv_dir):
    write(csv_dir, "h.csv", b"Id,Name,Amount\n")
    drv = driver(csv_dir)
    (obj,) = drv.discover()
    assert obj.field_names() == ["Id", "Name", "Amount"] and obj.row_count == 0
    assert read_all(drv, "h")[0] == []


def test_a_huge_field_over_the_limit_is_one_error_and_the_next_rows_load(csv_dir, settings):
    settings.FILESOURCE_MAX_FIELD_BYTES = 1000
    write(csv_dir, "big.csv", b"id,blob\n1,small\n2," + b"x" * 5000 + b"\n3,fine\n")
    records, errors, _ = read_all(driver(csv_dir), "big")
    assert [r["id"] for r in records] == ["1", "3"]
    assert errors[0].position == 3 and "field larger than field limit" in errors[0].reason


def test_a_large_field_under_the_limit_is_kept_whole(csv_dir):
    write(csv_dir, "big.csv", b"id,blob\n1," + b"y" * 300_000 + b"\n")
    records, errors, _ = read_all(driver(csv_dir), "big")
    assert errors == [] and len(records[0]["blob"]) == 300_000


def test_blank_lines_are_skipped_silently(csv_dir):
    write(csv_dir, "b.csv", b"a,b\n1,2\n\n3,4\n\n")
    records, errors, _ = read_all(driver(csv_dir), "b")
    assert records == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}] and errors == []


def test_duplicate_and_empty_header_names_are_made_unique(csv_dir):
    write(csv_dir, "dup.csv", b"name,name,,x\n1,2,3,4\n")
    records, _, _ = read_all(driver(csv_dir), "dup")
    assert records == [{"name": "1", "name_2": "2", "column_3": "3", "x": "4"}]


def test_crlf_line_endings_are_read(csv_dir):
    write(csv_dir, "crlf.csv", b'a,b\r\n1,"two\r\nlines"\r\n3,4\r\n')
    records, errors, _ = read_all(driver(csv_dir), "crlf")
    assert errors == [] and records[0]["b"] == "two\r\nlines" and records[1] == {"a": "3", "b": "4"}


def test_utf16_excel_export_with_tabs_is_read(csv_dir):
    write(csv_dir, "x16.csv", "id\tname\n1\tÅsa\n2\tBjörn\n".encode("utf-16"))
    records, errors, cursor = read_all(driver(csv_dir), "x16")
    assert records == [{"id": "1", "name": "Åsa"}, {"id": "2", "name": "Björn"}] and errors == []
    assert cursor["row"] == 2


def test_binary_file_is_refused_as_a_permanent_error(csv_dir):
    write(csv_dir, "bin.csv", bytes(range(256)) * 100)
    with pytest.raises(PermanentError):
        list(driver(csv_dir).read("bin"))


def test_unchanged_file_resumes_after_the_stored_cursor(csv_dir):
    write(csv_dir, "p.csv", b"id,v\n" + b"".join(b"%d,x\n" % i for i in range(1, 26)))
    drv = driver(csv_dir)
    pages = list(drv.read("p", None, 10))
    assert [p.record_count for p in pages] == [10, 10, 5]
    resumed, _, _ = read_all(drv, "p", cursor=pages[0].cursor, page_size=10)
    assert [r["id"] for r in resumed] == [str(i) for i in range(11, 26)]
    assert read_all(drv, "p", cursor=pages[-1].cursor)[0] == []


def test_changed_file_is_read_again_from_the_start(csv_dir):
    path = write(csv_dir, "p.csv", b"id\n1\n2\n")
    drv = driver(csv_dir)
    _, _, cursor = read_all(drv, "p")
    path.write_bytes(b"id\n1\n2\n3\n")
    records, _, new_cursor = read_all(drv, "p", cursor=cursor)
    assert [r["id"] for r in records] == ["1", "2", "3"]
    assert new_cursor["hash"] != cursor["hash"]


def test_resume_after_a_page_with_errors_keeps_line_numbers(csv_dir):
    write(csv_dir, "e.csv", b"a,b\n1,1\n2\n3,3\n4,4\n5\n6,6\n")
    drv = driver(csv_dir)
    first = next(iter(drv.read("e", None, 3)))
    assert [e.position for e in first.errors] == [3]
    _, errors, _ = read_all(drv, "e", cursor=first.cursor, page_size=3)
    assert [e.position for e in errors] == [6]


def _ascii_then_latin1_then_utf8_bytes() -> bytes:
    """ASCII rows past what sniffing reads (so the encoding is still open), then the first non-ASCII
    line in Latin-1 (which decides: the file is cp1252), then a line whose bytes happen to be valid
    UTF-8 (read as cp1252 like the rest)."""
    pad = b"p" * (SNIFF_BYTES // 8)
    lines = [b"id,v,pad", *(b"%d,x,%s" % (i, pad) for i in range(1, 11)), b"11,caf\xe9,"]
    lines += [*(b"%d,x," % i for i in range(12, 21)), b"21,caf\xc3\xa9,", b"22,x,"]
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("page_size", [5, 12, 15])
def test_a_cursor_past_the_line_that_decided_the_encoding_resumes_in_that_encoding(csv_dir, page_size):
    write(csv_dir, "m.csv", _ascii_then_latin1_then_utf8_bytes())
    drv = driver(csv_dir)
    whole, _, _ = read_all(drv, "m", page_size=page_size)
    assert [r["v"] for r in whole if r["v"] != "x"] == ["café", "cafÃ©"]
    pages = list(drv.read("m", None, page_size))
    past = next(p for p in pages if p.cursor["row"] >= 11)  # the first page that read line 11's row
    assert past.cursor["encoding"] == "cp1252"
    assert all("encoding" not in p.cursor for p in pages[: pages.index(past)])  # ASCII so far: undecided
    resumed, errors, _ = read_all(drv, "m", cursor=past.cursor, page_size=page_size)
    assert errors == []
    assert resumed == whole[past.cursor["row"] :]


def test_a_utf8_decision_is_kept_in_the_cursor_too(csv_dir):
    pad = "p" * SNIFF_BYTES
    write(csv_dir, "u.csv", f"id,v\n1,{pad}\n2,Müller\n3,y\n".encode())
    drv = driver(csv_dir)
    pages = list(drv.read("u", None, 1))
    assert [p.cursor.get("encoding") for p in pages] == [None, "utf-8", "utf-8"]
    assert read_all(drv, "u", cursor=pages[1].cursor, page_size=1)[0] == [{"id": "3", "v": "y"}]


@pytest.mark.parametrize("encoding", ["no-such-codec", 12, ["utf-8"]])
def test_a_cursor_with_an_unusable_encoding_reads_the_file_again(csv_dir, encoding):
    write(csv_dir, "m.csv", _ascii_then_latin1_then_utf8_bytes())
    drv = driver(csv_dir)
    whole, _, _ = read_all(drv, "m")
    cursor = dict(next(iter(drv.read("m", None, 15))).cursor, encoding=encoding)
    assert read_all(drv, "m", cursor=cursor)[0] == whole


def test_an_unreadable_row_keeps_its_text_for_the_quarantine(csv_dir):
    write(csv_dir, "bad.csv", b'id,name\n1,"unterminated\n2,x\n')
    records, errors, _ = read_all(driver(csv_dir), "bad")
    assert records == [{"id": "2", "name": "x"}]
    assert [(e.position, e.raw) for e in errors] == [(2, '1,"unterminated')]
    assert errors[0].reason.startswith("unreadable CSV row")


def test_discover_infers_types_and_caps_samples(csv_dir, settings):
    settings.AAM_MAX_SAMPLES_PER_TABLE = 3
    lines = ["Id,Amount,Count,IsWon,CloseDate,SystemModstamp,Zip,Meta,Name"]
    for i in range(10):
        lines.append(
            f"{i},{i}.5,{i},{'true' if i % 2 else 'false'},2024-01-{i + 1:02d},"
            f'2024-01-{i + 1:02d}T10:00:00.000+0000,0{i}123,"{{""k"": {i}}}",Co {i}'
        )
    lines.append(",,,,,,,,")
    write(csv_dir, "Opportunity.csv", ("\n".join(lines) + "\n").encode())
    (obj,) = driver(csv_dir).discover()
    types = {f.name: f.type for f in obj.fields}
    assert types == {
        "Id": "integer",
        "Amount": "number",
        "Count": "integer",
        "IsWon": "boolean",
        "CloseDate": "date",
        "SystemModstamp": "datetime",
        "Zip": "string",
        "Meta": "json",
        "Name": "string",
    }
    assert all(len(f.samples) <= 3 for f in obj.fields)
    assert all(f.nullable for f in obj.fields)
    assert obj.primary_key == "Id" and obj.row_count == 11


def test_unknown_object_is_object_not_found(csv_dir):
    with pytest.raises(ObjectNotFound):
        list(driver(csv_dir).read("missing"))


def test_folder_outside_allowed_roots_is_refused_at_validation(tmp_path):
    from django.core.exceptions import ValidationError

    with pytest.raises(PermanentError):
        build_driver("filesource", {"folder": "/etc"}, {})
    from connectors.registry import validate_settings

    for bad in ("/etc", str(tmp_path / ".." / ".." / "etc"), "relative/path", "/tmp/../etc"):
        with pytest.raises(ValidationError) as info:
            validate_settings("filesource", {"folder": bad}, {})
        assert "config.folder" in info.value.message_dict


def test_symlink_leading_out_of_the_roots_is_not_listed(csv_dir):
    (csv_dir / "passwd.csv").symlink_to("/etc/passwd")
    write(csv_dir, "ok.csv", b"a\n1\n")
    assert list(driver(csv_dir).files()) == ["ok"]


def test_an_unterminated_quote_is_one_error_and_the_following_rows_still_load(csv_dir):
    write(csv_dir, "q.csv", b'a,b\n1,"never closed\n2,two\n3,three\n')
    records, errors, cursor = read_all(driver(csv_dir), "q")
    assert [(e.position, "unexpected end of data" in e.reason) for e in errors] == [(2, True)]
    assert records == [{"a": "2", "b": "two"}, {"a": "3", "b": "three"}]


def test_a_stray_quote_after_a_quoted_field_is_an_error_for_that_row_only(csv_dir):
    write(csv_dir, "s.csv", b'a,b\n1,"ok"\n2,"bad"x\n3,"fine"\n')
    records, errors, _ = read_all(driver(csv_dir), "s")
    assert [e.position for e in errors] == [3]
    assert [r["a"] for r in records] == ["1", "3"]


def test_nul_bytes_inside_a_field_are_kept(csv_dir):
    write(csv_dir, "n.csv", b"a,b\n1,x\x00y\n2,3\n")
    records, errors, _ = read_all(driver(csv_dir), "n")
    assert errors == [] and records[0]["b"] == "x\x00y"


def test_old_mac_line_endings_are_read(csv_dir):
    write(csv_dir, "cr.csv", b"a,b\r1,2\r3,4\r")
    records, errors, _ = read_all(driver(csv_dir), "cr")
    assert records == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}] and errors == []


def test_each_page_says_which_line_each_of_its_records_starts_on(csv_dir):
    text = 'id,note\n1,a\n\n2,"two\nlines"\n3\n4,d\n5,e\n6,"never\n7,g\n'  # blank, two-line, ragged, open quote
    write(csv_dir, "l.csv", text.encode())
    drv = driver(csv_dir)
    for page_size in (1, 2, 3, 1000):
        lines = []
        for page in drv.read("l", None, page_size):
            assert page.line_of is not None
            lines += [page.line_of(i) for i in range(page.record_count)]
            assert page.line_of(page.record_count) is None
        assert lines == [2, 4, 7, 8, 10], page_size  # line 6 ("3") is unreadable: an error, not a record


def _lines_of(drv, name, page_size):
    lines = []
    for page in drv.read(name, None, page_size):
        lines += [page.line_of(i) for i in range(page.record_count)]
    return lines


@pytest.mark.parametrize("page_size", [1, 2, 1000])
def test_a_lone_carriage_return_inside_a_value_does_not_shift_the_lines(csv_dir, page_size):
    write(csv_dir, "cr.csv", b'id,note\n1,"old\rmac"\n2,b\n3\n4,d\n')
    assert _lines_of(driver(csv_dir), "cr", page_size) == [2, 3, 5]


@pytest.mark.parametrize("page_size", [1, 2, 1000])
@pytest.mark.parametrize(
    "data",
    [b"id,note\r1,a\r\r2,b\r3\r4,d\r", "id,note\n1,a\n\n2,b\n3\n4,d\n".encode("utf-16")],
    ids=["cr-only", "utf-16"],
)
def test_files_read_in_text_mode_place_their_records_by_line_too(csv_dir, page_size, data):
    write(csv_dir, "t.csv", data)
    assert _lines_of(driver(csv_dir), "t", page_size) == [2, 4, 6]  # line 5 ("3") is unreadable
