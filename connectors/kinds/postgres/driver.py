"""PostgreSQL and Supabase (a Supabase project is PostgreSQL reached by DSN), psycopg 3.

Objects are the tables and views of the configured schema (information_schema). Incremental reads
use keyset paging, in two passes per read:

1. rows whose updated-at column is NULL, by primary key after `null_pk` (the highest key of a NULL
   row read so far): a first sync reads them all, a later one the NULL rows inserted since;
2. the other rows by (updated-at, primary key) after (`value`, `pk`).

Cursor `{"phase": "null" | "value", "null_pk": [...], "value": "<updated_at>", "pk": [...]}` (keys
appear once known). A table without an updated-at column is read by primary key alone (`{"phase":
"pk", "pk": [...]}`: new rows of append-only tables); one without a primary key is read whole each
time (cursor None). What incremental reads still cannot see: a NULL-updated row inserted with a key
below `null_pk` (random keys such as UUIDs), and a row whose updated-at is set back to NULL or to an
earlier time. Such tables need a full sync (cursor None) now and then.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from ...base import DEFAULT_PAGE_SIZE, CheckResult, Driver, Page, SourceObject
from ...errors import ConnectorError, ObjectNotFound, PermanentError, TransientError
from ...netguard import pinned_hostaddrs
from ...typeinfer import jsonable
from ..saas import fields_with_samples
from . import adbc, keys
from .columnar import empty_table, pages_of, select_list, stream_tables, translate_errors

TYPES = {
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "numeric": "number",
    "real": "number",
    "double precision": "number",
    "money": "number",
    "boolean": "boolean",
    "date": "date",
    "timestamp without time zone": "datetime",
    "timestamp with time zone": "datetime",
    "json": "json",
    "jsonb": "json",
    "ARRAY": "json",
}
_PERMANENT_HINTS = (
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
    "SSL",
    "authentication",
    "invalid",
    "too many connections for role",
)
SAMPLE_ROWS = 50
# Rows one COPY reads at most (one sort on the server; it is read in pages as it arrives). Small
# enough that a COPY held open while ingestion applies back-pressure ends well within the 300 s
# statement timeout (500,000 rows at 2,000 records/s, a third of the slowest sync measured on a
# loaded machine); large enough that a table without an index on its cursor is sorted twice per
# million rows (each chunk's sort reads the rest of the table: 200,000 rows a chunk cost the server
# 3.1-3.6 CPU-s per million rows read, one chunk 1.7-2.1 s; ADR 0018 addendum).
COPY_CHUNK_ROWS = 500_000



def _cursor_advance(state: dict, phase: str, last: dict, pk: list[str], column: str | None) -> None:
    """Move a keyset cursor past `last`, the page's last row: its key (in the NULL phase, the key
    among rows without a cursor value), and in the value phase its cursor value too."""
    if phase == "null":
        state["null_pk"] = [last[p] for p in pk]
    else:
        state["pk"] = [last[p] for p in pk]
        if phase == "value":
            state["value"] = last[column]

class PostgresDriver(Driver):
    kind = "postgres"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._conn: psycopg.Connection | None = None
        self._adbc = None  # ADBC's connection for reads (adbc.py), opened at the first read
        self._tables: dict[str, dict] | None = None

    # -- connection -------------------------------------------------------------------------------

    def _conninfo(self) -> dict[str, Any]:
        cfg, sec = self.config, self.secrets
        if sec.dsn:
            info = conninfo_to_dict(sec.dsn)
        else:
            info = {"host": cfg.host, "port": cfg.port, "dbname": cfg.database, "user": cfg.user}
            if sec.password:
                info["password"] = sec.password
        info.setdefault("sslmode", cfg.sslmode)
        info["connect_timeout"] = cfg.connect_timeout
        info["application_name"] = "autonomos-connector"
        return {k: v for k, v in info.items() if v not in (None, "")}

    def _pinned_conninfo(self) -> dict[str, Any]:
        """`_conninfo` with each host pinned to the addresses netguard checked (both libpqs use it)."""
        info = self._conninfo()
        host = str(info.get("host") or "")
        if not host or host.startswith("/"):
            raise PermanentError("a host name is required (local sockets are not allowed)")
        first_port = str(info.get("port") or "").split(",")[0].strip()  # "a,b" hosts may give ports ","
        port = int(first_port) if first_port.isdigit() else 5432
        # A given hostaddr is where libpq connects: check that; else pin each host to a checked address
        # so libpq cannot resolve the name again to something else (DNS rebinding).
        given = [a.strip() for a in str(info.get("hostaddr") or "").split(",") if a.strip()]
        pinned = pinned_hostaddrs(given or [h.strip() for h in host.split(",")], port)
        if pinned is not None:
            info["hostaddr"] = ",".join(pinned)
        return info

    def _connection(self) -> psycopg.Connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        info = self._pinned_conninfo()
        try:
            conn = psycopg.connect(**info, autocommit=True)
        except psycopg.OperationalError as exc:
            message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            if any(hint.lower() in message.lower() for hint in _PERMANENT_HINTS):
                raise PermanentError(f"cannot connect: {message}") from None
            raise TransientError(f"cannot connect: {message}") from None
        # A connector only reads: make that true at the session level too.
        conn.execute("SET default_transaction_read_only = on")
        conn.execute("SET statement_timeout = '300s'")
        # Dates and times as ISO text, in UTC, whatever the server's defaults (columnar.py relies on it).
        conn.execute("SET DateStyle = 'ISO, YMD'")
        conn.execute("SET TimeZone = 'UTC'")
        self._conn = conn
        return conn

    def _adbc_connection(self):
        """ADBC's connection: the same parameters and session settings as `_connection` (adbc.py)."""
        if self._adbc is None:
            self._adbc = adbc.connect(self._pinned_conninfo(), _PERMANENT_HINTS)
        return self._adbc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._adbc is not None:
            self._adbc.close()
            self._adbc = None

    def _run(self, query, params=None) -> list[tuple]:
        try:
            return self._connection().execute(query, params).fetchall()
        except psycopg.errors.InsufficientPrivilege as exc:
            raise PermanentError(f"permission denied: {exc.diag.message_primary}") from None
        except psycopg.OperationalError as exc:
            raise TransientError(f"database error: {str(exc).strip()[:300]}") from None
        except psycopg.Error as exc:
            raise ConnectorError(f"query failed: {(exc.diag.message_primary or str(exc))[:300]}") from None

    # -- metadata ---------------------------------------------------------------------------------

    def tables(self) -> dict[str, dict]:
        """Table name → {"columns": [(name, type, nullable)], "pk": [...], "cursor": column | None}."""
        if self._tables is not None:
            return self._tables
        schema = self.config.schema_name
        rows = self._run(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type IN ('BASE TABLE', 'VIEW') ORDER BY table_name",
            [schema],
        )
        names = [r[0] for r in rows]
        if self.config.tables is not None:
            names = [n for n in names if n in set(self.config.tables)]
        columns = self._run(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = %s ORDER BY table_name, ordinal_position",
            [schema],
        )
        pks = self._run(
            "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
            "AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name "
            "WHERE tc.table_schema = %s AND tc.constraint_type = 'PRIMARY KEY' "
            "ORDER BY tc.table_name, kcu.ordinal_position",
            [schema],
        )
        tables: dict[str, dict] = {n: {"columns": [], "pk": [], "pg_types": {}} for n in names}
        for table, column, data_type, nullable in columns:
            if table in tables:
                tables[table]["columns"].append((column, TYPES.get(data_type, "string"), nullable == "YES"))
                tables[table]["pg_types"][column] = data_type
        for table, column in pks:
            if table in tables:
                tables[table]["pk"].append(column)
        for table, meta in tables.items():
            wanted = self.config.cursor_columns.get(table, self.config.updated_at_column)
            meta["cursor"] = wanted if any(c[0] == wanted for c in meta["columns"]) else None
        self._tables = tables
        return tables

    def _table(self, name: str) -> dict:
        meta = self.tables().get(name)
        if meta is None:
            raise ObjectNotFound(f"no table {name!r} in schema {self.config.schema_name!r}")
        return meta

    def _ident(self, table: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.config.schema_name), sql.Identifier(table))

    # -- interface --------------------------------------------------------------------------------

    def check(self) -> CheckResult:
        version = self._run("SHOW server_version")[0][0]
        return CheckResult(
            True,
            f"connected (PostgreSQL {version}); {len(self.tables())} table(s) in schema {self.config.schema_name!r}",
        )

    def discover(self) -> list[SourceObject]:
        objects = []
        for name, meta in self.tables().items():
            cols = [c[0] for c in meta["columns"]]
            query = sql.SQL("SELECT {} FROM {} LIMIT %s").format(
                sql.SQL(", ").join(map(sql.Identifier, cols)), self._ident(name)
            )
            records = [dict(zip(cols, map(jsonable, row), strict=True)) for row in self._run(query, [SAMPLE_ROWS])]
            estimate = self._run(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [f'"{self.config.schema_name}"."{name}"'],
            )
            row_count = estimate[0][0] if estimate and estimate[0][0] is not None and estimate[0][0] >= 0 else None
            if row_count is None or row_count == 0:
                count_query = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 1000000) t").format(
                    self._ident(name)
                )
                row_count = self._run(count_query)[0][0]
            objects.append(
                SourceObject(
                    name=name,
                    fields=fields_with_samples(meta["columns"], records, primary_key=",".join(meta["pk"]) or None),
                    primary_key=",".join(meta["pk"]) or None,
                    cursor_field=meta["cursor"],
                    row_count=row_count,
                )
            )
        return objects

    @staticmethod
    def _start_state(cursor: dict | None, column: str | None) -> dict[str, Any]:
        """Where a read starts. Every read with an updated-at column passes twice: NULL rows after
        `null_pk` by primary key, then non-NULL rows after (`value`, `pk`)."""
        cursor = dict(cursor or {})
        if column is None:
            # A cursor of the by-value phases (the column was configured before) says nothing about
            # primary keys in general: start over rather than skip rows.
            return (
                {"phase": "pk", "pk": cursor["pk"]}
                if cursor.get("phase") == "pk" and cursor.get("pk")
                else {"phase": "pk"}
            )
        if cursor.get("phase") not in ("null", "value"):
            return {"phase": "null"}
        state: dict[str, Any] = {"phase": "null"}
        if cursor.get("null_pk") is not None:
            state["null_pk"] = cursor["null_pk"]
        elif cursor["phase"] == "null" and cursor.get("pk") is not None and "value" not in cursor:
            state["null_pk"] = cursor["pk"]  # a cursor written before `null_pk` existed, mid-NULL pass
        if cursor.get("value") is not None and cursor.get("pk") is not None:
            state["value"], state["pk"] = cursor["value"], cursor["pk"]
        return state

    def read(self, object_name: str, cursor: dict | None = None, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Page]:
        """Pages of Arrow tables (`Page.table`), read through ADBC (adbc.py: binary COPY decoded in C)."""
        return self._read(object_name, cursor, page_size, how="adbc")

    def read_copy_csv(
        self, object_name: str, cursor: dict | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[Page]:
        """The same pages through psycopg's `COPY … (FORMAT csv)` parsed by pyarrow (columnar.py), the
        read path before ADBC, kept for `bench_pg_read` and the equivalence tests."""
        return self._read(object_name, cursor, page_size, how="csv")

    def read_rows(
        self, object_name: str, cursor: dict | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[Page]:
        """The former row path (a dict per row), kept for `bench_pg_read` and the equivalence tests."""
        return self._read(object_name, cursor, page_size, how="rows")

    def _read(self, object_name: str, cursor: dict | None, page_size: int, *, how: str) -> Iterator[Page]:
        meta = self._table(object_name)
        cols = [c[0] for c in meta["columns"]]
        pk, column = meta["pk"], meta["cursor"]
        columnar = how != "rows"
        if columnar:
            columns = (adbc.select_list if how == "adbc" else select_list)(cols, meta["pg_types"])
            select = sql.SQL("SELECT {} FROM {}").format(columns, self._ident(object_name))
        else:
            select = sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(map(sql.Identifier, cols)), self._ident(object_name)
            )
        if not pk:  # no stable order to page by: read the whole table in one pass
            if columnar:
                yield from self._full_columnar(select, cols, meta["pg_types"], page_size, how)
            else:
                yield from self._full(select, cols, page_size)
            return
        pk_ids = [sql.Identifier(p) for p in pk]
        pk_list = sql.SQL(", ").join(pk_ids)
        col = sql.Identifier(column) if column else None
        state = self._start_state(cursor, column)

        def values(items: list) -> sql.Composable:
            # COPY takes no parameters: cursor values travel as quoted literals (psycopg escapes them).
            if columnar:
                return sql.SQL(", ").join(sql.Literal(v) for v in items)
            params.extend(items)
            return sql.SQL(", ").join(sql.Placeholder() * len(items))

        while True:
            phase = state["phase"]
            where: list[sql.Composable] = []
            params: list[Any] = []
            if phase == "null":
                where.append(sql.SQL("{} IS NULL").format(col))
                order = pk_list
                if state.get("null_pk") is not None:
                    where.append(sql.SQL("({}) > ({})").format(pk_list, values(list(state["null_pk"]))))
            elif phase == "value":
                order = sql.SQL(", ").join([col, *pk_ids])
                where.append(sql.SQL("{} IS NOT NULL").format(col))
                if state.get("pk") is not None and state.get("value") is not None:
                    where.append(
                        sql.SQL("({}, {}) > ({})").format(col, pk_list, values([state["value"], *state["pk"]]))
                    )
            else:  # "pk": no updated-at column, new rows by primary key
                order = pk_list
                if state.get("pk"):
                    where.append(sql.SQL("({}) > ({})").format(pk_list, values(list(state["pk"]))))
            query = select
            if where:
                query = sql.SQL("{} WHERE {}").format(query, sql.SQL(" AND ").join(where))
            if columnar:
                # One COPY for up to `chunk` rows (one sort on the server), read as it arrives in pages
                # of `page_size`, each with the cursor of its last row.
                chunk = max(1, COPY_CHUNK_ROWS // page_size) * page_size  # whole pages: as the row path cut them
                query = sql.SQL("{} ORDER BY {} LIMIT {}").format(query, order, sql.Literal(chunk))
                count = 0
                for table in self._copy_pages(query, cols, meta["pg_types"], page_size, how):
                    count += table.num_rows
                    last = {name: table[name][table.num_rows - 1].as_py() for name in {*pk, column} - {None}}
                    _cursor_advance(state, phase, last, pk, column)
                    yield Page(records=[], table=table, cursor=dict(state))
                if count < chunk:
                    if phase == "null":
                        state["phase"] = "value"
                        continue
                    if not count and cursor is None:  # an empty table still gets its first cursor
                        yield Page(records=[], table=empty_table(cols, meta["pg_types"]), cursor=dict(state))
                    return
                continue
            # the row path: one query per page
            query = sql.SQL("{} ORDER BY {} LIMIT %s").format(query, order)
            rows = self._run(query, [*params, page_size])
            records = [dict(zip(cols, map(jsonable, row), strict=True)) for row in rows]
            count = len(records)
            last = records[-1] if records else {}
            page = Page(records=records, cursor=None)
            if count:
                _cursor_advance(state, phase, last, pk, column)
                page.cursor = dict(state)
                yield page
            if count < page_size:
                if phase == "null":
                    state["phase"] = "value"  # NULLs done; now rows by their updated-at value
                    continue
                if not count and cursor is None:
                    yield Page(records=[], cursor=dict(state))
                return

    def _copy_pages(self, query: sql.Composable, cols: list[str], pg_types: dict[str, str], page_size: int,
                    how: str = "adbc"):
        """The query's rows as Arrow tables of `page_size` rows, read as the data arrives: through ADBC
        (a binary COPY decoded in C), or `COPY (query) TO STDOUT (FORMAT csv)` parsed by pyarrow."""
        if how == "adbc":
            with translate_errors():  # composing the literals needs psycopg's connection (its encoding)
                text = query.as_string(self._connection())
            batches = adbc.batches(self._adbc_connection(), text, cols, pg_types)
            yield from pages_of(batches, cols, adbc.finished_types(pg_types), page_size)
            return
        copy = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(query)
        with translate_errors():
            conn = self._connection()
            with conn.cursor() as cur, cur.copy(copy) as stream:
                yield from stream_tables(stream, cols, pg_types, page_size)

    def _full_columnar(self, select, cols, pg_types, page_size, how: str = "adbc") -> Iterator[Page]:
        """A table without a primary key: one query, read as it arrives, in pages (cursor None)."""
        for table in self._copy_pages(select, cols, pg_types, page_size, how):
            yield Page(records=[], table=table, cursor=None)

    # -- deletes: primary keys compared by range (keys.py, docs/adr/0019-deletes.md) ---------------

    def deletes_mode(self, object_name: str) -> str:
        # A table that vanished is "key_ranges" too: its keys are all gone (and the guard asks first).
        meta = self.tables().get(object_name)
        return "none" if meta is not None and not meta["pk"] else "key_ranges"

    def key_scheme(self, object_name: str) -> str:
        """"int" for a single integer primary key (no hashing: a plain aggregate), else "md5"."""
        meta = self.tables().get(object_name)
        if meta is None or len(meta["pk"]) != 1:
            return "md5"
        types = {name: kind for name, kind, _ in meta["columns"]}
        return "int" if types.get(meta["pk"][0]) == "integer" else "md5"

    def key_digests(self, object_name: str, buckets: int) -> dict[int, tuple[int, ...]]:
        return keys.key_digests(self._connection(), self._ident(object_name), self._table(object_name)["pk"], buckets,
                                self.key_scheme(object_name))

    def keys_in_ranges(self, object_name: str, buckets: int, ranges: list[int]) -> Iterator[str]:
        return keys.keys_in_ranges(self._connection(), self._ident(object_name), self._table(object_name)["pk"],
                                   buckets, ranges, self.key_scheme(object_name))

    def _full(self, select, cols, page_size) -> Iterator[Page]:
        try:
            conn = self._connection()
            with conn.transaction(), conn.cursor(name="autonomos_full_read") as cur:
                cur.execute(select)
                while rows := cur.fetchmany(page_size):
                    yield Page(records=[dict(zip(cols, map(jsonable, r), strict=True)) for r in rows], cursor=None)
        except psycopg.Error as exc:
            raise ConnectorError(f"query failed: {str(exc).strip()[:300]}") from None
