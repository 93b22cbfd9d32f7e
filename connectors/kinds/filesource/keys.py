"""Record keys of CSV files: what makes a row of a file the same record in the next version of it.

A file is a snapshot of one source object (docs/adr/0024-files-as-snapshots.md): a new version
replaces the last, its records upserted by key. The key of an object is, first found:
- `set`: the column(s) a person set on the connection page (`primary_keys`), or `#line`;
- the key the platform chose when it first saw the file, kept in `chosen_keys` so that it never
  changes by itself (a key chosen again on each version could pick other columns, and every record
  would be new):
  - `id_column`: a column named like the record id (`Id`, `<object>Id`, `hs_object_id`, …);
  - `columns`: the smallest set of columns, at most three, filled in every row and unique over the
    whole file, taken in a fixed order of preference (email-like, then name-like, then date-like
    columns, then other text, then columns whose values are edited over time: amounts, stages,
    statuses); among sets of one size, the first in that order;
  - `line`: no such set (identical rows, say): the record's number in the file (`#line`; a row
    inserted above others moves their keys);
  - `content`: objects read before keys were chosen keep the content hash they were read with
    (`#content`), until a person sets a key: changing it silently would re-key every record.
A key that does not hold in a new version (a column gone, a value repeated) stops that version, with
the rows that break it named: the previous snapshot stays (services.py refuses such an upload, the
driver such a read).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .csvio import CsvFile

LINE = "#line"  # the key is the record's number in the file
CONTENT = "#content"  # the key is a hash of the record's content (objects read before keys existed)
LINE_COLUMN = "__line"  # the column the driver adds to pages of a line-keyed file (never mapped)
MAX_KEY_COLUMNS = 3
MAX_CANDIDATES = 12  # columns tried in sets of two and three (C(12, 3) = 220 sets at most)
READ_PAGE = 50_000

BASES = {
    "set": "set on this page",
    "id_column": "the file's id column",
    "columns": "the fewest columns filled in every row and unique over the file (emails, names and dates first)",
    "line": "the row's number in the file: no set of up to three columns tells the rows apart",
    "content": "the row's content (the object was read before keys were chosen): an edited row becomes a new record",
}

_ID_NAMES = ("id", "hsobjectid", "identitylineitemid", "resourceid")
_EMAIL = re.compile(r"e-?mail", re.I)
_NAMEISH = {"name", "title", "subject", "company", "account", "deal", "opportunity", "contact", "customer",
            "organization", "organisation", "domain", "number", "no", "code", "reference", "ref", "key", "sku",
            "invoice", "order", "username", "login", "phone", "url", "website"}
_DATEISH = {"date", "created", "time", "timestamp", "day", "month", "year", "period", "start", "opened"}
_VOLATILE = {"amount", "value", "price", "cost", "revenue", "total", "probability", "percent", "pct", "stage",
             "status", "state", "owner", "qty", "quantity", "count", "score", "balance", "updated", "modified",
             "notes", "note", "description", "comment", "comments", "forecast", "rating", "last", "next", "usd",
             "eur", "gbp", "won", "closed", "lost", "active", "flag"}


class KeyProblem(ValueError):
    """A key that does not hold in a file; the message says which rows break it."""


@dataclass(frozen=True)
class RecordKey:
    """An object's key: its columns (none when by line or content) and where it came from (BASES)."""

    columns: tuple[str, ...]
    basis: str
    by_line: bool = False

    @classmethod
    def of(cls, spec: list[str], basis: str) -> RecordKey:
        """From a config entry: a list of columns, [LINE] or [CONTENT]."""
        if spec == [LINE]:
            return cls((), basis if basis == "set" else "line", by_line=True)
        if spec == [CONTENT]:
            return cls((), "content")
        return cls(tuple(spec), basis)

    @property
    def spec(self) -> list[str]:
        """As stored in the config."""
        if self.by_line:
            return [LINE]
        if self.basis == "content":
            return [CONTENT]
        return list(self.columns)

    @property
    def primary_key(self) -> str | None:
        """The SourceObject's primary key: columns joined by ","; the line column; None for content."""
        if self.by_line:
            return LINE_COLUMN
        return ",".join(self.columns) or None

    def label(self) -> str:
        if self.by_line:
            return "row number in the file"
        if self.basis == "content":
            return "row content"
        return " + ".join(self.columns)

    def why(self) -> str:
        if self.by_line and self.basis == "set":
            return BASES["set"] + " (a row inserted above others moves their keys)"
        return BASES[self.basis]


def _tokens(name: str) -> set[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return {t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t}


def id_column(object_name: str, header: list[str]) -> str | None:
    """A column that looks like the record id: `Id`, `<object>id`, `hs_object_id`, … (first match)."""
    norm = {f: f.lower().replace("_", "").replace("/", "").replace(".", "").replace(" ", "") for f in header}
    stem = object_name.lower().replace("_", "")
    for candidate in (*_ID_NAMES, f"{stem}id", f"{stem.rstrip('s')}id"):
        for name, n in norm.items():
            if n == candidate:
                return name
    return None


VOLATILE = 4


def preference(name: str) -> int:
    """0 email, 1 name-like, 2 date-like, 3 other text, 4 values edited over time (amounts, stages)."""
    tokens = _tokens(name)
    if tokens & _VOLATILE:
        return 4
    if _EMAIL.search(name):
        return 0
    if tokens & _NAMEISH or any(t.endswith("name") for t in tokens):
        return 1
    if tokens & _DATEISH:
        return 2
    return 3


def usable_column(name: str) -> bool:
    """A column a key can name (the key travels as one text, its columns joined by ",")."""
    return bool(name) and "," not in name and name not in (LINE, CONTENT, LINE_COLUMN)


def read_columns(csv_file: CsvFile, names: list[str], *, trim: bool = True) -> tuple[dict[str, pa.Array], int]:
    """The named columns of every record of the file (text, trimmed unless `trim` is False: the caller
    trims each column when it needs it, holding one copy at a time) and the number of records."""
    found = _read_columns_fast(csv_file, names)
    if found is not None:
        columns, rows = found
        return ({n: _trimmed(c) for n, c in columns.items()} if trim else columns), rows
    parts: dict[str, list[pa.Array]] = {n: [] for n in names}
    rows = 0
    for table, records, _errors, _pos in csv_file.table_pages(page_size=READ_PAGE):
        if table is not None:
            rows += table.num_rows
            for n in names:
                parts[n].append(table[n].combine_chunks().cast(pa.string()))
        else:
            rows += len(records)
            for n in names:
                parts[n].append(pa.array([r.get(n) for r in records], pa.string()))
    out = {}
    for n in names:
        column = pa.concat_arrays(parts.pop(n)) if parts[n] else pa.array([], pa.string())
        out[n] = _trimmed(column) if trim else column
    return out, rows


def _trimmed(column) -> pa.Array:
    """Trimmed text, as the pipeline trims key parts (`_source_id`)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return pc.utf8_trim_whitespace(column)


def _read_columns_fast(csv_file: CsvFile, names: list[str]) -> tuple[dict[str, pa.Array], int] | None:
    """The same, streamed by pyarrow's reader with only the named columns converted (one column of
    1M rows in about 1.2 s, half the pages' time); None for a file it cannot take as the pages
    would (not UTF-8, UTF-16 or CR-only lines, an undecodable byte): the pages read it then. Rows of
    the wrong width are not records there either (the pages quarantine them)."""
    dialect = csv_file.dialect
    if dialect.text_mode or dialect.encoding != "utf-8" or not names:
        return None
    read = pacsv.ReadOptions(column_names=csv_file.header, block_size=4 << 20, use_threads=False)
    parse = pacsv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=True,
                               invalid_row_handler=lambda _row: "skip")
    convert = pacsv.ConvertOptions(include_columns=names, column_types={n: pa.string() for n in names},
                                   strings_can_be_null=False, quoted_strings_can_be_null=False)
    parts: dict[str, list[pa.Array]] = {n: [] for n in names}
    rows = 0
    try:
        with pa.OSFile(str(csv_file.path)) as source:
            source.seek(csv_file.data_start.offset)
            for batch in pacsv.open_csv(source, read, parse, convert):  # streamed: a block at a time
                rows += batch.num_rows
                for n in names:
                    parts[n].append(batch.column(n))
    except (pa.ArrowInvalid, OSError):
        return None
    return {n: pa.chunked_array(parts[n], pa.string()) for n in names}, rows


def _filled(column: pa.Array) -> bool:
    return not column.null_count and not pc.any(pc.equal(column, "")).as_py()


def _codes(column: pa.Array) -> tuple[pa.Array, int]:
    """The column as integer codes (one per distinct value) and the number of distinct values."""
    encoded = pc.dictionary_encode(column)
    return encoded.indices, len(encoded.dictionary)


def _combined(parts: list[tuple[pa.Array, int]]) -> pa.Array:
    codes, _ = parts[0]
    for other, size in parts[1:]:
        wide = pc.add(pc.multiply(codes.cast(pa.int64()), size), other.cast(pa.int64()))
        codes, _n = _codes(wide)  # re-encoded: never overflows
    return codes


def choose_key(object_name: str, csv_file: CsvFile) -> RecordKey | None:
    """The key the platform chooses for a file (see the module docstring); None for a file without
    rows (nothing to choose from yet)."""
    header = csv_file.header
    if not header:
        return None
    idc = id_column(object_name, header)
    if idc is not None and usable_column(idc):  # the id column alone first: one column read
        columns, rows = read_columns(csv_file, [idc])
        if rows == 0:
            return None
        if _filled(columns[idc]) and _codes(columns[idc])[1] == rows:
            return RecordKey((idc,), "id_column")
    usable = [n for n in header if usable_column(n)]
    columns, rows = read_columns(csv_file, usable, trim=False)
    if rows == 0:
        return None
    encoded: dict[str, tuple[pa.Array, int]] = {}
    for n in usable:  # one column's text at a time beside the file's: codes are all that is kept
        column = _trimmed(columns.pop(n))
        if _filled(column):
            encoded[n] = _codes(column)
        del column
    candidates = list(encoded)
    ranked = sorted(candidates, key=lambda n: (preference(n), header.index(n)))
    # a column holding one value for every row tells nothing apart (unless there is one row)
    ranked = [n for n in ranked if encoded[n][1] > 1 or rows == 1]
    # Columns edited over time (amounts, stages) only when no set of the others tells the rows apart:
    # a key that changes with an edit makes the edited record a new one.
    steady = [n for n in ranked if preference(n) < VOLATILE]
    for pool in (steady, ranked):
        found = _smallest_unique(pool[:MAX_CANDIDATES], encoded, rows)
        if found is not None:
            return RecordKey(found, "columns")
    return RecordKey((), "line", by_line=True)


def _smallest_unique(pool: list[str], encoded: dict[str, tuple[pa.Array, int]], rows: int) -> tuple[str, ...] | None:
    """The first set of 1 to MAX_KEY_COLUMNS columns of `pool` (smallest first, then in the pool's
    order) whose values together are unique over the rows."""
    for size in range(1, MAX_KEY_COLUMNS + 1):
        for combo in itertools.combinations(pool, size):
            distinct = 1
            for n in combo:
                distinct *= encoded[n][1]
            if distinct < rows:
                continue  # too few values to tell the rows apart
            if size == 1 or pc.count_distinct(_combined([encoded[n] for n in combo])).as_py() == rows:
                return combo
    return None


def key_problem(csv_file: CsvFile, key: RecordKey, *, file_name: str = "") -> str | None:
    """Why `key` does not hold in this file (None when it does): a column it names is missing, a row
    leaves it empty, or two rows share a value. Rows are counted from the first after the header."""
    if not key.columns:
        return None
    name = file_name or csv_file.path.name
    header = csv_file.header
    missing = [c for c in key.columns if c not in header]
    if missing:
        return (f"{name}: the key column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
                f"{'are' if len(missing) > 1 else 'is'} not in the file (its columns: "
                f"{', '.join(header[:12])}{', …' if len(header) > 12 else ''})")
    columns, rows = read_columns(csv_file, list(key.columns))
    label = " + ".join(key.columns)
    for c in key.columns:
        empty = pc.or_(pc.is_null(columns[c]), pc.equal(columns[c], ""))
        if pc.any(empty).as_py():
            where = [i + 1 for i in pc.indices_nonzero(empty).to_pylist()[:3]]
            return f"{name}: the key column {c!r} is empty in row{'s' if len(where) > 1 else ''} " + (
                ", ".join(map(str, where)))
    codes = _combined([_codes(columns[c]) for c in key.columns])
    if pc.count_distinct(codes).as_py() == rows:
        return None
    counts = pc.value_counts(codes)
    repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    first = repeated[0].as_py()
    where = [i + 1 for i in pc.indices_nonzero(pc.equal(codes, first)).to_pylist()[:3]]
    value = " | ".join(str(columns[c][where[0] - 1].as_py()) for c in key.columns)
    shown = ", ".join(map(str, where)) + (", …" if len(where) == 3 else "")
    both = "both" if len(where) == 2 else "all"
    return (f"{name}: the key {label} is not unique: rows {shown} {both} have {value!r} "
            f"({len(repeated)} value{'s' if len(repeated) > 1 else ''} repeated)")
