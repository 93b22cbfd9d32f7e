"""Stage 3, values: canonical values of the value-mapped fields, between consume and materialize
(docs/adr/0014-canonical-values.md).

For each connection × value-mapped column (aam.values.selectors.value_columns), the distinct raw
values and their record counts come from DuckDB (one scan of each source table, grouping sets of its
value-mapped columns, never per record); only the values not decided yet go to the engine
(`aam.values.engine.map_column`) with the driver's stored metadata and the tenant's memory; the
decisions are stored (value maps, review items, value drift) and the value maps are written into
DuckDB for the views to join, and into their PostgreSQL mirrors, which the per-record views join when
they are read.

A column with more distinct values than the engine takes (`max_distinct()`, AAM_VALUE_MAX_DISTINCT)
is free text: it is not sent to the engine at all (a 10,000-value "picklist" is not 10,000 review
items) and the field says so.
The writer lock is held only to read the distinct values and to write the value-map tables, not
while the engine (which may call an LLM) thinks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django_tenants.utils import tenant_context

from aam.models import ValueMap
from aam.models.values import raw_hash
from aam.values.engine import map_column, max_distinct
from aam.values.llm_step import tenant_llm
from aam.values.memory import ValueMemoryLookup
from aam.values.selectors import (
    ValueColumn,
    column_metadata,
    connection_currencies,
    fallback_sources,
    value_columns,
)
from aam.values.services import SeenValue, free_text_rows, value_column_free_text, value_column_record, value_map_rows
from aam.values.types import ColumnValues

from .. import store
from ..valuemap import pg_write_tables, write_tables

logger = logging.getLogger(__name__)

_INT_RE = re.compile(r"^-?\d{1,18}$")
_ENGINE_TYPES = {"integer": "integer", "number": "number", "boolean": "boolean"}


def _typed(value: Any, source_type: str) -> Any:
    """The value as the vendor's API gave it, as far as the canonical column kept it: Dynamics option
    sets are integers (stored as text in a string field), percentages numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str) and source_type == "integer" and _INT_RE.match(value.strip()):
        return int(value.strip())
    return value


def _distinct(con, entity: str, columns: list[str], connection_ids=None
              ) -> dict[str, dict[tuple[int, str], list[SeenValue] | int]]:
    """{column: {(connection, object): its distinct values (or their number, when over the engine's
    maximum)}}: one scan of the source table for all `columns` (GROUPING SETS: a group per column's
    value, grouped on the column itself and cast to its text key after grouping: a cast per record
    costs more than the scan; the groups counted per source in the same query)."""
    table = store.source_table(entity)
    cols = [store.quote(store.ident(c)) for c in columns]
    limit = max_distinct()
    only = ""
    if connection_ids is not None:
        only = f"AND _connection_id IN ({', '.join(str(int(c)) for c in connection_ids) or 'NULL'})"
    # which grouping set a group belongs to: the index of the column grouped in it
    which = "CASE " + " ".join(f"WHEN GROUPING({c}) = 0 THEN {i}" for i, c in enumerate(cols)) + " END"
    present = " OR ".join(f"(i = {i} AND {c} IS NOT NULL)" for i, c in enumerate(cols))
    key = "CASE i " + " ".join(f"WHEN {i} THEN CAST({c} AS VARCHAR)" for i, c in enumerate(cols)) + " END"
    nulls = ", ".join("NULL" for _ in cols)
    rows = con.execute(f"""
        WITH g AS (
            SELECT _connection_id AS c, _source_object AS o, {", ".join(cols)}, {which} AS i,
                   count(*) AS n, any_value(_source_id) AS a, max(_source_id) AS b
            FROM {table} WHERE NOT _deleted {only}
            GROUP BY GROUPING SETS ({", ".join(f"(_connection_id, _source_object, {c})" for c in cols)})
        ), w AS (SELECT g.*, count(*) OVER (PARTITION BY i, c, o) AS d FROM g WHERE {present})
        SELECT i, c, o, {key} AS k, {", ".join(cols)}, n, a, b, d FROM w WHERE d <= {int(limit)}
        UNION ALL
        SELECT i, c, o, NULL, {nulls}, NULL, NULL, NULL, max(d) FROM w WHERE d > {int(limit)} GROUP BY i, c, o
        ORDER BY 1, 2, 3, {len(cols) + 5} DESC NULLS LAST, 4""").fetchall()
    out: dict[str, dict[tuple[int, str], list[SeenValue] | int]] = {c: {} for c in columns}
    for row in rows:
        i, cid, obj, key_text = row[:4]
        raw = row[4 + i]
        n, first, last, distinct = row[4 + len(cols):]
        found = out[columns[i]]
        if key_text is None:
            found[(int(cid), obj)] = int(distinct)
            continue
        bucket = found.setdefault((int(cid), obj), [])
        bucket.append(SeenValue(key=key_text, raw=raw, count=int(n),
                                samples=tuple(dict.fromkeys(s for s in (first, last) if s is not None))))
    return out


def _ensure_state(con) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS _dcl_values_txn (connection_id BIGINT PRIMARY KEY, txn BIGINT NOT NULL)")
    con.execute("CREATE TABLE IF NOT EXISTS _dcl_values_written (digest VARCHAR NOT NULL)")


def _changed_connections(con, table: str, wanted: set[int]) -> set[int]:
    """Of `wanted`, the connections with records of `table` written (`_txn`) since their values were last
    scanned: the others' distinct values cannot have changed (docs/adr/0022-incremental-views.md)."""
    if not wanted:
        return set()
    _ensure_state(con)
    ids = ", ".join(str(int(c)) for c in sorted(wanted))
    rows = con.execute(f"""
        SELECT DISTINCT s._connection_id FROM {table} s
        LEFT JOIN _dcl_values_txn v ON v.connection_id = s._connection_id
        WHERE s._connection_id IN ({ids}) AND (v.txn IS NULL OR s._txn > v.txn)""").fetchall()
    return {int(r[0]) for r in rows}


def _undecided(column: ValueColumn, seen: list[SeenValue]) -> list[SeenValue]:
    """The values with no decision yet: new ones, and pending ones no person has decided (memory or
    the vendor's metadata may know them by now)."""
    decided = set(
        ValueMap.objects.filter(connection_id=column.connection_id, source_object=column.source_object,
                                entity=column.entity, field=column.field)
        .exclude(status=ValueMap.Status.PENDING, reviewed_at__isnull=True)
        .values_list("raw_hash", flat=True)
    )
    return [v for v in seen if raw_hash(v.key) not in decided]


def values_map(*, tenant, connection_ids=None, llm=None) -> dict[str, Any]:
    """Run the value stage over the value-mapped columns of `connection_ids` (every connection of the
    tenant when None: the cost follows what changed); returns what it did. The value-map tables the
    views join are always written whole (they are small). `llm`: the tenant's LLM when one is
    configured (the field mapping's switch, LLM_BASE_URL), asked only about values the evidence
    leaves uncertain; pass False for none."""
    if not settings.DCL_CANONICAL_VALUES:
        return {"skipped": "DCL_CANONICAL_VALUES is off", "seconds": 0.0}
    started = time.monotonic()
    if llm is None:
        llm = tenant_llm(tenant)
    report = {"columns": 0, "distinct_values": 0, "asked": 0, "new": 0, "auto": 0, "pending": 0, "none": 0,
              "drift": 0, "review_items": 0, "free_text": 0, "engine_seconds": 0.0}
    with tenant_context(tenant):
        columns = value_columns(connection_ids=connection_ids)
        reads = sorted({(c.entity, c.reads) for c in columns})
        found: dict[tuple[str, str], dict] = {}
        scanned: dict[int, int] = {}  # connection → the consumer transaction its records were scanned at
        if reads:
            with store.WriterLock(tenant):
                con = store.connect(tenant)
                try:
                    tables = store.existing_tables(con)
                    txn = store.txn_last(con)
                    for entity in sorted({e for e, _ in reads}):
                        table = store.source_table(entity)
                        if table not in tables:
                            continue
                        present = store.table_columns(con, table)
                        cols = [col for e, col in reads if e == entity and col in present]
                        wanted = {c.connection_id for c in columns if c.entity == entity}
                        changed = _changed_connections(con, table, wanted)
                        report["unchanged_connections"] = report.get("unchanged_connections", 0) + len(
                            wanted - changed)
                        if cols and changed:
                            for col, seen in _distinct(con, entity, cols, sorted(changed)).items():
                                found[(entity, col)] = seen
                        scanned.update(dict.fromkeys(changed, txn))
                finally:
                    con.close()
        memory = ValueMemoryLookup()
        metadata_cache: dict[tuple[int, str], dict] = {}
        for column in columns:
            seen = found.get((column.entity, column.reads), {}).get((column.connection_id, column.source_object))
            if seen is None:
                continue  # no records of this column yet
            report["columns"] += 1
            if isinstance(seen, int):
                value_column_free_text(column=column, distinct=seen,
                                       note=f"{seen} distinct values: free text, not a picklist (more than "
                                            f"{max_distinct()}); not value-mapped")
                report["free_text"] += 1
                continue
            report["distinct_values"] += len(seen)
            ask = _undecided(column, seen)
            result = None
            if ask:
                key = (column.connection_id, column.source_object)
                if key not in metadata_cache:
                    metadata_cache[key] = column_metadata(connection_id=key[0], source_object=key[1])
                meta = metadata_cache[key].get(column.column)
                values = ColumnValues(
                    source=column.vendor, object=column.source_object, entity=column.entity, field=column.field,
                    column=column.column, type=_ENGINE_TYPES.get(column.source_type, "string"),
                    # as the driver fetched it: a value delivered as its label is found by the engine
                    metadata=meta.metadata if meta is not None else None,
                    values=tuple((_typed(v.raw, column.source_type), v.count) for v in ask),
                )
                asked = time.monotonic()
                try:
                    result = map_column(values, memory=memory, llm=llm or None)
                except Exception as exc:  # noqa: BLE001 - a value never fails a sync: they stay pending
                    logger.warning("value engine failed on %s.%s of connection %s: %s", column.entity,
                                   column.field, column.connection_id, exc, exc_info=True)
                    where = f"{column.entity}.{column.field} ({column.column[:100]})"
                    report.setdefault("errors", []).append(f"{where}: {exc.__class__.__name__}: {exc}"[:500])
                    result = None
                report["engine_seconds"] += time.monotonic() - asked
                report["asked"] += len(ask)
            typed = [SeenValue(key=v.key, raw=_typed(v.raw, column.source_type), count=v.count, samples=v.samples)
                     for v in seen]
            outcome = value_column_record(column=column, seen=typed, result=result)
            report["free_text"] += outcome.free_text
            for name in ("new", "auto", "pending", "none", "drift", "review_items"):
                report[name] += getattr(outcome, name)
        every = value_columns() if connection_ids is not None else columns
        free = _free_text_fields(every)
        fallbacks = fallback_sources(every)
        maps = value_map_rows()
        currencies = connection_currencies()
    digest = hashlib.sha256(json.dumps([maps, free, sorted(currencies.items()), fallbacks],
                                       default=str).encode()).hexdigest()
    with store.WriterLock(tenant):
        con = store.connect(tenant)
        try:
            _ensure_state(con)
            written = con.execute("SELECT digest FROM _dcl_values_written").fetchone()
            rewrite = written is None or written[0] != digest
            if rewrite:
                write_tables(con, maps, free, currencies, fallbacks)
            if scanned:
                con.executemany("INSERT OR REPLACE INTO _dcl_values_txn VALUES (?, ?)",
                                [[c, t] for c, t in sorted(scanned.items())])
        finally:
            con.close()
    if rewrite:
        # the same into the PostgreSQL mirrors the per-record views read at read time
        pg_write_tables(tenant.schema_name, maps, free, currencies, fallbacks)
        with store.WriterLock(tenant):
            con = store.connect(tenant)
            try:
                con.execute("DELETE FROM _dcl_values_written")
                con.execute("INSERT INTO _dcl_values_written VALUES (?)", [digest])
            finally:
                con.close()
    report["value_maps"] = len(maps)
    report["tables_written"] = rewrite
    report["engine_seconds"] = round(report["engine_seconds"], 3)
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def _free_text_fields(columns: list[ValueColumn]) -> list[tuple]:
    free = set(free_text_rows())
    return sorted({(c.connection_id, c.source_object, c.entity, c.field) for c in columns
                   if (c.connection_id, c.source_object, c.column) in free})
