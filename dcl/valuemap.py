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


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _canonical_cast(kind: Kind, expr: str) -> str:
    if kind is Kind.DECIMAL:
        return f"TRY_CAST({expr} AS {_DECIMAL})"
    if kind is Kind.INTEGER:
        return f"TRY_CAST({expr} AS BIGINT)"
    return expr


_NULL_TYPES = {Kind.DECIMAL: _DECIMAL, Kind.INTEGER: "BIGINT", Kind.BOOLEAN: "BOOLEAN", Kind.DATE: "DATE",
               Kind.DATETIME: "TIMESTAMPTZ"}


def _null(kind: Kind) -> str:
    return f"NULL::{_NULL_TYPES.get(kind, 'VARCHAR')}"


class ValueSql:
    """The SQL of an entity's value columns over its source table (alias `s`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, entity: str, values: dict[str, ValueField],
                 available: dict[str, str]) -> None:
        from aam.ontology import get_ontology

        self.entity = entity
        self.values = values
        self.available = available
        ontology = get_ontology()
        self.currency_fields = {
            name for name in values
            if (vs := ontology.value_set(entity, name)) is not None and vs.kind == "iso4217"
        }
        self.free = {
            (cid, obj, field)
            for cid, obj, field in con.execute(
                f"SELECT connection_id, source_object, field FROM {FREE_TEXT_TABLE} WHERE entity = ?", [entity]
            ).fetchall()
        }
        self.fallback = {
            (cid, obj, field)
            for cid, obj, field in con.execute(
                f"SELECT connection_id, source_object, field FROM {FALLBACK_TABLE} WHERE entity = ?", [entity]
            ).fetchall()
        }

    def _raw(self, vf: ValueField) -> str | None:
        """The source column (an expression of it) a value field's values are read from: its own, or
        its fallback field's for the sources that map none onto it; None when neither is there."""
        own = f"s.{store.quote(vf.reads)}" if vf.reads in self.available else None
        if vf.fallback is None or vf.fallback not in self.available:
            return own
        other = f"s.{store.quote(vf.fallback)}"
        if own is None:
            return other
        sources = self._sources_sql(self.fallback, vf.name)
        return own if sources == "false" else f"(CASE WHEN {sources} THEN {other} ELSE {own} END)"

    def joins(self) -> str:
        out = []
        if self.currency_fields:
            out.append(f"LEFT JOIN {CURRENCY_TABLE} ccy ON ccy.connection_id = s._connection_id")
        for i, vf in enumerate(self.values.values()):
            raw = self._raw(vf)
            if raw is None:
                continue
            out.append(
                f"LEFT JOIN {VALUE_MAP_TABLE} vm{i} ON vm{i}.connection_id = s._connection_id "
                f"AND vm{i}.source_object = s._source_object AND vm{i}.entity = {_lit(self.entity)} "
                f"AND vm{i}.field = {_lit(vf.name)} AND vm{i}.raw_key = CAST({raw} AS VARCHAR)"
            )
        return " ".join(out)

    @staticmethod
    def _sources_sql(sources: set[tuple], field: str) -> str:
        cases = [
            f"(s._connection_id = {int(cid)} AND s._source_object = {_lit(obj)})"
            for cid, obj, f in sorted(sources) if f == field
        ]
        return " OR ".join(cases) if cases else "false"

    def _free_sql(self, field: str) -> str:
        return self._sources_sql(self.free, field)

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
        """Column name → SQL expression per source row: F, F_source, F_status and _vk_F of every value field."""
        out: dict[str, str] = {}
        for i, vf in enumerate(self.values.values()):
            raw = self._raw(vf)
            if raw is None:
                value, source, status, key = _null(vf.kind), "NULL::VARCHAR", "NULL::VARCHAR", "NULL::VARCHAR"
            else:
                text = f"CAST({raw} AS VARCHAR)"
                canonical = _canonical_cast(vf.kind, f"vm{i}.canonical")
                value = f"(CASE WHEN vm{i}.status = '{STATUS_MAPPED}' THEN {canonical} END)"
                source = f"(CASE WHEN {raw} IS NOT NULL THEN coalesce(vm{i}.label, {text}) END)"
                status = (
                    f"(CASE WHEN {raw} IS NULL THEN NULL WHEN vm{i}.status IS NOT NULL THEN vm{i}.status "
                    f"WHEN {self._free_sql(vf.name)} THEN '{STATUS_FREE_TEXT}' ELSE '{STATUS_PENDING}' END)"
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
    "ValueSql",
    "ensure_tables",
    "value_fields_of",
    "value_key",
    "write_tables",
]
