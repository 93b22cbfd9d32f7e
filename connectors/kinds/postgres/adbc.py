"""PostgreSQL rows → Arrow through ADBC (`adbc-driver-postgresql`): the driver's read path (ADR 0018, addendum).

ADBC's PostgreSQL driver runs a query as `COPY (query) TO STDOUT (FORMAT binary)` and decodes the
binary rows into Arrow arrays in C: no Python object per row, per value or per CSV block, and the
server does not render integers, booleans and floats as text. The CSV path (columnar.py) stays as
`PostgresDriver.read_copy_csv` for `bench_pg_read` and the equivalence tests.

- **Connection.** The same libpq parameters as the psycopg session (`PostgresDriver._conninfo`,
  with the host pinned to the addresses netguard checked: `hostaddr`), as one conninfo string
  (psycopg's `make_conninfo` quotes the values), so TLS (`sslmode`, `sslrootcert`, …), the connect
  timeout and the application name are the same; ADBC links its own libpq, built with TLS. The
  session settings travel as startup `options` (read-only, statement timeout, DateStyle, TimeZone):
  they hold from the first statement. Autocommit: no transaction is left open between reads.
- **Query.** columnar.py's SELECT list (the same four transports, the same text for numerics,
  JSON, arrays, bytea), except:
  - dates and timestamps travel in binary when they are in years 1–9999 (the text output of a
    timestamp costs the server more than the rest of the row), and are written as text in Arrow
    (`iso_of_timestamps`: Python's `isoformat()` layout, as the CSV path wrote them); the others
    (infinity, BC, beyond 9999) come in a second column as PostgreSQL's text, as before. A
    `CASE` on the range is cheaper for the server than the text output;
  - `real` as text (binary would hand float4, widened to 1.100000023841858; the text `1.1` is what
    the row path read), and text-like types ADBC does not decode (`name`, `"char"`, `citext`: an
    extension's type would come as opaque bytes).
  Each column is cast to its transport in Arrow when ADBC's type is another (text → float64 for real).
- **Parameters.** Cursor values are literals, as in the CSV path: a bound parameter makes ADBC
  prepare the statement and read its rows without COPY.
- **Errors.** ADBC's errors carry the SQLSTATE: a vanished table (42P01) is `ObjectNotFound`, a
  refused privilege (42501) `PermanentError`, a lost or refused connection (class 08, 57P0x,
  ADBC's OperationalError) `TransientError`, anything else `ConnectorError` — as `_run` sorts psycopg's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ...errors import ConnectorError, ObjectNotFound, PermanentError, TransientError
from .columnar import column_expr, iso_of_timestamps, transport

# The session as the psycopg connection sets it (driver._connection), as startup options.
SESSION_OPTIONS = ("-c default_transaction_read_only=on -c statement_timeout=300s "
                   "-c DateStyle=ISO,YMD -c TimeZone=UTC")
_AS_TEXT = {"real", "name", '"char"', "citext"}
# Rows ADBC decodes per Arrow batch, about (it sizes batches in bytes): a few pages of ingestion.
BATCH_BYTES = 8 << 20


# Types sent in binary when in this range (else as text in a second column); the bounds are UTC's (the session's).
_IN_BINARY = {
    "date": ("0001-01-01", "10000-01-01"),
    "timestamp without time zone": ("0001-01-01 00:00:00", "10000-01-01 00:00:00"),
    "timestamp with time zone": ("0001-01-01 00:00:00+00", "10000-01-01 00:00:00+00"),
}


def _expressions(name: str, kind: str) -> list[sql.Composable]:
    """The output column(s) of one source column: two for dates and timestamps (module docstring)."""
    c = sql.Identifier(name)
    if kind in _AS_TEXT:
        return [sql.SQL("{}::text").format(c)]
    if kind in _IN_BINARY:
        low, high = (sql.Literal(b) for b in _IN_BINARY[kind])
        inside = sql.SQL("{c} >= {low} AND {c} < {high}").format(c=c, low=low, high=high)
        return [sql.SQL("CASE WHEN {} THEN {} END").format(inside, c),
                sql.SQL("CASE WHEN NOT ({}) THEN {}::text END").format(inside, c)]
    return [column_expr(name, kind)]


def select_list(cols: list[str], pg_types: dict[str, str]) -> sql.Composable:
    return sql.SQL(", ").join(e for name in cols for e in _expressions(name, pg_types.get(name, "text")))


def finished_types(pg_types: dict[str, str]) -> dict[str, str]:
    """`pg_types` as `columnar.pages_of` should see them after `batches`: dates and timestamps are
    text in their final layout already."""
    return {c: "text" if kind in _IN_BINARY else kind for c, kind in pg_types.items()}


def _in_text(kind: str, binary: pa.Array, text: pa.Array) -> pa.Array:
    """A date or timestamp column from its two transports: the binary values written as text, else
    PostgreSQL's own text (the values out of range)."""
    if kind == "date":
        written = pc.cast(binary, pa.string())
    else:
        if binary.type.tz is not None and binary.type.tz.upper() not in ("UTC", "+00:00"):
            raise ConnectorError(f"unexpected time zone {binary.type.tz!r} in the read")
        written = iso_of_timestamps(binary, kind == "timestamp with time zone")
    if text.null_count == len(text):
        return written
    return pc.if_else(pc.is_null(binary), pc.cast(text, pa.string()), written)


def connect(info: dict[str, Any], permanent_hints: tuple[str, ...]):
    """An ADBC connection with `info`'s libpq parameters and the read-only session settings."""
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc

    params = {k: v for k, v in info.items() if k != "options"}
    options = " ".join(o for o in (str(info.get("options") or ""), SESSION_OPTIONS) if o)
    try:
        return adbc.connect(make_conninfo(**params, options=options), autocommit=True)
    except adbc_driver_manager.Error as exc:
        message = _message(exc)
        if any(hint.lower() in message.lower() for hint in permanent_hints):
            raise PermanentError(f"cannot connect: {message}") from None
        raise TransientError(f"cannot connect: {message}") from None


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    for prefix in ("IO: ", "[libpq] ", "Failed to connect: "):
        text = text.removeprefix(prefix)
    return text.split(". SQLSTATE:")[0].strip()[:300]


def translate(exc: BaseException) -> Exception:
    """An ADBC error as the connector's error classes."""
    import adbc_driver_manager

    state = str(getattr(exc, "sqlstate", "") or "")
    message = _message(exc)
    if state == "42P01":
        return ObjectNotFound(f"the table is gone: {message}")
    if state == "42501":
        return PermanentError(f"permission denied: {message}")
    if state.startswith("08") or state.startswith("57P0") or isinstance(exc, adbc_driver_manager.OperationalError):
        return TransientError(f"database error: {message}")
    return ConnectorError(f"query failed: {message}")


def batches(conn, query: str, cols: list[str], pg_types: dict[str, str]) -> Iterator[pa.RecordBatch]:
    """The query's rows as record batches named `c0, c1, …` (columnar.pages_of names them), each
    column in its transport type. Closing the generator early cancels the rest of the COPY."""
    import adbc_driver_manager

    kinds = [pg_types.get(c, "text") for c in cols]
    want = [transport(kind) for kind in kinds]
    names = [f"c{i}" for i in range(len(cols))]
    cur = conn.cursor()
    try:
        try:
            cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)})
            cur.execute(query)
            reader = cur.fetch_record_batch()
        except adbc_driver_manager.Error as exc:
            raise translate(exc) from None
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except adbc_driver_manager.Error as exc:
                raise translate(exc) from None
            except pa.ArrowException as exc:
                raise ConnectorError(f"cannot read the rows: {str(exc)[:300]}") from None
            arrays, at = [], 0
            for kind, typ in zip(kinds, want, strict=True):
                if kind in _IN_BINARY:
                    arrays.append(_in_text(kind, batch.column(at), batch.column(at + 1)))
                    at += 2
                    continue
                column = batch.column(at)
                arrays.append(column if column.type == typ else _cast(column, typ))
                at += 1
            yield pa.RecordBatch.from_arrays(arrays, names=names)
    finally:
        cur.close()


def _cast(column: pa.Array, to: pa.DataType) -> pa.Array:
    try:
        return pc.cast(column, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ConnectorError(f"cannot read a {column.type} column as {to}: {str(exc)[:200]}") from None
