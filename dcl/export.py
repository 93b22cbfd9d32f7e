"""CSV export of a unified view: every row a filter matches, streamed in constant memory.

The rows are read in keyset pages (`EXPORT_PAGE_ROWS` each): each page is its own short query
that continues after the last row of the one before in the export's total order (the reader's
ordering or the entity's default, then `unified_id`), so no page holds a lock or a snapshot while
the client downloads (a server-side cursor would hold the view's data table, and the next
materialization's swap would wait on it with every reader of the view queued behind) and none is
an OFFSET that rereads what was sent. A page of an indexed order is an index range scan.

PostgreSQL sorts nulls last ascending and first descending; the first sort key is walked in two
phases, its non-null rows and its null rows, so that each page's condition is a plain range of
that key (an `OR key IS NULL` would keep the index from bounding the scan).

A view re-materialized during an export would mix two versions: the export then stops with
`ViewChanged` and the download is cut short (the client sees an incomplete transfer, never a
complete-looking file of mixed versions); asking again exports the new version.

Cells are written for spreadsheets as well as programs: text that begins with `=`, `+`, `-`, `@`,
a tab or a carriage return gets a leading `'` (OWASP's CSV-injection defence), so a spreadsheet
shows it as text instead of evaluating it; numbers, dates and booleans are never prefixed.
docs/adr/0025-views-export-and-first-run.md.
"""

from __future__ import annotations

import csv
import decimal
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection

from aam.ingest.kinds import Kind

from .selectors import (
    ViewQueryError,
    _columns_of,
    _q,
    _table,
    _where,
    catalog_entry,
    order_keys,
    row_sources,
    source_labels,
    view_stamp,
)

EXPORT_PAGE_ROWS = 2000
# Columns the export adds to the view's own: the systems a row came from (names, "; "-separated)
# and its source records as the lineage JSON (connection, object, source id of each).
SOURCES, SOURCE_RECORDS = "sources", "source_records"
EXTRA_COLUMNS = (SOURCES, SOURCE_RECORDS)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Exact: the default context (28 digits) would round the views' numeric(38, 10) values.
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


class ViewChanged(RuntimeError):
    """The view was re-materialized while it was being exported."""


@dataclass
class ViewExport:
    """A validated export: what to read and in which order (nothing is read until `rows()`)."""

    entity: str
    view: Any
    columns: list[str]  # the CSV's columns, in order
    keys: list[tuple[str, bool]]  # the total order: (column, descending), unified_id last
    where: str
    params: list = field(default_factory=list)
    json_columns: set[str] = field(default_factory=set)

    @property
    def stamp(self) -> str:
        return view_stamp(self.view.version, self.view.materialized_at)


def view_export(*, entity: str, filters: dict | None = None, ordering: str | list[str] | None = None,
                search: str | None = None, columns: list[str] | None = None) -> ViewExport:
    """The export of the rows `view_rows` would return for these filters, ordering and search;
    `columns`: the view's columns to write (default all), plus `sources` / `source_records`.
    Every parameter is checked here, before anything is sent: ViewQueryError (a 400) for an unknown
    view, field, operator, column or a value of the wrong type."""
    view = catalog_entry(entity)
    if view is None:
        raise ViewQueryError(f"No materialized view for {entity!r}.", {"entity": "not materialized"})
    kinds = _columns_of(view)
    where, params = _where(entity, kinds, filters, search)
    keys = order_keys(entity, kinds, ordering)
    if columns:
        unknown = [c for c in columns if c not in kinds and c not in EXTRA_COLUMNS]
        if unknown:
            raise ViewQueryError(f"Unknown column {unknown[0]!r}.",
                                 {"columns": f"{entity} has no column {', '.join(map(repr, unknown))}"})
        chosen = list(dict.fromkeys(columns))
    else:
        chosen = [*kinds, *EXTRA_COLUMNS]
    json_columns = {name for name, kind in kinds.items() if kind is Kind.JSON}
    return ViewExport(entity=entity, view=view, columns=chosen, keys=keys, where=where, params=params,
                      json_columns=json_columns)


def _after(keys: list[tuple[str, bool]], last: dict) -> tuple[str, list]:
    """SQL true for the rows strictly after `last` in the order `keys` (nulls last ascending, first
    descending, as PostgreSQL sorts them)."""
    branches: list[str] = []
    params: list = []
    equal: list[str] = []
    equal_params: list = []
    for name, desc in keys:
        col, value = _q(name), last[name]
        if desc:
            beyond = (f"{col} IS NOT NULL", []) if value is None else (f"{col} < %s", [value])
        else:
            beyond = None if value is None else (f"({col} > %s OR {col} IS NULL)", [value])
        if beyond is not None:
            branches.append("(" + " AND ".join([*equal, beyond[0]]) + ")")
            params += [*equal_params, *beyond[1]]
        equal.append(f"{col} IS NULL" if value is None else f"{col} = %s")
        equal_params += [] if value is None else [value]
    return ("(" + " OR ".join(branches) + ")" if branches else "FALSE"), params


def _phases(keys: list[tuple[str, bool]]) -> list[str]:
    """The first sort key's rows in the order they come: non-null then null ascending, the reverse
    descending (one phase when it is the never-null unified_id)."""
    first, desc = keys[0]
    if first == "unified_id":
        return [""]
    present, absent = f"{_q(first)} IS NOT NULL", f"{_q(first)} IS NULL"
    return [absent, present] if desc else [present, absent]


def _page_sql(export: ViewExport, phase: str, last: dict | None, limit: int) -> tuple[str, list]:
    clauses = [export.where[len(" WHERE "):]] if export.where else []
    params = list(export.params)
    if phase:
        clauses.append(phase)
    if last is not None:
        first, desc = export.keys[0]
        if first != "unified_id" and last[first] is not None:
            # Redundant with `_after`, but a plain bound of the first key: the index scan starts there.
            clauses.append(f"{_q(first)} {'<=' if desc else '>='} %s")
            params.append(last[first])
        after, after_params = _after(export.keys, last)
        clauses.append(after)
        params += after_params
    wanted = list(dict.fromkeys([*(c for c in export.columns if c not in EXTRA_COLUMNS),
                                 *(k for k, _ in export.keys), "sources"]))
    order = ", ".join(f"{_q(name)} {'DESC' if desc else 'ASC'}" for name, desc in export.keys)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    sql = f"SELECT {', '.join(_q(c) for c in wanted)} FROM {_table(export.entity)}{where} ORDER BY {order} LIMIT %s"
    return sql, [*params, limit]


def _still_current(export: ViewExport) -> None:
    view = catalog_entry(export.entity)
    if view is None or view_stamp(view.version, view.materialized_at) != export.stamp:
        raise ViewChanged(f"the {export.entity} view was re-materialized during the export")


def export_pages(export: ViewExport, *, page_rows: int | None = None) -> Iterator[list[dict]]:
    """The export's rows, one keyset page (a list of at most `page_rows` dicts, EXPORT_PAGE_ROWS by
    default) at a time."""
    page_rows = page_rows or EXPORT_PAGE_ROWS
    decode = {"sources", *export.json_columns}
    for phase in _phases(export.keys):
        last: dict | None = None
        while True:
            _still_current(export)
            sql, params = _page_sql(export, phase, last, page_rows)
            with connection.cursor() as cur:
                cur.execute(sql, params)
                names = [c[0] for c in cur.description]
                rows = [dict(zip(names, values, strict=True)) for values in cur.fetchall()]
            for row in rows:
                for name in decode:
                    if isinstance(row.get(name), str):
                        row[name] = json.loads(row[name])
            if rows:
                yield rows
            if len(rows) < page_rows:
                break
            last = rows[-1]


def csv_cell(value: Any) -> str:
    """One value as CSV text: exact decimals, ISO dates, JSON for structures, and text that a
    spreadsheet would take for a formula prefixed with `'`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(_EXACT), "f") if value.is_finite() else str(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, default=str)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text[:1] in _FORMULA_FIRST else text


def _decimal(value: Any) -> str:
    return csv_cell(value) if not isinstance(value, Decimal) or not value.is_finite() else \
        format(value.normalize(_EXACT), "f")


_FORMULA_FIRST = frozenset(FORMULA_PREFIXES)
# Per column kind, the converter `csv_cell` would pick for its values (chosen once per column, not per cell).
_CONVERTERS = {
    Kind.STRING: _text,
    Kind.DECIMAL: lambda v: "" if v is None else _decimal(v),
    Kind.INTEGER: lambda v: "" if v is None else str(v),
    Kind.BOOLEAN: lambda v: "" if v is None else ("true" if v else "false"),
    Kind.DATE: lambda v: "" if v is None else csv_cell(v),
    Kind.DATETIME: lambda v: "" if v is None else csv_cell(v),
}


def export_csv(export: ViewExport, *, page_rows: int | None = None) -> Iterator[bytes]:
    """The export as UTF-8 CSV: the header, then one chunk per page of rows."""
    labels = source_labels()
    kinds = _columns_of(export.view)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> bytes:
        data = buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
        return data

    def cell_of(name: str):
        if name == SOURCES:
            return lambda row: "; ".join(_text(s.name) for s in row_sources(row.get("sources"), labels))
        if name == SOURCE_RECORDS:
            return lambda row: csv_cell(row.get("sources"))
        convert = _CONVERTERS.get(kinds.get(name), csv_cell)
        return lambda row: convert(row.get(name))

    cells = [cell_of(name) for name in export.columns]
    writer.writerow([csv_cell(c) for c in export.columns])
    yield flush()
    for rows in export_pages(export, page_rows=page_rows):
        writer.writerows([cell(row) for cell in cells] for row in rows)
        yield flush()
