"""DCL reads: the unified views in PostgreSQL (never the DuckDB file, which belongs to its writer).

Filters are `{"field": value}` or `{"field__op": value}` with op in exact, ne, gt, gte, lt, lte,
in (comma-separated or a list), isnull, contains, icontains, startswith. `ne` keeps rows where the
field is empty (IS DISTINCT FROM, as Django's exclude()): "not Prospecting" includes no stage at all.
Values are coerced to the field's kind exactly like ingested data, within the same ranges (what
ingestion refuses, such as a date past year 9999 or an integer beyond int64, no row can hold); a bad
field, operator or value raises `ViewQueryError`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
from django.core.cache import cache
from django.db import connection

from aam.ingest.coerce import CoercionError, coerce_value
from aam.ingest.kinds import Kind
from autonomos.core import redis_names
from autonomos.core.cache import LocalTTLCache
from autonomos.core.tenancy import current_tenant

from . import store
from .pgsync import view_name
from .unify import LINKED_ENTITIES

logger = logging.getLogger(__name__)

OPERATORS = {
    "exact": "=",
    # Not `<>`, which drops the rows where the field is null. Neither is served by a btree index.
    "ne": "IS DISTINCT FROM",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "in": "IN",
    "isnull": "IS NULL",
    "contains": "LIKE",
    "icontains": "ILIKE",
    "startswith": "LIKE",
}
SEARCH_FIELDS = {
    "account": ("name", "website", "industry", "city", "country"),
    "contact": ("first_name", "last_name", "email", "title", "department"),
    "opportunity": ("name", "stage", "owner_id", "opportunity_type"),
    "cost": ("service_name", "resource_name", "resource_id", "sub_account_id", "charge_description"),
    "cloud_resource": ("name", "id", "service_name", "resource_type", "region_id"),
}
MAX_IN_VALUES = 500
COUNT_CACHE_SECONDS = 3600


class ViewQueryError(ValueError):
    """A request the view cannot answer: `message` for people, `details` per parameter."""

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


@dataclass(frozen=True)
class ViewInfo:
    entity: str
    row_count: int
    materialized_at: datetime | None
    version: int = 0


def _catalog(entity: str):
    from .models import MaterializedView

    return MaterializedView.objects.filter(entity=entity).first()


# The full catalog rows this process has read, per tenant and entity, with the (version,
# materialized_at) they had: a request checks those two columns (one indexed lookup) and reuses
# the row while they are unchanged. A re-materialization changes both, so it is seen at once.
_catalog_rows = LocalTTLCache(3600, max_entries=4096)


def catalog_entry(entity: str):
    """The catalog row of a materialized view, or None (always as current as the database)."""
    from .models import MaterializedView

    tenant = current_tenant()
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT version, materialized_at FROM {_q(tenant.schema_name)}.{_q(MaterializedView._meta.db_table)} "
            "WHERE entity = %s",
            [entity],
        )
        stamp = cur.fetchone()
    if stamp is None:
        return None
    key = (str(tenant.tenant_id), tenant.schema_name, entity)
    cached = _catalog_rows.get(key)
    if cached is not None and cached[0] == tuple(stamp):
        return copy.copy(cached[1])
    view = _catalog(entity)
    if view is not None:
        _catalog_rows.set(key, ((view.version, view.materialized_at), view))
        view = copy.copy(view)
    return view


def _columns_of(view) -> dict[str, Kind]:
    columns = {"unified_id": Kind.STRING}
    columns.update({c["name"]: Kind(c["kind"]) for c in view.columns})
    if view.entity in LINKED_ENTITIES:
        columns["account_unified_id"] = Kind.STRING
    columns["source_count"] = Kind.INTEGER
    return columns


def view_catalog() -> list[ViewInfo]:
    """Every materialized view of the current tenant."""
    from .models import MaterializedView

    return [ViewInfo(v.entity, v.row_count, v.materialized_at, v.version) for v in MaterializedView.objects.all()]


def view_stamp(version: int, materialized_at: datetime) -> str:
    """What identifies one materialization of a view: its version and materialization time (a
    catalog that was wiped and rebuilt starts at version 1 again)."""
    return f"{version}-{materialized_at.timestamp()}"


def view_version(entity: str) -> str:
    """Changes whenever the view is re-materialized (caches key on it)."""
    view = _catalog(entity)
    return view_stamp(view.version, view.materialized_at) if view else "0"


def view_columns(entity: str) -> dict[str, Kind] | None:
    """Filterable columns of a materialized view (None when the entity is not materialized)."""
    view = _catalog(entity)
    return None if view is None else _columns_of(view)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _value(kind: Kind, field: str, raw: Any) -> Any:
    try:
        value = coerce_value(kind, raw)
    except CoercionError as exc:
        raise ViewQueryError(f"Bad value for {field}.", {field: str(exc)}) from None
    if value is None:
        raise ViewQueryError(f"Bad value for {field}.", {field: "a value is required (use __isnull to find blanks)"})
    if kind is Kind.JSON:
        raise ViewQueryError(f"{field} cannot be filtered by value.", {field: "JSON fields support __isnull only"})
    return value


def _where(entity: str, columns: dict[str, Kind], filters: dict | None, search: str | None) -> tuple[str, list]:
    clauses: list[str] = []
    params: list[Any] = []
    for text in [search, *[str(k) for k in (filters or {})], *[str(v) for v in (filters or {}).values()]]:
        if isinstance(text, str) and "\x00" in text:
            raise ViewQueryError("Query values cannot contain NUL bytes.", {"query": "NUL byte"})
    for key, raw in (filters or {}).items():
        field, _, op = str(key).partition("__")
        op = op or "exact"
        if field not in columns:
            raise ViewQueryError(f"Unknown field {field!r}.", {key: f"{entity} has no field {field!r}"})
        if op not in OPERATORS:
            raise ViewQueryError(f"Unknown operator {op!r}.", {key: f"operators: {', '.join(OPERATORS)}"})
        kind = columns[field]
        col = _q(field)
        if op == "isnull":
            try:
                flag = coerce_value(Kind.BOOLEAN, raw) if not isinstance(raw, bool) else raw
            except CoercionError:
                flag = None
            if flag is None:
                raise ViewQueryError("Bad value for isnull.", {key: "true or false"})
            clauses.append(f"{col} IS {'' if flag else 'NOT '}NULL")
        elif op in ("contains", "icontains", "startswith"):
            if kind is not Kind.STRING:
                raise ViewQueryError(f"{op} works on text fields.", {key: f"{field} is {kind}"})
            text = str(raw).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"{text}%" if op == "startswith" else f"%{text}%"
            clauses.append(f"{col} {OPERATORS[op]} %s")
            params.append(pattern)
        elif op == "in":
            values = raw if isinstance(raw, list | tuple) else [v for v in str(raw).split(",") if v.strip() != ""]
            if not values or len(values) > MAX_IN_VALUES:
                raise ViewQueryError("Bad value for in.", {key: f"1 to {MAX_IN_VALUES} comma-separated values"})
            clauses.append(f"{col} = ANY(%s)")
            params.append([_value(kind, key, v) for v in values])
        else:
            if kind is Kind.BOOLEAN and op not in ("exact", "ne"):
                raise ViewQueryError(f"{op} does not apply to booleans.", {key: "use exact or ne"})
            clauses.append(f"{col} {OPERATORS[op]} %s")
            params.append(_value(kind, key, raw))
    if search:
        fields = [f for f in SEARCH_FIELDS.get(entity, ()) if columns.get(f) is Kind.STRING] or [
            f for f, k in columns.items() if k is Kind.STRING
        ][:6]
        text = str(search)[:200].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("(" + " OR ".join(f"{_q(f)} ILIKE %s" for f in fields) + ")")
        params.extend([f"%{text}%"] * len(fields))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


# The order of a view's rows when the reader asks for none: a column people scan such a list by that
# has an index of its own (dcl/pgsync.py INDEXED: a page of the default order is an index range, never
# a sort of the whole view), then unified_id, the primary key, which makes the order total.
# tests/dcl/test_view_export.py checks each against INDEXED and against the plan PostgreSQL makes.
DEFAULT_ORDERING = {
    "account": "name",
    "contact": "last_name",
    "opportunity": "close_date",
    "cost": "charge_period_start",
    "cloud_resource": "service_name",
}


def order_keys(entity: str, columns: dict[str, Kind], ordering: str | list[str] | None) -> list[tuple[str, bool]]:
    """`(column, descending)` of the rows' total order: the reader's `ordering` ("-amount,close_date")
    or the entity's default, then unified_id. Raises ViewQueryError for a field that cannot be sorted."""
    keys: list[tuple[str, bool]] = []
    if isinstance(ordering, str) and "\x00" in ordering:
        raise ViewQueryError("Query values cannot contain NUL bytes.", {"ordering": "NUL byte"})
    items = ordering.split(",") if isinstance(ordering, str) else list(ordering or [])
    for item in (i.strip() for i in items):
        if not item:
            continue
        desc = item.startswith("-")
        field = item.lstrip("-+")
        if field not in columns or columns[field] is Kind.JSON:
            raise ViewQueryError(f"Cannot sort by {field!r}.", {"ordering": f"unknown or unsortable field {field!r}"})
        keys.append((field, desc))
    if not keys and DEFAULT_ORDERING.get(entity) in columns:
        keys.append((DEFAULT_ORDERING[entity], False))
    if not any(field == "unified_id" for field, _ in keys):
        # A total order (pages never overlap or skip), in the direction of the last key so an
        # incremental sort after the index scan stays cheap.
        keys.append(("unified_id", bool(keys) and keys[-1][1]))
    return keys


def _order(columns: dict[str, Kind], ordering: str | list[str] | None, entity: str = "") -> str:
    # PostgreSQL's default null order (last ascending, first descending) is the one a btree index
    # serves in both directions: "-amount" walks the amount index backwards.
    keys = order_keys(entity, columns, ordering)
    return " ORDER BY " + ", ".join(f"{_q(field)} {'DESC' if desc else 'ASC'}" for field, desc in keys)


def _table(entity: str) -> str:
    tenant = current_tenant()
    return f"{_q(tenant.schema_name)}.{_q(view_name(entity))}"


def _fetch(sql: str, params: list, json_columns: set[str]) -> list[dict]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        names = [c[0] for c in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    # Django hands jsonb over as text (its JSONField decodes); these are plain columns: decode here.
    for row in rows:
        for name in json_columns:
            if isinstance(row.get(name), str):
                row[name] = json.loads(row[name])
    return rows


def view_rows(
    *,
    entity: str,
    filters: dict | None = None,
    ordering: str | list[str] | None = None,
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    _view=None,
) -> list[dict]:
    """Rows of the unified view of `entity` (empty when it is not materialized)."""
    columns = _columns_of(_view) if _view is not None else view_columns(entity)
    if columns is None:
        return []
    where, params = _where(entity, columns, filters, search)
    sql = f"SELECT * FROM {_table(entity)}{where}{_order(columns, ordering, entity)}"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(max(0, int(limit)))
    if offset:
        sql += " OFFSET %s"
        params.append(max(0, int(offset)))
    return _fetch(sql, params, {"sources"} | {n for n, k in columns.items() if k is Kind.JSON})


# --- Pages rendered by PostgreSQL ------------------------------------------------------------------
# The rows of a page as the JSON text the API sends, built by PostgreSQL in the format of the Python
# renderer (dcl/api/views.py: `_render` + json.dumps with DjangoJSONEncoder): separators ", " and
# ": ", decimals as normalized strings ("1.5000000000" → "1.5"), timestamps in UTC with milliseconds
# cut (not rounded) and "Z", dates as ISO, JSON columns as decoded and re-encoded, non-ASCII
# characters escaped (`ascii_json`). A page whose JSON columns hold a number with a decimal point
# is rendered by Python (json.loads would turn "1.50" into 1.5). tests/dcl/test_page_json.py
# compares both renderers byte for byte.

_TIMESTAMPTZ = "timestamp with time zone"


def _json_value_sql(col: str, pgtype: str, decoded_json: bool) -> str | None:
    """SQL giving the JSON text of column `col` (already quoted) as Python renders it, or None
    when the type has no SQL rendering here."""
    if pgtype in ("text", "character varying"):
        value = f"to_json({col})::text"
    elif pgtype == "numeric":
        value = f"to_json(trim_scale({col})::text)::text"
    elif pgtype in ("bigint", "integer", "smallint"):
        value = f"{col}::text"
    elif pgtype in ("boolean", "date"):
        value = f"to_json({col})::text"
    elif pgtype == _TIMESTAMPTZ:
        value = (
            f"'\"' || to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
            f"CASE WHEN mod(extract(microseconds FROM {col}), 1000000) = 0 THEN '' ELSE "
            f"'.' || lpad(div(mod(extract(microseconds FROM {col}), 1000000), 1000)::text, 3, '0') END || 'Z\"'"
        )
    elif pgtype == "jsonb":
        value = f"{col}::text" if decoded_json else f"to_json({col}::text)::text"
    else:
        return None
    return f"coalesce({value}, 'null')"


def _has_decimal_point_numbers_sql(col: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM jsonb_path_query({col}, 'strict $.**') AS v "
        "WHERE jsonb_typeof(v) = 'number' AND strpos(v::text, '.') > 0)"
    )


def rows_json_sql(table: str, columns: list[tuple[str, str]], json_columns: set[str], where: str,
                  order: str) -> str | None:
    """SQL returning (rows as one JSON array text, whether Python must render them instead) for
    `SELECT * FROM table{where}{order} LIMIT %s OFFSET %s`; None when a column type has no SQL
    rendering. `columns` are the table's (name, type) in order."""
    if not columns:
        return None
    parts = []
    checks = []
    for i, (name, pgtype) in enumerate(columns):
        col = f"t.{_q(name)}"
        value = _json_value_sql(col, pgtype, name in json_columns)
        if value is None:
            return None
        key = json.dumps(name) + ": "
        parts.append(("{" if i == 0 else ", ") + key)
        parts.append(value)
        if pgtype == "jsonb" and name in json_columns:
            checks.append(_has_decimal_point_numbers_sql(col))
    row = " || ".join(_literal(p) if j % 2 == 0 else p for j, p in enumerate(parts)) + " || '}'"
    needs_python = "bool_or(" + " OR ".join(checks) + ")" if checks else "false"
    # The aggregate sorts again by the page's own (total) order: a subquery's order is not promised.
    return (
        f"SELECT '[' || coalesce(string_agg({row}, ', '{order}), '') || ']', coalesce({needs_python}, false) "
        f"FROM (SELECT * FROM {table}{where}{order} LIMIT %s OFFSET %s) AS t"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ascii_json(text: str) -> str:
    """JSON text from PostgreSQL with every non-ASCII character (and DEL) escaped as Python's
    json.dumps escapes it (ensure_ascii); PostgreSQL leaves them as they are."""
    if text.isascii() and "\x7f" not in text:
        return text
    return _NON_ASCII.sub(lambda m: json.dumps(m.group())[1:-1], text)


_NON_ASCII = re.compile("[^\x00-\x7e]")
_table_columns = LocalTTLCache(3600, max_entries=4096)


def _columns_of_table(schema: str, table: str, stamp: str) -> list[tuple[str, str]]:
    key = (schema, table, stamp)
    columns = _table_columns.get(key)
    if columns is None:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                [f"{_q(schema)}.{_q(table)}"],
            )
            columns = [(name, pgtype) for name, pgtype in cur.fetchall()]
        _table_columns.set(key, columns)
    return columns


class RowsJSON(str):
    """A page's rows as the JSON array text the API sends (rendered by PostgreSQL)."""


def view_rows_json(*, entity: str, filters=None, ordering=None, search=None, limit: int, offset: int = 0,
                   _view) -> RowsJSON | None:
    """The rows `view_rows` would return, as JSON text rendered by PostgreSQL; None when Python
    must render them (a column type without SQL rendering, decimal numbers inside JSON)."""
    tenant = current_tenant()
    columns = _columns_of(_view)
    where, params = _where(entity, columns, filters, search)
    table_columns = _columns_of_table(tenant.schema_name, view_name(entity),
                                      view_stamp(_view.version, _view.materialized_at))
    json_columns = {"sources"} | {n for n, k in columns.items() if k is Kind.JSON}
    sql = rows_json_sql(_table(entity), table_columns, json_columns, where, _order(columns, ordering, entity))
    if sql is None:
        return None
    with connection.cursor() as cur:
        cur.execute(sql, [*params, max(0, int(limit)), max(0, int(offset))])
        text, needs_python = cur.fetchone()
    if needs_python:
        return None
    return RowsJSON(ascii_json(text))


def view_count(*, entity: str, filters: dict | None = None, search: str | None = None, _view=None) -> int:
    """How many rows match: exact, counted once per view version and filter and then cached (a
    view only changes when it is re-materialized, which gives it a new version). The cache key
    carries the tenant (the cache's key function)."""
    view = _view if _view is not None else _catalog(entity)
    if view is None:
        return 0
    columns = _columns_of(view)
    where, params = _where(entity, columns, filters, search)
    if not where:
        return view.row_count
    digest = hashlib.sha1(json.dumps([where, [str(p) for p in params]]).encode()).hexdigest()
    # Version and materialization time: a catalog that was wiped and rebuilt starts at version 1 again.
    key = redis_names.view_count(entity, f"{view.version}-{view.materialized_at.timestamp()}", digest)
    count = cache.get(key)
    if count is None:
        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {_table(entity)}{where}", params)
            count = cur.fetchone()[0]
        cache.set(key, count, COUNT_CACHE_SECONDS)
    return count


def view_all(*, entity: str) -> list[dict]:
    """Every row of the view (agents); empty when it is not materialized."""
    return view_rows(entity=entity)


class LazyViewRows:
    """A sliceable, countable view query for the paginator: counts once, fetches one page."""

    def __init__(self, *, entity: str, filters=None, ordering=None, search=None, view=None,
                 as_json: bool = False) -> None:
        self.entity, self.filters, self.ordering, self.search = entity, filters, ordering, search
        # A slice is [RowsJSON] (the page rendered by PostgreSQL) when possible, else row dicts.
        self.as_json = as_json
        self.view = view if view is not None else _catalog(entity)
        columns = _columns_of(self.view) if self.view is not None else None
        if columns is not None:  # validate now: bad input is a 400 before any query runs
            _where(entity, columns, filters, search)
            _order(columns, ordering, entity)
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            self._count = view_count(entity=self.entity, filters=self.filters, search=self.search, _view=self.view)
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, item):
        if not isinstance(item, slice):
            raise TypeError("LazyViewRows supports slices only")
        start = item.start or 0
        stop = item.stop if item.stop is not None else start + 1000
        if self.as_json and self.view is not None:
            text = view_rows_json(entity=self.entity, filters=self.filters, ordering=self.ordering,
                                  search=self.search, limit=max(0, stop - start), offset=start, _view=self.view)
            if text is not None:
                return [text]
        return view_rows(
            entity=self.entity,
            filters=self.filters,
            ordering=self.ordering,
            search=self.search,
            limit=max(0, stop - start),
            offset=start,
            _view=self.view,
        )


# --- Which systems a row came from ------------------------------------------------------------------


@dataclass(frozen=True)
class SourceLabel:
    """A connection as a view row's lineage names it: its name and what kind of system it is."""

    connection_id: int | None
    name: str
    kind: str  # "CSV · Salesforce export", "HubSpot"; "" for a removed connection
    removed: bool = False


def source_labels() -> dict[int, SourceLabel]:
    """Every connection of the tenant by id, labelled (one query: a tenant has few connections)."""
    from connectors.models import Connection

    from .models import RemovedConnection

    # a deleted connection whose records were kept: named as it was, marked removed (docs/adr/0022)
    labels = {r.connection_id: SourceLabel(r.connection_id, f"{r.name} (removed)", r.kind, removed=True)
              for r in RemovedConnection.objects.all()}
    labels.update({c.pk: SourceLabel(c.pk, c.name, c.kind_label)
                   for c in Connection.objects.all().only("id", "name", "kind", "config")})
    return labels


def row_sources(sources: Any, labels: dict[int, SourceLabel]) -> list[SourceLabel]:
    """The distinct systems named by a row's `sources` (its lineage JSON), in the order they appear; a
    connection that no longer exists reads "connection 6 (removed)"."""
    seen: dict[Any, SourceLabel] = {}
    for ref in sources if isinstance(sources, list) else []:
        if not isinstance(ref, dict):
            continue
        cid = ref.get("connection_id")
        if cid in seen:
            continue
        label = labels.get(cid) if isinstance(cid, int) else None
        seen[cid] = label or SourceLabel(cid, f"connection {cid} (removed)", "", removed=True)
    return list(seen.values())


AGENT_ROUTES = {
    "account": "revops",
    "contact": "revops",
    "opportunity": "revops",
    "cost": "finops",
    "cloud_resource": "finops",
}


def lineage_graph() -> dict:
    """Source fields → canonical fields → views → agents, as {"nodes": [...], "edges": [...]}."""
    from aam.ingest.schema import ontology_entities
    from connectors.models import Connection

    from .models import MaterializedView

    try:
        from aam.selectors import mapping_active
    except ImportError:  # the mapping engine is not installed: views and agents only
        mapping_active = None
    nodes: dict[str, dict] = {}
    edges: list[dict] = []

    def node(node_id: str, **attrs) -> str:
        nodes.setdefault(node_id, {"id": node_id, **attrs})
        return node_id

    try:
        ontology = ontology_entities()
    except ImportError:
        ontology = {}
    connections = {c.pk: c for c in Connection.objects.all()}
    for view in MaterializedView.objects.all():
        view_id = node(
            f"view:{view.entity}",
            kind="view",
            label=f"dcl_view_{view.entity}",
            entity=view.entity,
            rows=view.row_count,
            materialized_at=view.materialized_at.isoformat(),
        )
        agent = AGENT_ROUTES.get(view.entity)
        if agent:
            edges.append(
                {"source": view_id, "target": node(f"agent:{agent}", kind="agent", label=agent), "kind": "feeds"}
            )
        for column in view.columns:
            canon_id = node(
                f"canonical:{view.entity}.{column['name']}",
                kind="canonical_field",
                label=f"{view.entity}.{column['name']}",
                entity=view.entity,
                type=column["kind"],
            )
            edges.append({"source": canon_id, "target": view_id, "kind": "column_of"})
        for src in view.sources:
            conn = connections.get(src["connection_id"])
            if conn is None or mapping_active is None:
                continue
            mapping = mapping_active(connection=conn, source_object_name=src["source_object"])
            fields = getattr(mapping, "fields", None) or {}
            for source_field, canonical in fields.items():
                if not canonical or canonical not in ontology.get(view.entity, {canonical: None}):
                    continue
                src_id = node(
                    f"source:{conn.pk}:{src['source_object']}:{source_field}",
                    kind="source_field",
                    label=source_field,
                    connection_id=conn.pk,
                    connection_kind=conn.kind,
                    connection=conn.name,
                    source_object=src["source_object"],
                )
                edges.append({"source": src_id, "target": f"canonical:{view.entity}.{canonical}", "kind": "maps_to"})
                node(
                    f"canonical:{view.entity}.{canonical}",
                    kind="canonical_field",
                    label=f"{view.entity}.{canonical}",
                    entity=view.entity,
                )
    return {"nodes": list(nodes.values()), "edges": edges}


# --- A unified record's source rows (lineage) ------------------------------------------------------
# The PostgreSQL view keeps, per unified row, which source records were merged into it (`sources`:
# connection, object, source id). Their values live in the tenant's DuckDB file (`src_<entity>`,
# dcl/store.py), which belongs to its writer: the read takes the writer lock for the few
# milliseconds of one query (briefly, never waiting long) and opens the file read-only.

RECORD_SOURCES_MAX = 100  # source records shown per unified row (a merged account rarely has more)
RECORD_SOURCES_WAIT = 2.0  # seconds to wait for a writer (a consume or a materialization) to finish


@dataclass
class RecordSources:
    """The source records of one unified row, side by side.

    `fields`: the canonical fields of the entity (ontology order). `rows`: one per source record,
    `{connection_id, connection_name, connection_kind, source_object, source_id, probability, found,
    deleted, ingested_at, values: {field: value}, value_maps: {field: {canonical, label, status}}}` (`found`
    False when the store no longer holds it). `values` are the source's own values as stored (a
    Dynamics code stays 9); `value_maps` says, per value-mapped field with a value, what that value
    means: the vendor's `label` of a code, the `canonical` value when it is mapped (None while it
    awaits review: never the engine's guess) and the `status` the views show (mapped, pending, none;
    pending when the value stage has not seen it yet). `value_fields`: the entity's value-mapped fields.
    `unavailable`: why the values could not be read now (the store is being written), else "".
    `more`: source records beyond RECORD_SOURCES_MAX that are not shown.
    """

    fields: list[str]
    rows: list[dict]
    unavailable: str = ""
    more: int = 0
    value_fields: tuple[str, ...] = ()


def _mapped_value_fields(entity: str) -> tuple[str, ...]:
    """The entity's fields whose source values are mapped onto a canonical value set (not derived)."""
    from aam.ontology import get_ontology

    ent = get_ontology().entities.get(entity)
    return tuple(f.name for f in ent.value_fields() if f.derived_from is None) if ent is not None else ()


def record_sources(*, entity: str, record: dict) -> RecordSources:
    """The source records merged into `record` (a row of `view_rows`), with their current values."""
    from aam.ingest.schema import ontology_entities
    from connectors.models import Connection

    fields = list(ontology_entities().get(entity, {}))
    value_fields = tuple(f for f in _mapped_value_fields(entity) if f in fields)
    refs = [s for s in (record.get("sources") or []) if isinstance(s, dict)]
    more = max(0, len(refs) - RECORD_SOURCES_MAX)
    refs = refs[:RECORD_SOURCES_MAX]
    names = dict(Connection.objects.filter(pk__in=[s.get("connection_id") for s in refs]).values_list("pk", "name"))
    rows = [
        {
            "connection_id": s.get("connection_id"),
            "connection_name": names.get(s.get("connection_id"), f"connection {s.get('connection_id')}"),
            "connection_kind": s.get("connection_kind") or "",
            "source_object": s.get("source_object") or "",
            "source_id": str(s.get("source_id")),
            # the probability that joined it to the entity, when the matching engine wrote one
            "probability": s.get("probability") if isinstance(s.get("probability"), int | float) else None,
            "found": False,
            "deleted": False,
            "ingested_at": None,
            "values": {},
            "value_maps": {},
        }
        for s in refs
    ]
    if not rows:
        return RecordSources(fields=fields, rows=[], more=more, value_fields=value_fields)
    try:
        stored = _source_rows(current_tenant(), entity, [(r["connection_id"], r["source_id"]) for r in rows],
                              value_fields=value_fields)
    except store.WriterBusy:
        return RecordSources(fields=fields, rows=rows, more=more, value_fields=value_fields,
                             unavailable="The store is being written right now; reload in a moment.")
    for row in rows:
        found = stored.get((row["connection_id"], row["source_id"]))
        if found is not None:
            row.update(found=True, deleted=bool(found.get("_deleted")), ingested_at=found.get("_ingested_at"),
                       values={f: found.get(f) for f in fields if f in found},
                       value_maps=found.get(_VALUE_MAPS, {}))
    return RecordSources(fields=fields, rows=rows, more=more, value_fields=value_fields)


_VALUE_MAPS = "_rs_value_maps"  # key of a source row's value maps in `_source_rows` (no store column's name)
_TEXT = "_rs_text_"  # prefix of the value-field texts `_source_rows` selects (no store column's name)


def _source_rows(tenant, entity: str, keys: list[tuple[int, str]], *,
                 value_fields: tuple[str, ...] = ()) -> dict[tuple[int, str], dict]:
    """Rows of `src_<entity>` by (connection id, source id), read-only; {} when there is no store yet.
    Each row carries, under `_VALUE_MAPS`, what its value of each of `value_fields` maps to (the
    value-map table the views join, matched on the value's text as the views match it)."""
    from .valuemap import STATUS_MAPPED, STATUS_PENDING, VALUE_MAP_TABLE

    path = store.duckdb_path(tenant)
    if not path.exists():
        return {}
    table = store.source_table(entity)
    with store.WriterLock(tenant, timeout=RECORD_SOURCES_WAIT):
        con = duckdb.connect(str(path), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            tables = store.existing_tables(con)
            if table not in tables:
                return {}
            present = [f for f in value_fields if f in store.table_columns(con, table)]
            texts = "".join(f", CAST({store.quote(f)} AS VARCHAR) AS {store.quote(_TEXT + f)}" for f in present)
            match = " OR ".join(["(_connection_id = ? AND _source_id = ?)"] * len(keys))
            cur = con.execute(f"SELECT *{texts} FROM {table} WHERE {match}", [v for key in keys for v in key])
            names = [c[0] for c in cur.description]
            found = [dict(zip(names, values, strict=True)) for values in cur.fetchall()]
            maps: dict[tuple, tuple] = {}
            if present and found and VALUE_MAP_TABLE in tables:
                marks = ", ".join("?" * len(present))
                cids = sorted({row["_connection_id"] for row in found})
                for cid, obj, field, raw_key, canonical, label, status in con.execute(
                    f"SELECT connection_id, source_object, field, raw_key, canonical, label, status "
                    f"FROM {VALUE_MAP_TABLE} WHERE entity = ? AND field IN ({marks}) "
                    f"AND connection_id IN ({', '.join('?' * len(cids))})", [entity, *present, *cids],
                ).fetchall():
                    maps[cid, obj, field, raw_key] = (canonical, label, status)
        finally:
            con.close()
    for row in found:
        meanings = {}
        for f in present:
            text = row.pop(_TEXT + f)
            if text is None:
                continue
            canonical, label, status = maps.get((row["_connection_id"], row.get("_source_object"), f, text),
                                                (None, None, STATUS_PENDING))
            meanings[f] = {"canonical": canonical if status == STATUS_MAPPED else None, "label": label,
                           "status": status}
        row[_VALUE_MAPS] = meanings
    return {(row["_connection_id"], str(row["_source_id"])): row for row in found}


# --- Stream statistics of a connection -------------------------------------------------------------
# Read-only Redis reads (XLEN, XINFO GROUPS, XPENDING, XREVRANGE) of the connection's stream
# (aam.streams) and of the tenant's dead-letter stream (dcl.consumer).

DEAD_LETTER_SCAN = 200  # newest dead-lettered batches looked at to count one connection's


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _entry_time(entry_id) -> datetime:
    return datetime.fromtimestamp(int(_text(entry_id).split("-")[0]) / 1000, tz=UTC)


def connection_stream_stats(*, connection) -> dict[str, Any]:
    """Length, pending (delivered, not acknowledged), lag (not yet delivered), consumers, the last
    batch and the dead-lettered batches of a connection's stream. `error` says when Redis is away."""
    from aam.streams import binary_redis, group_name, stream_key

    from .consumer import dead_letter_key

    tenant = current_tenant()
    key, group = stream_key(tenant, connection.pk), group_name(tenant)
    out: dict[str, Any] = {"key": key, "group": group, "length": 0, "lag": None, "pending": None, "consumers": None,
                           "oldest_pending_at": None, "last_delivered": None, "last_delivered_at": None,
                           "last_batch": None, "dead_letters": 0, "dead_letters_scanned": 0, "error": ""}
    r = binary_redis()
    try:
        if r.exists(key):
            out["length"] = r.xlen(key)
            info = next((g for g in r.xinfo_groups(key) if _text(g.get("name", b"")) == group), None)
            if info is not None:
                out["lag"] = info.get("lag")
                out["consumers"] = info.get("consumers")
                last = _text(info.get("last-delivered-id") or b"")
                out["last_delivered"] = last or None
                if last and last != "0-0":
                    # Acknowledged batches are trimmed away; the id still tells when the last one was added.
                    out["last_delivered_at"] = _entry_time(last)
                pending = r.xpending(key, group)
                out["pending"] = int(pending.get("pending") or 0)
                if out["pending"] and pending.get("min"):
                    out["oldest_pending_at"] = _entry_time(pending["min"])
            newest = r.xrevrange(key, count=1)
            if newest:
                entry_id, fields = newest[0]
                text = {_text(k): v for k, v in fields.items()}
                out["last_batch"] = {
                    "id": _text(entry_id),
                    "at": _entry_time(entry_id),
                    **{name: _text(text.get(name, b"")) for name in
                       ("batch_id", "entity", "source_object", "count", "mapping_version")},
                }
        dead = r.xrevrange(dead_letter_key(tenant), count=DEAD_LETTER_SCAN)
        out["dead_letters_scanned"] = len(dead)
        out["dead_letters"] = sum(1 for _, f in dead if _text(f.get(b"dlq_stream", b"")) == key)
    except Exception as exc:  # noqa: BLE001 - an outage shows as a message, not a 500
        logger.warning("stream statistics unavailable: %s", exc)
        out["error"] = "Redis is not reachable."
    return out


def dead_letter_summary(*, latest: int = 5) -> dict[str, Any]:
    """The tenant's dead-lettered batches: how many, and the newest with their reasons."""
    from aam.streams import binary_redis

    from .consumer import dead_letter_key

    key = dead_letter_key(current_tenant())
    try:
        r = binary_redis()
        rows = [{"at": _entry_time(entry_id), "reason": _text(fields.get(b"dlq_reason", b""))[:300],
                 "batch_id": _text(fields.get(b"batch_id", b"")), "entity": _text(fields.get(b"entity", b"")),
                 "stream": _text(fields.get(b"dlq_stream", b""))}
                for entry_id, fields in r.xrevrange(key, count=latest)]
        return {"count": r.xlen(key), "latest": rows}
    except Exception as exc:  # noqa: BLE001 - an outage shows as a message, not a 500
        logger.warning("dead letters unavailable: %s", exc)
        return {"count": None, "latest": []}
