"""Streaming CSV reading: bounded memory, encoding and delimiter detection, per-row errors.

Speed matters here (the pipeline benchmark pushes a million rows through at ≥100k records/s), so
the hot loop stays in C: the csv module parses lines decoded one by one from the binary file, rows
are taken in page-sized slices with `itertools.islice`, and records are built with
`map(dict, map(zip, …))`. Only a page that shows a problem (a ragged or blank row, an undecodable
line, a csv error) is re-read from its start offset by a careful row-by-row loop that reports each
bad row with its line number and keeps the good ones.

Lines are split on b"\\n" in the binary file, so `binfile.tell()` after a page is the exact byte
offset of the next record: a cursor resumes with a seek instead of re-parsing the file. UTF-16 files
and files with old Mac (CR-only) line ends are read through a text wrapper instead (the careful loop,
resuming by skipping rows).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ... import conf
from ...base import RecordError

SNIFF_BYTES = 256 * 1024
# Bytes that do not occur in text files (tab, LF, CR excepted): many of them mean binary content.
_CONTROL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32)])
DELIMITERS = (",", ";", "\t", "|")
RAW_LIMIT = 500
# Columnar pages (see CsvFile.table_pages): bytes per block, between these bounds.
BLOCK_MIN = 256 * 1024
BLOCK_MAX = 16 * 1024 * 1024
FIRST_BLOCK = 1024 * 1024

_field_limit_set = 0


def _ensure_field_limit() -> None:
    global _field_limit_set
    limit = conf.filesource_max_field_bytes()
    if _field_limit_set != limit:
        csv.field_size_limit(limit)
        _field_limit_set = limit


class CsvFormatError(ValueError):
    """The file cannot be read as CSV at all (binary content, for instance)."""


class TooManyColumns(CsvFormatError):
    """The header has more columns than FILESOURCE_MAX_COLUMNS (100,000 columns made a 13.5 MB
    schema page that took 18 s, and a page of records as many dicts of as many keys)."""

    def __init__(self, columns: int, limit: int):
        self.columns = columns
        self.limit = limit
        super().__init__(f"the header has {columns} columns; at most {limit} are accepted (FILESOURCE_MAX_COLUMNS)")


@dataclass(frozen=True, slots=True)
class Dialect:
    encoding: str
    delimiter: str
    bom: int = 0  # bytes to skip at the start (a UTF-8 byte-order mark)
    tentative: bool = False  # the sample was plain ASCII: fall back to cp1252 if non-UTF-8 bytes show up later
    text_mode: bool = False  # UTF-16 or CR-only line ends: read through a text wrapper


@dataclass(frozen=True, slots=True)
class Position:
    """Where to resume: byte offset of the next record, last line consumed, data rows consumed, and
    the encoding the file was found to be in (None while only ASCII was read: the first non-ASCII
    line decides, and a reader resumed past it must not decide again)."""

    offset: int
    line: int
    row: int
    encoding: str | None = None


def _single_byte_encoding(data: bytes) -> str:
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"  # cp1252 leaves 5 bytes undefined; latin-1 decodes anything


def _detect_encoding(sample: bytes, complete: bool) -> tuple[str, int, bool]:
    """(encoding, bom length, tentative) for a sample of the file's first bytes."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8", 3, False
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 0, False
    if sample.isascii():
        return "utf-8", 0, True
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    text = decoder.decode(sample, final=complete)
    bad = text.count("\ufffd")
    non_ascii = sum(1 for ch in text if ord(ch) > 127) - bad
    # Valid multi-byte UTF-8 sequences almost never occur by chance in cp1252/Latin-1 text, so a
    # sample with some of them is UTF-8 with a few corrupt bytes (those lines are reported); a sample
    # with none is a single-byte Windows/ISO encoding.
    if non_ascii > 0 and bad <= 4 * non_ascii:
        return "utf-8", 0, False
    return _single_byte_encoding(sample), 0, False


def _detect_delimiter(text: str) -> str:
    best, best_score = ",", (0.0, 0)
    lines = text.splitlines(keepends=True)[:200]
    for delimiter in DELIMITERS:
        counts = []
        try:
            for row in itertools.islice(csv.reader(lines, delimiter=delimiter), 60):
                if row:
                    counts.append(len(row))
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        consistent = sum(1 for c in counts if c == counts[0]) / len(counts)
        score = (consistent, counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def sniff(path: Path, *, encoding: str | None = None, delimiter: str | None = None) -> Dialect:
    """Detect encoding (UTF-8, UTF-8 with BOM, UTF-16, cp1252/Latin-1) and delimiter (, ; tab |)."""
    with open(path, "rb") as f:
        sample = f.read(SNIFF_BYTES)
        complete = len(sample) < SNIFF_BYTES
    if not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
        if controls > max(8, len(sample) // 100):
            raise CsvFormatError("the file looks binary (control bytes), not like CSV text")
    detected, bom, tentative = _detect_encoding(sample, complete)
    if encoding:
        tentative = False
        if encoding == "utf-8-sig":
            encoding = "utf-8"
        bom = 3 if (encoding == "utf-8" and sample.startswith(codecs.BOM_UTF8)) else 0
    else:
        encoding = detected
    text_mode = encoding == "utf-16"
    text = sample[bom:].decode(encoding, errors="replace") if not text_mode else sample.decode("utf-16", "replace")
    if not complete and "\n" in text:
        text = text[: text.rfind("\n") + 1]  # drop the partial last line
    if "\r" in text and "\n" not in text:
        text_mode = True
    return Dialect(
        encoding=encoding,
        delimiter=delimiter or _detect_delimiter(text),
        bom=bom,
        tentative=tentative,
        text_mode=text_mode,
    )


_fingerprints: dict[tuple, str] = {}


def fingerprint(path: Path) -> str:
    """SHA-256 of the file's content (cached per path, size, mtime and inode)."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    digest = _fingerprints.get(key)
    if digest is None:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        if len(_fingerprints) > 1024:
            _fingerprints.clear()
        _fingerprints[key] = digest
    return digest


def count_lines(path: Path) -> int:
    count = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (0 if last == b"\n" else 1)


def normalize_header(row: list[str]) -> list[str]:
    """Column names: trimmed, without NUL characters, never empty, never repeated."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(row):
        name = raw.replace("\x00", "").strip().lstrip("\ufeff").strip() or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
            while name in seen:
                name = f"{name}_"
        seen.setdefault(name, 1)
        names.append(name)
    return names


def _after_lines(data: bytes, lines: int, guess: int) -> int:
    """The offset just after the `lines`-th newline of `data` (-1 when it has fewer), found by
    counting from a guessed offset (in C) and stepping to the exact line."""
    pos = min(max(guess, 0), len(data))
    count = data.count(b"\n", 0, pos)
    if count < lines:
        while count < lines:
            i = data.find(b"\n", pos)
            if i < 0:
                return -1
            pos, count = i + 1, count + 1
        return pos
    while count > lines:
        pos = data.rfind(b"\n", 0, pos)  # the count-th newline: data[:pos] holds one fewer
        count -= 1
    return data.rfind(b"\n", 0, pos) + 1


def _page_cut(data: bytes, page_size: int, *, at_end: bool, guess: int) -> int:
    """How much of `data` the next page takes: `page_size` lines (records, unless quoted values hold
    newlines), fewer at the end of the file or when lines are long, always ending on a record
    boundary: after a newline outside quotes (an even number of quote characters before it; an
    escaped quote is two). 0 when `data` holds no whole record."""
    cut = _after_lines(data, page_size, guess)
    if cut < 0:
        cut = len(data) if at_end else data.rfind(b"\n") + 1
    if data.find(b'"', 0, cut) < 0:
        return cut  # no quotes at all (most exports): every newline ends a record
    quotes = data.count(b'"', 0, cut)
    if quotes % 2 == 0:
        return cut
    # Inside a quoted value: the record ends at a later newline (a slightly bigger page) …
    forward, ahead = cut, quotes
    for _ in range(1000):
        i = data.find(b"\n", forward)
        if i < 0:
            break
        ahead += data.count(b'"', forward, i + 1)
        forward = i + 1
        if ahead % 2 == 0:
            return forward
    if at_end and data.count(b'"') % 2 == 0:
        return len(data)
    # … or, when this block does not hold its end, at an earlier one (a smaller page).
    for _ in range(1000):
        previous = data.rfind(b"\n", 0, cut - 1) + 1
        if previous <= 0:
            return 0
        quotes -= data.count(b'"', previous, cut)
        cut = previous
        if quotes % 2 == 0:
            return cut
    return 0


class _BlockReader:
    """pyarrow's reading of one block, or None when it is not certainly what the careful reader
    would read (it then reads the block itself).

    pyarrow refuses ragged rows and undecodable bytes, but it accepts a block that ends inside a
    quoted value (it closes the value at the end of the data). The quote-parity cut (_page_cut)
    cannot rule that out when a value holds a literal quote (`ab"c`), so a block with quotes gets a
    sentinel line appended: read cleanly, the sentinel is a row of one field (refused as ragged,
    or the last row of a one-column file); read from inside an open quote, it vanishes into the
    value."""

    SENTINEL = "\x1eautonomos:end-of-block\x1e"

    def __init__(self, header: list[str], delimiter: str) -> None:
        self.width = len(header)
        self.read = pacsv.ReadOptions(column_names=header, use_threads=False, block_size=BLOCK_MAX * 2)
        self.convert = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        self.delimiter = delimiter

    def parse(self, block: bytes, *, quoted: bool) -> pa.Table | None:
        if not quoted:
            options = pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=False)
            try:
                return pacsv.read_csv(pa.py_buffer(block), self.read, options, self.convert)
            except pa.ArrowInvalid:
                return None
        if not block.isascii():
            try:
                block.decode("utf-8")  # pyarrow's row handler cannot take undecodable rows
            except UnicodeDecodeError:
                return None
        refused: list[str] = []

        def on_invalid(row) -> str:
            refused.append(row.text)
            return "skip"

        options = pacsv.ParseOptions(delimiter=self.delimiter, newlines_in_values=True, invalid_row_handler=on_invalid)
        data = block + (b"" if block.endswith(b"\n") else b"\n") + self.SENTINEL.encode() + b"\n"
        try:
            table = pacsv.read_csv(pa.py_buffer(data), self.read, options, self.convert)
        except pa.ArrowInvalid:
            return None
        if self.width > 1:
            return table if refused == [self.SENTINEL] else None
        if refused or not table.num_rows or table.column(0)[-1].as_py() != self.SENTINEL:
            return None
        return table.slice(0, table.num_rows - 1)


def _stray_quote_finder(delimiter: str):
    """Finds a quoted field followed by something other than a delimiter or the line end
    (`"bad"x`): the csv module (strict) rejects that row, pyarrow would glue the text on, so such a
    block is read by the careful reader. RE2 (pyarrow compute) runs in linear time: Python's re
    needed ~50 ns per byte on fully quoted exports."""
    d = {"\t": "\\t", "|": "\\|"}.get(delimiter, re.escape(delimiter))
    pattern = rf'(?m)(^|[{d}\n])"([^"]|"")*"[^{d}\r\n"]'

    def found(block: bytes) -> bool:
        return bool(pc.match_substring_regex(pa.array([block], pa.binary()), pattern)[0].as_py())

    return found


def _longest_value(table: pa.Table) -> int:
    longest = 0
    for column in table.columns:
        if column.num_chunks:
            longest = max(longest, pc.max(pc.binary_length(column)).as_py() or 0)
    return longest


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(data) - 3 and exc.reason == "unexpected end of data"
    return True


class _Lines:
    """Decodes the binary file line by line for csv.reader and remembers undecodable lines.

    The reader fetches exactly one line per `line_num` increment and never reads ahead, so while
    line k is being fetched `reader.line_num == k - 1`: the line number costs nothing per line.
    """

    def __init__(self, binfile, encoding: str, tentative: bool, base_line: int):
        self.f = binfile
        self.encoding = encoding
        self.tentative = tentative
        self.base_line = base_line
        self.bad: dict[int, str] = {}
        self.reader = None

    @property
    def decided(self) -> str | None:
        """The file's encoding once known; None while every line read so far was ASCII."""
        return None if self.tentative else self.encoding

    def _bad(self, raw: bytes, exc: UnicodeDecodeError) -> str:
        line = self.base_line + self.reader.line_num + 1
        self.bad[line] = f"undecodable bytes for {self.encoding} at byte {exc.start} of the line ({exc.reason})"
        return raw.decode(self.encoding, "replace")

    def __iter__(self) -> Iterator[str]:
        f = self.f
        if self.tentative:
            for raw in f:
                if raw.isascii():
                    yield raw.decode("ascii")
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    # No UTF-8 before this line, only ASCII: the file is a single-byte encoding.
                    self.encoding = _single_byte_encoding(raw)
                    text = raw.decode(self.encoding)
                self.tentative = False
                yield text
                break
        encoding = self.encoding
        for raw in f:
            try:
                yield raw.decode(encoding)
            except UnicodeDecodeError as exc:
                yield self._bad(raw, exc)


def _skip_rows(reader, count: int) -> bool:
    """Reads past `count` rows (an unreadable one counts as a row); False if the file ends first."""
    for _ in range(count):
        try:
            next(reader)
        except StopIteration:
            return False
        except csv.Error:
            pass
    return True


class CsvFile:
    """One CSV file: its dialect, header, and records in pages."""

    def __init__(
        self, path: Path, dialect: Dialect | None = None, *, encoding: str | None = None, delimiter: str | None = None
    ):
        _ensure_field_limit()
        self.path = Path(path)
        self.dialect = dialect or sniff(self.path, encoding=encoding, delimiter=delimiter)
        self._header: list[str] | None = None
        self._resumed = None
        self._data_start: Position | None = None

    # -- header ---------------------------------------------------------------------------------

    def _open_text(self):
        return io.TextIOWrapper(open(self.path, "rb"), encoding=self.dialect.encoding, errors="replace", newline="")

    def _reader(self, lines) -> csv.reader:
        # strict: an unterminated quote is an error, not a field that silently swallows the rest of
        # the file; `_careful` then resumes on the line after the one that opened the quote.
        return csv.reader(lines, delimiter=self.dialect.delimiter, strict=True)

    def _load_header(self) -> None:
        if self._header is not None:
            return
        header: list[str] = []
        if self.dialect.text_mode:
            with self._open_text() as f:
                reader = self._reader(f)
                header = self._first_row(reader)
                self._data_start = Position(offset=-1, line=reader.line_num, row=0)
        else:
            with open(self.path, "rb") as f:
                f.seek(self.dialect.bom)
                lines = _Lines(f, self.dialect.encoding, self.dialect.tentative, 0)
                reader = lines.reader = self._reader(lines)
                header = self._first_row(reader)
                self._data_start = Position(offset=f.tell(), line=reader.line_num, row=0)
        limit = conf.filesource_max_columns()
        if len(header) > limit:
            raise TooManyColumns(len(header), limit)
        self._header = normalize_header(header)

    @staticmethod
    def _first_row(reader) -> list[str]:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return []
            except csv.Error:
                continue
            if row and any(cell.strip() for cell in row):
                return row

    @property
    def header(self) -> list[str]:
        """The column names; TooManyColumns (a CsvFormatError) past FILESOURCE_MAX_COLUMNS."""
        self._load_header()
        return self._header

    @property
    def data_start(self) -> Position:
        self._load_header()
        return self._data_start

    # -- records --------------------------------------------------------------------------------

    def pages(
        self, page_size: int = 1000, start: Position | None = None
    ) -> Iterator[tuple[list[dict], list[RecordError], Position]]:
        """(records, errors, position after the page) for each page, from `start` (None = the first row)."""
        header = self.header
        if not header:
            return
        start = start or self.data_start
        if self.dialect.text_mode:
            yield from self._pages_text(page_size, start)
        elif self.dialect.tentative and start.encoding:  # decided by the reading that left the cursor
            yield from self._pages_bytes(page_size, start, False, start.encoding)
        else:
            yield from self._pages_bytes(page_size, start, self.dialect.tentative)

    def table_pages(
        self, page_size: int = 1000, start: Position | None = None
    ) -> Iterator[tuple[pa.Table | None, list[dict], list[RecordError], Position]]:
        """(table, records, errors, position after the page) for each page, from `start`.

        Clean stretches of a UTF-8 file come as Arrow tables of string columns, parsed by
        pyarrow's C++ reader from byte blocks cut at record boundaries (about `page_size` records
        each); `records` is then empty. A block the reader refuses (a ragged row, an unterminated
        quote, undecodable bytes) is read again by `pages()`'s careful loop, which keeps the good
        rows as records and reports each bad one with its line number; the blocks after it are
        columnar again. Files in other encodings, and UTF-16/CR-only files, always take `pages()`.
        """
        header = self.header
        if not header:
            return
        start = start or self.data_start
        # ASCII so far: the first non-ASCII line decides, unless the reading that left the cursor did.
        resumed_in = start.encoding if self.dialect.tentative else None
        if self.dialect.text_mode or (resumed_in or self.dialect.encoding) != "utf-8":
            for records, errors, pos in self.pages(page_size, start):
                yield None, records, errors, pos
            return
        tentative = self.dialect.tentative and not resumed_in
        block_reader = _BlockReader(header, self.dialect.delimiter)
        field_limit = conf.filesource_max_field_bytes()
        stray_quote = _stray_quote_finder(self.dialect.delimiter)
        per_line = 0.0  # bytes per line so far (sizes the next read)
        pos = start
        with open(self.path, "rb") as f:
            while True:
                want = FIRST_BLOCK if not per_line else int(per_line * page_size * 1.25) + 65536
                want = min(BLOCK_MAX, max(BLOCK_MIN, want))
                f.seek(pos.offset)
                data = f.read(want)
                if not data:
                    return
                cut = _page_cut(data, page_size, at_end=len(data) < want, guess=int(per_line * page_size))
                table = None
                block = data[:cut]
                quoted = block.find(b'"') >= 0
                if cut and not (quoted and stray_quote(block)):
                    table = block_reader.parse(block, quoted=quoted)
                    if table is not None and cut > field_limit and _longest_value(table) > field_limit:
                        table = None  # the careful reader reports the oversized field
                if table is not None:
                    if tentative and not block.isascii():
                        tentative = False  # valid UTF-8 (pyarrow checked it): the file is UTF-8
                    newlines = block.count(b"\n")
                    per_line = cut / max(1, newlines)
                    lines = newlines + (0 if block.endswith(b"\n") else 1)
                    pos = Position(
                        pos.offset + cut, pos.line + lines, pos.row + table.num_rows, None if tentative else "utf-8"
                    )
                    yield table, [], [], pos
                    continue
                # The careful reader takes over for this block (or, while the encoding is still
                # undecided and this block is not UTF-8, for the rest of the file).
                region = data[: cut or len(data)]
                block_end = pos.offset + len(region)
                rest_of_file = tentative and not _is_utf8(region)
                if tentative and not rest_of_file and not region.isascii():
                    tentative = False
                last = pos
                for records, errors, last in self._pages_bytes(page_size, pos, tentative, "utf-8"):
                    yield None, records, errors, last
                    if not rest_of_file and last.offset >= block_end:
                        break
                if last == pos or rest_of_file or last.offset < block_end:
                    return  # the careful reader reached the end of the file
                if tentative and last.encoding:
                    tentative = False
                    if last.encoding != "utf-8":
                        # Past the block, the careful reader met the file's first non-ASCII line and it
                        # was not UTF-8: the file is that single-byte encoding, read row by row to its end.
                        for records, errors, after in self._pages_bytes(page_size, last, False, last.encoding):
                            yield None, records, errors, after
                        return
                pos = last

    def _pages_bytes(self, page_size: int, start: Position, tentative: bool, encoding: str | None = None):
        """Pages read row by row. While `tentative`, the first non-ASCII line decides the encoding;
        each page's position carries the decided one (None while undecided)."""
        header = self.header
        n = len(header)
        ok_lengths = {n}
        rep = itertools.repeat(header)
        encoding = encoding or self.dialect.encoding
        with open(self.path, "rb") as f:
            f.seek(start.offset)
            offset, row, page_line = start.offset, start.row, start.line
            lines = _Lines(f, encoding, tentative, start.line)
            reader = lines.reader = self._reader(lines)
            while True:
                try:
                    chunk = list(itertools.islice(reader, page_size))
                    clean = not lines.bad and (not chunk or set(map(len, chunk)) == ok_lengths)
                except csv.Error:
                    chunk, clean = None, False
                if clean:
                    if not chunk:
                        return
                    row += len(chunk)
                    offset = f.tell()
                    page_line = lines.base_line + reader.line_num
                    yield list(map(dict, map(zip, rep, chunk))), [], Position(offset, page_line, row, lines.decided)
                    continue
                # Something in this page is off: read it again, row by row, from its start.
                f.seek(offset)
                lines = _Lines(f, lines.encoding, lines.tentative, page_line)
                reader = lines.reader = self._reader(lines)
                self._resumed = None
                records, errors, consumed = self._careful(reader, lines, page_size)
                if self._resumed is not None:
                    reader, lines = self._resumed
                if consumed == 0:
                    return
                row += consumed
                offset = f.tell()
                lines.bad.clear()
                page_line = lines.base_line + reader.line_num
                yield records, errors, Position(offset, page_line, row, lines.decided)
                if consumed < page_size:
                    return

    def _careful(self, reader, lines: _Lines, page_size: int) -> tuple[list[dict], list[RecordError], int]:
        """Read up to `page_size` records one by one, reporting each bad one. When it had to restart
        the reader (after an unterminated quote) the new (reader, lines) are left in `_resumed`."""
        header = self.header
        n = len(header)
        delimiter = self.dialect.delimiter
        records: list[dict] = []
        errors: list[RecordError] = []
        consumed = 0
        prev = lines.base_line + reader.line_num
        f = lines.f
        while consumed < page_size:
            record_start = f.tell() if f is not None else None
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                consumed += 1
                end = lines.base_line + reader.line_num
                raw = ""
                if record_start is not None:  # the offending text, for the quarantine: its first line
                    after = f.tell()
                    f.seek(record_start)
                    raw = f.readline().decode(lines.encoding, "replace").rstrip("\r\n")[:RAW_LIMIT]
                    if end == prev + 1:
                        f.seek(after)
                errors.append(RecordError(position=prev + 1, reason=f"unreadable CSV row: {exc}", raw=raw))
                if record_start is not None and end > prev + 1:
                    # The bad record ran over several lines (an unterminated quote): skip only its
                    # first line (read above) and read the following lines again as records of their own.
                    end = prev + 1
                    lines = _Lines(f, lines.encoding, lines.tentative, end)
                    reader = lines.reader = self._reader(lines)
                    self._resumed = (reader, lines)
                prev = end
                continue
            consumed += 1
            first, prev = prev + 1, lines.base_line + reader.line_num
            if lines.bad:
                bad_line = next((ln for ln in range(first, prev + 1) if ln in lines.bad), None)
                if bad_line is not None:
                    reason = lines.bad.pop(bad_line)
                    if bad_line != first:
                        reason += f" (line {bad_line})"
                    errors.append(RecordError(position=first, reason=reason, raw=delimiter.join(row)[:RAW_LIMIT]))
                    continue
            if len(row) != n:
                if not row:
                    continue  # a blank line
                if len(row) > n and not any(row[n:]):
                    row = row[:n]  # trailing empty cells (Excel pads rows with delimiters)
                else:
                    errors.append(
                        RecordError(
                            position=first,
                            reason=f"expected {n} fields, found {len(row)}",
                            raw=delimiter.join(row)[:RAW_LIMIT],
                        )
                    )
                    continue
            records.append(dict(zip(header, row, strict=False)))
        return records, errors, consumed

    def record_lines(self, start: Position, end: Position, skip_lines: frozenset[int] = frozenset()):
        """A function: index of a record in the page read from `start` to `end` → the line it starts on.

        It reads that stretch of the file again (only when asked: for the few records quarantined
        for their values) and counts records as the readers do: blank lines are none, and lines in
        `skip_lines` (the page's unreadable rows, reported by line) are not records. Files read in
        text mode (UTF-16, CR-only line ends) have no byte offsets: their page is found again by its
        rows. None when the index is past the page's records."""
        starts: list[int] = []  # filled on the first call

        def line_of(index: int) -> int | None:
            if not starts:
                if self.dialect.text_mode:
                    starts.extend(self._text_record_starts(start, end, skip_lines))
                elif end.offset > start.offset:
                    encoding = start.encoding or end.encoding or self.dialect.encoding
                    with open(self.path, "rb") as f:
                        f.seek(start.offset)
                        data = io.BytesIO(f.read(end.offset - start.offset))
                    # Lines end at b"\n" only, as the readers split them (a lone \r is inside a line).
                    lines = [raw.decode(encoding, "replace") for raw in data]
                    starts.extend(self._record_starts(lines, start.line, skip_lines))
                starts.append(-1)  # computed (a page without records still answers None)
            return starts[index] if 0 <= index < len(starts) - 1 else None

        return line_of

    def _text_record_starts(self, start: Position, end: Position, skip_lines: frozenset[int]) -> list[int]:
        """Record start lines of a text-mode page: the file read again as `_pages_text` reads it, the rows
        before the page skipped by count."""
        found: list[int] = []
        with self._open_text() as f:
            reader = self._reader(f)
            self._first_row(reader)
            if not _skip_rows(reader, start.row):
                return found
            for _ in range(end.row - start.row):
                prev = reader.line_num
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error:
                    continue
                if row and prev + 1 not in skip_lines:
                    found.append(prev + 1)
        return found

    def _record_starts(self, lines: list[str], base_line: int, skip_lines: frozenset[int]) -> list[int]:
        """The line each record of `lines` (the file's lines after `base_line`) starts on, parsed as the
        careful reader does: a bad record that ran over several lines (an unterminated quote) is only
        its first line, and the lines after it are read again as records of their own."""
        found: list[int] = []
        k = 0
        while k < len(lines):
            reader = self._reader(iter(lines[k:]))
            prev, restart = 0, None
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error:
                    if reader.line_num > prev + 1:
                        restart = k + prev + 1
                        break
                    prev = reader.line_num
                    continue
                first = base_line + k + prev + 1
                prev = reader.line_num
                if row and first not in skip_lines:
                    found.append(first)
            if restart is None:
                break
            k = restart
        return found

    def _pages_text(self, page_size: int, start: Position):
        with self._open_text() as f:
            lines = _Lines(None, self.dialect.encoding, False, 0)
            reader = lines.reader = self._reader(f)
            self._first_row(reader)  # the header
            if not _skip_rows(reader, start.row):  # text mode resumes by skipping rows (no byte offsets)
                return
            row = start.row
            while True:
                records, errors, consumed = self._careful(reader, lines, page_size)
                if consumed == 0:
                    return
                row += consumed
                yield records, errors, Position(-1, reader.line_num, row)
                if consumed < page_size:
                    return
