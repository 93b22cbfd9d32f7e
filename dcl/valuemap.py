"""Canonical values in the views (docs/adr/0014-canonical-values.md).

The tenant's value maps (aam.models.ValueMap: one row per distinct source value, never per record)
are written into DuckDB as the small table `_dcl_value_map`; each view joins it (a hash join: a
few thousand rows beside a million records) and holds, per value-mapped field F:

- `F`: the canonical value when the value is mapped (auto or by a person), else NULL;
- `F_source`: the source's own value, decoded into the vendor's label (Dynamics 9 → "Consulting");
- `F_status`: `mapped`, `pending` (awaiting review: F is NULL, never a guess or the raw code),
  `none` (no canonical value applies: a placeholder), `free_text` (the column is not a picklist),
  `default` (a currency field of a record without one: the connection's currency, Connection.currency),
  NULL when the record has no value;
- `_vk_F` (DuckDB only, not published): connection, object and raw key of the value F came from,
  so an approval updates exactly the rows that carry that value.

Derived fields (an opportunity's status and stage_category) read the stage column's value maps for
their own field, and the record's is_won / is_closed win where the record has them. A field with a
`fallback` (a cost line's service_category) reads the fallback field's column for the sources that
map no column onto it (`_dcl_value_fallback` lists them): AmazonEC2 in service_name → Compute.

The per-record views (opportunity, cost) compute the same columns in PostgreSQL when they are read
(`PgDialect`): the four tables have mirrors in the tenant's schema (`pg_write_tables`, written with
DuckDB's; `pg_map_update` for a person's decision) and `dcl_view_<entity>` joins them over a data table
holding each value field's raw text. `ValueSql` renders both engines' SQL from one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from aam.ingest.kinds import Kind

from . import store

VALUE_MAP_TABLE = "_dcl_value_map"
FREE_TEXT_TABLE = "_dcl_value_free"
# Each connection's currency of amounts that carry none (Connection.currency): a currency field of a
# record without one takes it, with the status `default`.
CURRENCY_TABLE = "_dcl_connection_currency"
# (connection, object, entity, field) of the value fields read from their fallback field's column
FALLBACK_TABLE = "_dcl_value_fallback"
SEP = "chr(31)"  # between connection, object and raw key in `_vk_F` (a unit separator: not in names)
_DECIMAL = "DECIMAL(38, 10)"

STATUS_MAPPED, STATUS_PENDING, STATUS_NONE, STATUS_FREE_TEXT = "mapped", "pending", "none", "free_text"
STATUS_DEFAULT = "default"  # no value in the record: the connection's currency
# Fields whose value the record's own outcome flags decide where it has them.
OUTCOME_FIELDS = {("opportunity", "status"), ("opportunity", "stage_category")}


@dataclass(frozen=True)
class ValueField:
    """A view field with a canonical value set: its canonical kind and the source-table column its
    values are read from (`reads`: itself, or the field a derived field derives from)."""

    name: str
    reads: str
    kind: Kind
    derived: bool = False
    # where the source's own value (decoded into the vendor's label) goes: F_source for a mapped field;
    # for derived fields, `<reads>_source` once (stage_source beside stage), None for the others
    source_column: str | None = None
    # the field whose column is read for the sources that map none onto this one (ontology `fallback`)
    fallback: str | None = None

    @property
    def status_column(self) -> str:
        return f"{self.name}_status"

    @property
    def key_column(self) -> str:
        return f"_vk_{self.name}"


def value_fields_of(entity: str, present: dict[str, Kind]) -> dict[str, ValueField]:
    """The value fields of `entity` among `present` (mapped ones), then its derived fields."""
    from aam.ontology import get_ontology

    ontology = get_ontology()
    if entity not in ontology.entities:
        return {}
    ent = ontology.entities[entity]
    out: dict[str, ValueField] = {}
    for f in ent.value_fields():
        if f.derived_from is None and f.name in present:
            out[f.name] = ValueField(f.name, f.name, present[f.name], source_column=f"{f.name}_source",
                                     fallback=f.fallback if f.fallback in present else None)
    labelled = {vf.name for vf in out.values()}
    for f in ent.derived.values():
        if f.value_set is not None and f.derived_from in present:
            from aam.ingest.kinds import kind_for

            source = None if f.derived_from in labelled else f"{f.derived_from}_source"
            labelled.add(f.derived_from)
            out[f.name] = ValueField(f.name, f.derived_from, kind_for(f.type), derived=True, source_column=source)
    return out


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""
        CREATE TABLE IF NOT EXISTS {VALUE_MAP_TABLE} (
            connection_id BIGINT, source_object VARCHAR, entity VARCHAR, field VARCHAR, raw_key VARCHAR,
            canonical VARCHAR, label VARCHAR, status VARCHAR)""")
    con.execute(f"""
        CREATE TABLE IF NOT EXISTS {FREE_TEXT_TABLE} (
            connection_id BIGINT, source_object VARCHAR, entity VARCHAR, field VARCHAR)""")
    con.execute(f"CREATE TABLE IF NOT EXISTS {CURRENCY_TABLE} (connection_id BIGINT, currency VARCHAR)")
    con.execute(f"""
        CREATE TABLE IF NOT EXISTS {FALLBACK_TABLE} (
            connection_id BIGINT, source_object VARCHAR, entity VARCHAR, field VARCHAR)""")


def write_tables(con: duckdb.DuckDBPyConnection, value_maps: list[tuple], free_text: list[tuple],
                 currencies: dict[int, str] | None = None, fallbacks: list[tuple] | None = None) -> None:
    """Replace the value-map tables with the tenant's current ones (in one transaction);
    `currencies`: {connection: its currency of amounts that carry none}; `fallbacks`: (connection,
    object, entity, field) of the fields read from their fallback field's column."""
    names = ["connection_id", "source_object", "entity", "field", "raw_key", "canonical", "label", "status"]
    cols = list(zip(*value_maps, strict=True)) if value_maps else [[] for _ in names]
    maps = pa.table({
        n: pa.array(list(c), pa.int64() if n == "connection_id" else pa.string())
        for n, c in zip(names, cols, strict=True)
    })
    free_names = ["connection_id", "source_object", "entity", "field"]
    fcols = list(zip(*free_text, strict=True)) if free_text else [[] for _ in free_names]
    free = pa.table({
        n: pa.array(list(c), pa.int64() if n == "connection_id" else pa.string())
        for n, c in zip(free_names, fcols, strict=True)
    })
    ensure_tables(con)
    con.execute("BEGIN")
    try:
        con.register("_vm_in", maps)
        con.register("_vf_in", free)
        con.execute(f"DELETE FROM {VALUE_MAP_TABLE}")
        con.execute(f"INSERT INTO {VALUE_MAP_TABLE} SELECT {', '.join(names)} FROM _vm_in")
        con.execute(f"DELETE FROM {FREE_TEXT_TABLE}")
        con.execute(f"INSERT INTO {FREE_TEXT_TABLE} SELECT {', '.join(free_names)} FROM _vf_in")
        con.execute(f"DELETE FROM {CURRENCY_TABLE}")
        if currencies:
            con.executemany(f"INSERT INTO {CURRENCY_TABLE} VALUES (?, ?)",
                            [[int(c), str(v)] for c, v in sorted(currencies.items()) if v])
        con.execute(f"DELETE FROM {FALLBACK_TABLE}")
        if fallbacks:
            con.executemany(f"INSERT INTO {FALLBACK_TABLE} VALUES (?, ?, ?, ?)",
                            [[int(c), str(o), str(e), str(f)] for c, o, e, f in fallbacks])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_vm_in")
        con.unregister("_vf_in")


def _pg_table(schema: str, name: str) -> str:
    return f"{store.quote(schema)}.{store.quote(name)}"


def pg_ensure_tables(cur, schema: str) -> None:
    """The PostgreSQL mirrors of the value-map tables in the tenant's schema (the per-record views join
    them at read time); the value map's key is unique, so a page read looks each value up by index."""
    cur.execute(f"""
        CREATE TABLE IF NOT EXISTS {_pg_table(schema, VALUE_MAP_TABLE)} (
            connection_id bigint NOT NULL, source_object text NOT NULL, entity text NOT NULL, field text NOT NULL,
            raw_key text NOT NULL, canonical text, label text, status text)""")
    cur.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {store.quote(VALUE_MAP_TABLE + '_key')} ON "
                f"{_pg_table(schema, VALUE_MAP_TABLE)} (connection_id, source_object, entity, field, raw_key)")
    for name in (FREE_TEXT_TABLE, FALLBACK_TABLE):
        cur.execute(f"""
            CREATE TABLE IF NOT EXISTS {_pg_table(schema, name)} (
                connection_id bigint NOT NULL, source_object text NOT NULL, entity text NOT NULL,
                field text NOT NULL)""")
    cur.execute(f"""
        CREATE TABLE IF NOT EXISTS {_pg_table(schema, CURRENCY_TABLE)} (
            connection_id bigint PRIMARY KEY, currency text NOT NULL)""")


_PG_MAP_INSERT = (
    "INSERT INTO {table} (connection_id, source_object, entity, field, raw_key, canonical, label, status) "
    "SELECT c, o, e, f, {key}, v, l, t FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::text[], %s::text[], %s::text[]) AS u(c, o, e, f, k, v, l, t)"
)


def _pg_map_rows(cur, schema: str, value_maps: list[tuple], *, upsert: bool) -> None:
    if not value_maps:
        return
    statement = _PG_MAP_INSERT.format(table=_pg_table(schema, VALUE_MAP_TABLE), key=pg_key_sql("k"))
    if upsert:
        statement += (" ON CONFLICT (connection_id, source_object, entity, field, raw_key) "
                      "DO UPDATE SET canonical = excluded.canonical, status = excluded.status")
    columns = [list(c) for c in zip(*value_maps, strict=True)]
    columns[0] = [int(c) for c in columns[0]]
    cur.execute(statement, columns)


def pg_write_tables(schema: str, value_maps: list[tuple], free_text: list[tuple],
                    currencies: dict[int, str] | None = None, fallbacks: list[tuple] | None = None) -> None:
    """`write_tables` into the PostgreSQL mirrors of the tenant's schema, replaced in one transaction."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        pg_ensure_tables(cur, schema)
        for name in (VALUE_MAP_TABLE, FREE_TEXT_TABLE, FALLBACK_TABLE, CURRENCY_TABLE):
            cur.execute(f"DELETE FROM {_pg_table(schema, name)}")
        _pg_map_rows(cur, schema, value_maps, upsert=False)
        for name, rows in ((FREE_TEXT_TABLE, free_text), (FALLBACK_TABLE, fallbacks or [])):
            if rows:
                cols = [list(c) for c in zip(*rows, strict=True)]
                cur.execute(f"INSERT INTO {_pg_table(schema, name)} (connection_id, source_object, entity, field) "
                            "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[])", cols)
        pairs = [(int(c), str(v)) for c, v in sorted((currencies or {}).items()) if v]
        if pairs:
            cur.execute(f"INSERT INTO {_pg_table(schema, CURRENCY_TABLE)} (connection_id, currency) "
                        "SELECT * FROM unnest(%s::bigint[], %s::text[])", [list(c) for c in zip(*pairs, strict=True)])
        for name in (VALUE_MAP_TABLE, FREE_TEXT_TABLE, FALLBACK_TABLE, CURRENCY_TABLE):
            cur.execute(f"ANALYZE {_pg_table(schema, name)}")


def pg_map_update(cur, schema: str, value_maps: list[tuple]) -> None:
    """A person's decisions into the PostgreSQL value-map mirror (in the caller's transaction): rows of
    (connection, object, entity, field, raw key, canonical, label, status), inserted or their canonical
    value and status updated."""
    pg_ensure_tables(cur, schema)
    _pg_map_rows(cur, schema, value_maps, upsert=True)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _canonical_cast(kind: Kind, expr: str) -> str:
    """DuckDB: the canonical text as the field's kind (NULL when it is not one)."""
    if kind is Kind.DECIMAL:
        return f"TRY_CAST({expr} AS {_DECIMAL})"
    if kind is Kind.INTEGER:
        return f"TRY_CAST({expr} AS BIGINT)"
    return expr


_NULL_TYPES = {Kind.DECIMAL: _DECIMAL, Kind.INTEGER: "BIGINT", Kind.BOOLEAN: "BOOLEAN", Kind.DATE: "DATE",
               Kind.DATETIME: "TIMESTAMPTZ"}


def _null(kind: Kind) -> str:
    return f"NULL::{_NULL_TYPES.get(kind, 'VARCHAR')}"


# PostgreSQL has no TRY_CAST: a canonical number is cast only when it is spelled as one (the value engine
# validated it; the guard keeps a bad map from failing every read of the view). DECIMAL(38, 10) as DuckDB's:
# at most 28 integer digits, rounded to 10 places.
_PG_DECIMAL_RE = r"^\s*[-+]?([0-9]{1,28}(\.[0-9]*)?|\.[0-9]+)\s*$"
_PG_INTEGER_RE = r"^\s*[-+]?[0-9]{1,18}\s*$"
_PG_NULL_TYPES = {Kind.DECIMAL: "numeric", Kind.INTEGER: "bigint", Kind.BOOLEAN: "boolean", Kind.DATE: "date",
                  Kind.DATETIME: "timestamptz", Kind.JSON: "jsonb"}
# A raw key longer than this (in UTF-8 bytes) is kept in PostgreSQL's value-map mirror as its md5 behind a
# unit separator: a btree entry holds at most ~2.7 KB, and picklist values are short.
PG_KEY_BYTES = 1000


def pg_key_sql(text: str) -> str:
    """PostgreSQL: the mirror's `raw_key` of a raw value's text (the text itself, or the md5 of a long one)."""
    return f"(CASE WHEN octet_length({text}) > {PG_KEY_BYTES} THEN chr(31) || md5({text}) ELSE {text} END)"


class DuckDialect:
    """The value columns over DuckDB's source table `src_<entity>` (alias `s`): the free-text and fallback
    sources are constants of the SQL (read when the view is built), `_vk_F` is computed."""

    connection = "s._connection_id"
    source_object = "s._source_object"
    keys = True

    def __init__(self, con: duckdb.DuckDBPyConnection, entity: str) -> None:
        self.free = self._sources(con, FREE_TEXT_TABLE, entity)
        self.fallback = self._sources(con, FALLBACK_TABLE, entity)

    @staticmethod
    def _sources(con, table: str, entity: str) -> set[tuple]:
        return set(con.execute(f"SELECT connection_id, source_object, field FROM {table} WHERE entity = ?",
                               [entity]).fetchall())

    def table(self, name: str) -> str:
        return name

    def cast(self, kind: Kind, expr: str) -> str:
        return _canonical_cast(kind, expr)

    def null(self, kind: Kind) -> str:
        return _null(kind)

    def map_key(self, text: str) -> str:
        return text

    def text(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def _in(self, sources: set[tuple], field: str) -> str:
        cases = [
            f"({self.connection} = {int(cid)} AND {self.source_object} = {_lit(obj)})"
            for cid, obj, f in sorted(sources) if f == field
        ]
        return " OR ".join(cases) if cases else "false"

    def is_free(self, field: str) -> str:
        return self._in(self.free, field)

    def is_fallback(self, field: str) -> str:
        return self._in(self.fallback, field)

    def source_joins(self, entity: str) -> list[str]:
        return []


class PgDialect:
    """The value columns over a PostgreSQL data table `dcl_vdata_<entity>_<v>` (alias `s`) at read time: the
    value-map mirror tables of the tenant's schema are joined (free-text and fallback sources too, so the
    view follows them without being rebuilt); no `_vk_F`."""

    connection = "s._src_connection_id"
    source_object = "s._src_object"
    keys = False

    def __init__(self, schema: str) -> None:
        self.schema = schema

    def table(self, name: str) -> str:
        return f"{store.quote(self.schema)}.{store.quote(name)}"

    def cast(self, kind: Kind, expr: str) -> str:
        if kind is Kind.DECIMAL:
            return f"(CASE WHEN {expr} ~ '{_PG_DECIMAL_RE}' THEN round(CAST({expr} AS numeric), 10) END)"
        if kind is Kind.INTEGER:
            return f"(CASE WHEN {expr} ~ '{_PG_INTEGER_RE}' THEN CAST({expr} AS bigint) END)"
        return expr

    def null(self, kind: Kind) -> str:
        return f"NULL::{_PG_NULL_TYPES.get(kind, 'text')}"

    def map_key(self, text: str) -> str:
        return pg_key_sql(text)

    def text(self, expr: str) -> str:
        return f"CAST({expr} AS text)"  # text, as the stored columns were (VARCHAR is varchar here)

    def is_free(self, field: str) -> str:
        return f"({_lit(field)} = ANY(vfree.fields))"

    def is_fallback(self, field: str) -> str:
        return f"({_lit(field)} = ANY(vfall.fields))"

    def source_joins(self, entity: str) -> list[str]:
        """One row per (connection, object) with the fields it reads as free text, and from a fallback."""
        return [
            f"LEFT JOIN (SELECT connection_id, source_object, array_agg(field) AS fields FROM {self.table(t)} "
            f"WHERE entity = {_lit(entity)} GROUP BY connection_id, source_object) {alias} "
            f"ON {alias}.connection_id = {self.connection} AND {alias}.source_object = {self.source_object}"
            for t, alias in ((FREE_TEXT_TABLE, "vfree"), (FALLBACK_TABLE, "vfall"))
        ]


class ValueSql:
    """The SQL of an entity's value columns over its rows (alias `s`), for DuckDB (`DuckDialect`: the
    source table) or PostgreSQL (`PgDialect`: a per-record data table holding each value field's raw
    text). `available`: the source table's columns (DuckDB's, in both: the same expressions)."""

    def __init__(self, dialect: DuckDialect | PgDialect, entity: str, values: dict[str, ValueField],
                 available: dict[str, str] | set[str]) -> None:
        from aam.ontology import get_ontology

        self.sql = dialect
        self.entity = entity
        self.values = values
        self.available = available
        ontology = get_ontology()
        self.currency_fields = {
            name for name in values
            if (vs := ontology.value_set(entity, name)) is not None and vs.kind == "iso4217"
        }

    @classmethod
    def duckdb(cls, con: duckdb.DuckDBPyConnection, entity: str, values: dict[str, ValueField],
               available: dict[str, str]) -> ValueSql:
        return cls(DuckDialect(con, entity), entity, values, available)

    def _raw(self, vf: ValueField) -> str | None:
        """The source column (an expression of it) a value field's values are read from: its own, or
        its fallback field's for the sources that map none onto it; None when neither is there."""
        own = f"s.{store.quote(vf.reads)}" if vf.reads in self.available else None
        if vf.fallback is None or vf.fallback not in self.available:
            return own
        other = f"s.{store.quote(vf.fallback)}"
        if own is None:
            return other
        sources = self.sql.is_fallback(vf.name)
        return own if sources == "false" else f"(CASE WHEN {sources} THEN {other} ELSE {own} END)"

    def raw_key_sql(self, vf: ValueField) -> str | None:
        """The value-map key (`raw_key`) of a row's value of `vf`; None when no column holds it."""
        raw = self._raw(vf)
        return None if raw is None else self.sql.map_key(self.sql.text(raw))

    def source_joins(self) -> str:
        """The joins `raw_key_sql` needs."""
        return " ".join(self.sql.source_joins(self.entity))

    def joins(self, only: set[str] | None = None) -> str:
        """The joins the value columns read; `only`: of these fields alone (the currency a reporting
        column needs)."""
        fields = [(i, vf) for i, vf in enumerate(self.values.values()) if only is None or vf.name in only]
        out = []
        if any(vf.name in self.currency_fields for _, vf in fields):
            out.append(f"LEFT JOIN {self.sql.table(CURRENCY_TABLE)} ccy ON ccy.connection_id = {self.sql.connection}")
        if only is None:
            out += self.sql.source_joins(self.entity)
        for i, vf in fields:
            raw = self._raw(vf)
            if raw is None:
                continue
            out.append(
                f"LEFT JOIN {self.sql.table(VALUE_MAP_TABLE)} vm{i} ON vm{i}.connection_id = {self.sql.connection} "
                f"AND vm{i}.source_object = {self.sql.source_object} AND vm{i}.entity = {_lit(self.entity)} "
                f"AND vm{i}.field = {_lit(vf.name)} AND vm{i}.raw_key = {self.sql.map_key(self.sql.text(raw))}"
            )
        return " ".join(out)

    def _outcome(self) -> str | None:
        won = "s.is_won" if "is_won" in self.available else None
        closed = "s.is_closed" if "is_closed" in self.available else None
        if won is None and closed is None:
            return None
        parts = []
        if won:
            parts.append(f"WHEN {won} THEN 'won'")
        if won and closed:
            parts.append(f"WHEN {closed} AND {won} = false THEN 'lost'")
        if closed:
            parts.append(f"WHEN {closed} = false THEN 'open'")
        return f"(CASE {' '.join(parts)} END)"

    def columns(self) -> dict[str, str]:
        """Column name → SQL expression per source row: F, F_source, F_status (and in DuckDB _vk_F) of
        every value field."""
        out: dict[str, str] = {}
        for i, vf in enumerate(self.values.values()):
            raw = self._raw(vf)
            if raw is None:
                none = self.sql.null(Kind.STRING)
                value, source, status, key = self.sql.null(vf.kind), none, none, none
            else:
                text = self.sql.text(raw)
                canonical = self.sql.cast(vf.kind, f"vm{i}.canonical")
                value = f"(CASE WHEN vm{i}.status = '{STATUS_MAPPED}' THEN {canonical} END)"
                source = f"(CASE WHEN {raw} IS NOT NULL THEN coalesce(vm{i}.label, {text}) END)"
                status = (
                    f"(CASE WHEN {raw} IS NULL THEN NULL WHEN vm{i}.status IS NOT NULL THEN vm{i}.status "
                    f"WHEN {self.sql.is_free(vf.name)} THEN '{STATUS_FREE_TEXT}' ELSE '{STATUS_PENDING}' END)"
                )
                key = (f"(CASE WHEN {raw} IS NOT NULL "
                       f"THEN s._connection_id || {SEP} || s._source_object || {SEP} || {text} END)")
            if vf.name in self.currency_fields:
                # a record without a currency: its connection's, said to be a default
                missing = "true" if raw is None else f"{raw} IS NULL"
                value = f"(CASE WHEN {missing} THEN ccy.currency ELSE {value} END)"
                status = (f"(CASE WHEN {missing} AND ccy.currency IS NOT NULL THEN '{STATUS_DEFAULT}' "
                          f"ELSE {status} END)")
            outcome = self._outcome() if (self.entity, vf.name) in OUTCOME_FIELDS else None
            if outcome is not None:
                decided = f"{outcome} IN ('won', 'lost')" if vf.name == "stage_category" else f"{outcome} IS NOT NULL"
                value = f"(CASE WHEN {decided} THEN {outcome} ELSE {value} END)"
                status = f"(CASE WHEN {decided} THEN '{STATUS_MAPPED}' ELSE {status} END)"
            out[vf.name] = value
            if vf.source_column:
                out[vf.source_column] = source
            out[vf.status_column] = status
            if self.sql.keys:
                out[vf.key_column] = key
        return out


def value_key(connection_id: int, source_object: str, raw_key: str) -> str:
    """`_vk_F` of the rows carrying one value (as the SQL above builds it)."""
    return f"{int(connection_id)}\x1f{source_object}\x1f{raw_key}"


def extra_columns(values: dict[str, ValueField]) -> list[str]:
    return [vf.key_column for vf in values.values()]


__all__ = [
    "FALLBACK_TABLE",
    "FREE_TEXT_TABLE",
    "OUTCOME_FIELDS",
    "CURRENCY_TABLE",
    "VALUE_MAP_TABLE",
    "ValueField",
    "DuckDialect",
    "PgDialect",
    "ValueSql",
    "ensure_tables",
    "pg_ensure_tables",
    "pg_key_sql",
    "pg_map_update",
    "pg_write_tables",
    "value_fields_of",
    "value_key",
    "write_tables",
]
