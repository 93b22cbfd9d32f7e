"""PostgreSQL rows → Arrow without a Python object per row (issue #17, part 5; ADR 0018).

A page is one `COPY (SELECT …) TO STDOUT (FORMAT csv)`: PostgreSQL renders each column in C, and
pyarrow's CSV reader parses the bytes in C into typed columns. The SELECT list casts each column
to one of four transports (int8, float8, bool, text) so the Arrow table holds what the former row
path gave ingestion (`aam.ingest.normalize.records_to_table` over `typeinfer.jsonable` values):

- integers → int64, real/double → float64, boolean → bool;
- numeric, money, uuid, text-like, enums and any other type → text (PostgreSQL's own output);
- date → `YYYY-MM-DD`; timestamps → ISO 8601 as Python's `isoformat()` wrote them (`T`, microseconds
  only when there are some, `+00:00` for timestamptz: the session runs in UTC); infinity and years
  beyond 9999 stay PostgreSQL's text (the coercion quarantines them; the row path failed the read);
- json/jsonb → their JSON text (a JSON null is NULL), arrays → `to_jsonb(…)` text (`[1, 2]`, as json.dumps wrote lists);
- bytea → hex.

Why CSV and not `FORMAT binary`: measured (ADR 0018), psycopg hands COPY data over one Python
object per row either way, and decoding binary needs a Python loader call per value; the CSV text
is parsed by Arrow in C. NULL and the empty string stay apart (COPY quotes empty strings).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from psycopg import sql

from ...errors import ConnectorError, ObjectNotFound, PermanentError, TransientError

_INTEGER = {"smallint", "integer", "bigint"}
_FLOAT = {"real", "double precision"}
_TEXT_AS_IS = {"text", "character varying", "character", "name", '"char"', "citext"}
# PostgreSQL's ISO output of a timestamp Arrow can parse: years 1..9999, AD, finite.
_PLAIN_TS = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?(\+00)?$"


def transport(pg_type: str) -> pa.DataType:
    if pg_type in _INTEGER:
        return pa.int64()
    if pg_type in _FLOAT:
        return pa.float64()
    if pg_type == "boolean":
        return pa.bool_()
    return pa.string()


def column_expr(name: str, pg_type: str) -> sql.Composable:
    c = sql.Identifier(name)
    if pg_type in _INTEGER:
        return sql.SQL("{}::int8").format(c)
    if pg_type == "boolean" or pg_type in _FLOAT or pg_type in _TEXT_AS_IS:
        # real as PostgreSQL writes it ("1.1"), which is what the row path read, not float8's 1.100000023841858
        # character(n) keeps its padding, as the row path gave it
        return c
    if pg_type == "jsonb":  # a JSON null is no value, as the row path read it
        return sql.SQL("NULLIF({}::text, 'null')").format(c)
    if pg_type == "json":
        return sql.SQL("CASE WHEN json_typeof({}) = 'null' THEN NULL ELSE {}::text END").format(c, c)
    if pg_type == "ARRAY":
        return sql.SQL("to_jsonb({})::text").format(c)
    if pg_type == "bytea":
        return sql.SQL("encode({}, 'hex')").format(c)
    return sql.SQL("{}::text").format(c)


def select_list(cols: list[str], pg_types: dict[str, str]) -> sql.Composable:
    return sql.SQL(", ").join(column_expr(c, pg_types.get(c, "text")) for c in cols)


def _iso_timestamps(text: pa.Array, with_zone: bool) -> pa.Array:
    """PostgreSQL's `2024-01-31 10:00:00.5+00` → Python's `2024-01-31T10:00:00.500000+00:00`."""
    try:
        return _iso_of(text, with_zone)  # every value a plain timestamp: parsed and written in C
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # infinity, BC or beyond 9999 among them: those keep PostgreSQL's text
    plain = pc.fill_null(pc.match_substring_regex(text, _PLAIN_TS), False)
    if not pc.any(plain).as_py():
        return text
    return pc.if_else(plain, _iso_of(pc.if_else(plain, text, pa.scalar(None, pa.string())), with_zone), text)


def _iso_of(text: pa.Array, with_zone: bool) -> pa.Array:
    return iso_of_timestamps(pc.cast(text, pa.timestamp("us", "UTC" if with_zone else None)), with_zone)


def iso_of_timestamps(parsed: pa.Array, with_zone: bool) -> pa.Array:
    """Timestamps (µs; in UTC when `with_zone`) as Python's `isoformat()` wrote them."""
    # The wall time in UTC as a zone-less timestamp (Arrow writes those fast), then Python's layout.
    wall = parsed.cast(pa.int64()).cast(pa.timestamp("us")) if with_zone else parsed
    iso = pc.replace_substring(pc.replace_substring(pc.cast(wall, pa.string()), ".000000", ""), " ", "T")
    return pc.binary_join_element_wise(iso, "+00:00", "") if with_zone else iso


def _finish(table: pa.Table, cols: list[str], pg_types: dict[str, str]) -> pa.Table:
    columns = []
    for name in cols:
        col = table[name]
        kind = pg_types.get(name)
        if kind in ("timestamp with time zone", "timestamp without time zone") and len(col):
            col = _iso_timestamps(col.combine_chunks(), kind == "timestamp with time zone")
        columns.append(col)
    return pa.table(columns, names=cols)


def _options(cols: list[str], pg_types: dict[str, str], block_size: int):
    # Positional names: pyarrow reads by position, and a column may be called anything.
    names = [f"c{i}" for i in range(len(cols))]
    read = pcsv.ReadOptions(column_names=names, block_size=block_size, use_threads=False)
    parse = pcsv.ParseOptions(newlines_in_values=True, double_quote=True, escape_char=False)
    convert = pcsv.ConvertOptions(
        column_types={n: transport(pg_types.get(c, "text")) for n, c in zip(names, cols, strict=True)},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,  # COPY writes NULL bare and '' as "": keep them apart
        true_values=["t"],
        false_values=["f"],
    )
    return read, parse, convert


def empty_table(cols: list[str], pg_types: dict[str, str]) -> pa.Table:
    return pa.table([pa.array([], transport(pg_types.get(c, "text"))) for c in cols], names=cols)


def csv_to_table(data: bytes, cols: list[str], pg_types: dict[str, str]) -> pa.Table:
    """COPY's CSV output of `cols` as an Arrow table, typed as the module docstring says."""
    if not data:
        return empty_table(cols, pg_types)
    read, parse, convert = _options(cols, pg_types, block_size=len(data) + 1)  # one block: rows may be large
    table = pcsv.read_csv(pa.py_buffer(data), read_options=read, parse_options=parse, convert_options=convert)
    return _finish(table.rename_columns(cols), cols, pg_types)


class _ChunkStream(io.RawIOBase):
    """COPY's chunks as a readable file, for pyarrow's streaming CSV reader."""

    def __init__(self, chunks: Iterable):
        self._chunks = iter(chunks)
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        # As many chunks (one per row, as PostgreSQL sends them) as fit: one call per buffer, not per row.
        view = memoryview(buffer).cast("B")
        size, filled = len(view), 0
        while filled < size:
            if not self._rest:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._rest = bytes(chunk)
            n = min(size - filled, len(self._rest))
            view[filled : filled + n] = self._rest[:n]
            self._rest = self._rest[n:]
            filled += n
        return filled


def stream_tables(chunks: Iterable, cols: list[str], pg_types: dict[str, str], page_size: int) -> Iterator[pa.Table]:
    """A whole COPY's CSV, read as it arrives, in tables of `page_size` rows (memory: about one page)."""
    stream = io.BufferedReader(_ChunkStream(chunks), buffer_size=1 << 20)
    if not stream.peek(1):
        return
    read, parse, convert = _options(cols, pg_types, block_size=1 << 22)
    yield from pages_of(pcsv.open_csv(stream, read_options=read, parse_options=parse, convert_options=convert),
                        cols, pg_types, page_size)


def pages_of(batches: Iterable[pa.RecordBatch], cols: list[str], pg_types: dict[str, str],
             page_size: int) -> Iterator[pa.Table]:
    """Record batches (columns named by position: c0, c1, …) re-cut into tables of `page_size` rows
    named `cols`, typed as the module docstring says (the CSV reader's and ADBC's alike)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= page_size:
            table = pa.Table.from_batches(pending)
            yield _finish(table.slice(0, page_size).rename_columns(cols), cols, pg_types)
            rest = table.slice(page_size)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield _finish(pa.Table.from_batches(pending).rename_columns(cols), cols, pg_types)


@contextlib.contextmanager
def translate_errors():
    """psycopg's errors as the connector's, as `PostgresDriver._run` sorts them."""
    try:
        yield
    except psycopg.errors.UndefinedTable as exc:
        raise ObjectNotFound(f"the table is gone: {exc.diag.message_primary}") from None
    except psycopg.errors.InsufficientPrivilege as exc:
        raise PermanentError(f"permission denied: {exc.diag.message_primary}") from None
    except psycopg.OperationalError as exc:
        raise TransientError(f"database error: {str(exc).strip()[:300]}") from None
    except psycopg.Error as exc:
        raise ConnectorError(f"query failed: {(exc.diag.message_primary or str(exc))[:300]}") from None
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ConnectorError(f"cannot read the COPY output: {str(exc)[:300]}") from None
