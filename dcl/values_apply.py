"""A person decided what a value means (aam.values.review): update ONLY the view rows that carry it.

Not a rebuild: the value map is changed in DuckDB's `_dcl_value_map` and in its PostgreSQL mirror;
a merged view (a DuckDB table) gets an UPDATE of its rows whose `_vk_F` is that value, and the same
rows, read back from DuckDB, are UPDATEd in the PostgreSQL data table behind `dcl_view_<entity>`. A
per-record view computes its values from the maps when it is read, in DuckDB and in PostgreSQL
(`ViewSpec.read_time_values`): no row is rewritten, the rows carrying the value show it at once.
Either way the catalog's version moves on so the page and count caches let go of the old rows.
Registered with aam in dcl/apps.py.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.conf import settings
from django.db import connection as pg_connection
from django.db import transaction

from aam.ingest.kinds import kind_for
from aam.ingest.schema import ontology_entities

from . import store
from .page_cache import publish_view_stamp
from .pgsync import PG_TYPES, _q
from .unify import view_spec
from .valuemap import STATUS_MAPPED, VALUE_MAP_TABLE, ValueField, ensure_tables, pg_map_update, value_key

logger = logging.getLogger(__name__)


def _map_update(con, vm) -> None:
    params = [vm.canonical, vm.status, vm.connection_id, vm.source_object, vm.entity, vm.field, vm.raw_key]
    updated = con.execute(
        f"UPDATE {VALUE_MAP_TABLE} SET canonical = ?, status = ? WHERE connection_id = ? AND source_object = ? "
        "AND entity = ? AND field = ? AND raw_key = ? RETURNING 1", params
    ).fetchall()
    if not updated:
        con.execute(
            f"INSERT INTO {VALUE_MAP_TABLE} (connection_id, source_object, entity, field, raw_key, canonical, label, "
            "status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [vm.connection_id, vm.source_object, vm.entity, vm.field, vm.raw_key, vm.canonical, vm.label, vm.status],
        )


def _is_table(con, name: str) -> bool:
    return name in store.existing_tables(con)


def _duck_update_table(con, view: str, vf: ValueField, keys: list[str], spec_kind) -> None:
    """A merged view is a table: its rows carrying these values take the value map's answer."""
    from .valuemap import _canonical_cast

    key = store.quote(vf.key_column)
    value = _canonical_cast(spec_kind, "m.canonical")
    con.execute(
        f"UPDATE {view} SET {store.quote(vf.name)} = CASE WHEN m.status = '{STATUS_MAPPED}' THEN {value} END, "
        f"{store.quote(vf.status_column)} = m.status "
        f"FROM (SELECT connection_id || chr(31) || source_object || chr(31) || raw_key AS k, canonical, status "
        f"      FROM {VALUE_MAP_TABLE} WHERE entity = ? AND field = ?) m "
        f"WHERE {view}.{key} = m.k AND m.k IN (SELECT unnest(?::VARCHAR[]))",
        [view.removeprefix("view_"), vf.name, keys],
    )


def _stored_columns(cur, schema: str, table: str) -> set[str]:
    cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                [schema, table])
    return {r[0] for r in cur.fetchall()}


def value_maps_apply(*, tenant, value_maps) -> dict[str, int]:
    """Update the view rows carrying these values; {entity: rows of its PostgreSQL view that now show them}
    (rewritten in a data table that stores the value columns, computed at read time otherwise)."""
    from .models import MaterializedView

    if not value_maps:
        return {}
    fields = ontology_entities()
    wanted: dict[tuple[str, str], list] = defaultdict(list)
    for vm in value_maps:
        wanted[(vm.entity, vm.field)].append(vm)
    # the value columns each PostgreSQL data table stores (a per-record one computes them at read time)
    stored: dict[str, set[str]] = {}
    with pg_connection.cursor() as cur:
        for entity, table in MaterializedView.objects.filter(
                entity__in={e for e, _ in wanted}).values_list("entity", "data_table"):
            stored[entity] = _stored_columns(cur, tenant.schema_name, table)
    changed: dict[str, list[tuple[ValueField, list[tuple] | int, object]]] = defaultdict(list)
    with store.WriterLock(tenant, timeout=settings.DCL_VALUE_APPLY_LOCK_SECONDS):
        con = store.connect(tenant)
        try:
            ensure_tables(con)
            for vm in value_maps:
                _map_update(con, vm)
            for (entity, field), vms in wanted.items():
                if entity not in fields:
                    continue
                spec = view_spec(entity, {f: kind_for(t) for f, t in fields[entity].items()})
                vf = spec.values.get(field)
                view = f"view_{store.ident(entity)}"
                present = {c for c in store.table_columns(con, view)} or _view_columns(con, view)
                if vf is None or vf.key_column not in present:
                    continue  # not materialized (with canonical values) yet: the next materialization shows it
                keys = [value_key(vm.connection_id, vm.source_object, vm.raw_key) for vm in vms]
                if _is_table(con, view):
                    _duck_update_table(con, view, vf, keys, spec.fields[vf.name])
                carrying = f"FROM {view} WHERE {store.quote(vf.key_column)} IN (SELECT unnest(?::VARCHAR[]))"
                if vf.status_column in stored.get(entity, ()):
                    # the rows to rewrite in PostgreSQL, as DuckDB's view now has them
                    found = con.execute(f"SELECT unified_id, CAST({store.quote(vf.name)} AS VARCHAR), "
                                        f"{store.quote(vf.status_column)} {carrying}", [keys]).fetchall()
                else:
                    found = con.execute(f"SELECT count(*) {carrying}", [keys]).fetchone()[0]
                changed[entity].append((vf, found, spec.fields[vf.name]))
        finally:
            con.close()
    out: dict[str, int] = {}
    with transaction.atomic(), pg_connection.cursor() as cur:
        pg_map_update(cur, tenant.schema_name, [
            (vm.connection_id, vm.source_object, vm.entity, vm.field, vm.raw_key, vm.canonical, vm.label, vm.status)
            for vm in value_maps])
    for entity, updates in changed.items():
        view = MaterializedView.objects.filter(entity=entity).first()
        if view is None:
            continue
        touched = 0
        with transaction.atomic():
            with pg_connection.cursor() as cur:
                for vf, rows, kind in updates:
                    if isinstance(rows, int):
                        touched += rows  # the view computes it from the mirror just updated: none rewritten
                        continue
                    if not rows:
                        continue
                    ids, values, states = (list(c) for c in zip(*rows, strict=True))
                    pg_type = PG_TYPES[kind]
                    cur.execute(
                        f"UPDATE {_q(tenant.schema_name)}.{_q(view.data_table)} AS t "
                        f"SET {_q(vf.name)} = u.v::{pg_type}, {_q(vf.status_column)} = u.s "
                        "FROM unnest(%s::text[], %s::text[], %s::text[]) AS u(id, v, s) WHERE t.unified_id = u.id",
                        [ids, values, states],
                    )
                    touched += cur.rowcount
            view = MaterializedView.objects.select_for_update().get(pk=view.pk)
            view.version += 1
            view.save(update_fields=["version"])
            transaction.on_commit(lambda e=entity, v=view.version, t=view.materialized_at: publish_view_stamp(
                tenant, e, v, t))
        out[entity] = touched
    return out


def _view_columns(con, view: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND table_name = ?",
        [view],
    ).fetchall()
    return {r[0] for r in rows}
