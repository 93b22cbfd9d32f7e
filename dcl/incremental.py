"""What a materialization has to do per view: nothing, publish the changes, or rebuild it whole.

docs/adr/0022-incremental-views.md. Kept in the tenant's DuckDB file beside the views:

- `_dcl_view_state`: per entity, the **signature** of its last publication (everything the view's
  rows are computed from besides the records: its columns, the source table's columns, the
  connections' kinds, the value tables other than the value map, the reporting currency and rates,
  whether accounts exist to link to), the **watermark** (the last consumer transaction, `_txn`, its
  records were read at) and the PostgreSQL data table it was published into;
- `_dcl_view_vm`: the value-map rows of each entity as of its last publication.

`ViewPlanner.plan(entity)` compares those with now:
- `full`: no state, another signature, another data table in the catalog (a view replaced or lost
  elsewhere), `full` asked for, or more records changed than `DCL_INCREMENTAL_MAX_SHARE` of the view
  (a copy of everything and fresh indexes beat an upsert of most rows);
- `skip`: no record written since the watermark, no value decided differently, no account link
  moved: nothing is built, compared or written;
- `delta`: the records changed since the watermark (inserted, updated, deleted: `_txn` > watermark),
  those carrying a value decided differently since (`_dcl_view_vm` against the value map), and those
  whose account link moved (`links_changed`), in `_dirty` (`_connection_id`, `_source_id`) and their
  unified ids in `_dirty_ids`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import duckdb
from django.conf import settings

from . import store
from .reporting import CONVERSIONS, FxContext
from .unify import ViewSpec, cluster_rows_table, per_record_id_sql
from .valuemap import CURRENCY_TABLE, FALLBACK_TABLE, FREE_TEXT_TABLE, VALUE_MAP_TABLE, ValueSql

STATE_TABLE = "_dcl_view_state"
VALUES_SEEN = "_dcl_view_vm"
# Bump when the SQL that computes a view's rows changes: every view is rebuilt once.
FORMAT = 1
DIRTY = "_dirty"
DIRTY_IDS = "_dirty_ids"
# A per-record view's account-id columns (dcl/unify.py `Unifier._link_sql`).
_LINK_COLUMNS = {"contact": ("account_id",), "opportunity": ("account_id",),
                 "cost": ("sub_account_id", "billing_account_id"), "cloud_resource": ()}


@dataclass
class Plan:
    entity: str
    mode: str  # full | delta | skip
    reason: str
    signature: str
    dirty: int = 0  # records (per-record views) changed since the watermark

    def as_dict(self) -> dict:
        return {"mode": self.mode, "reason": self.reason, "dirty": self.dirty}


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"""CREATE TABLE IF NOT EXISTS {STATE_TABLE} (entity VARCHAR PRIMARY KEY, signature VARCHAR NOT NULL,
                    txn BIGINT NOT NULL, data_table VARCHAR NOT NULL)""")
    con.execute(f"""CREATE TABLE IF NOT EXISTS {VALUES_SEEN} (connection_id BIGINT, source_object VARCHAR,
                    entity VARCHAR, field VARCHAR, raw_key VARCHAR, canonical VARCHAR, label VARCHAR,
                    status VARCHAR)""")


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params=()) -> list:
    return [list(r) for r in con.execute(sql, list(params)).fetchall()]


def signature(con: duckdb.DuckDBPyConnection, spec: ViewSpec, *, kinds: dict[int, str], fx: FxContext | None,
              has_accounts: bool, extra: str | None = None) -> str:
    """Everything a view's rows are computed from besides its records and their value map (`extra`:
    more of it, such as the digest of the people's match decisions of an entity-resolved view)."""
    entity = spec.entity
    parts: dict = {
        "format": FORMAT,
        "columns": [[n, str(k)] for n, k in spec.fields.items()],
        "stored": [[n, str(k)] for n, k in spec.stored_fields.items()],
        "per_record": spec.per_record,
        "linked": spec.linked,
        "source": sorted(store.table_columns(con, store.source_table(entity)).items()),
        "kinds": sorted([int(c), str(k)] for c, k in kinds.items()),
        "accounts": has_accounts if spec.linked else None,
    }
    if entity in CONVERSIONS and fx is not None:
        parts["fx"] = [fx.reporting_currency, fx.stamp]
    if extra is not None:
        parts["extra"] = extra
    if spec.values:
        parts["free"] = _rows(con, f"SELECT * FROM {FREE_TEXT_TABLE} WHERE entity = ? ORDER BY ALL", [entity])
        parts["fallback"] = _rows(con, f"SELECT * FROM {FALLBACK_TABLE} WHERE entity = ? ORDER BY ALL", [entity])
        parts["currency"] = _rows(con, f"SELECT * FROM {CURRENCY_TABLE} ORDER BY ALL")
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


class ViewPlanner:
    """Plans each view of one materialization (the writer lock held, after the value stage)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, kinds: dict[int, str], fx: FxContext | None,
                 full: bool = False) -> None:
        self.con = con
        self.kinds = kinds
        self.fx = fx
        self.full = full
        ensure(con)
        self.txn = store.txn_last(con)  # the watermark this materialization reads up to
        self.links_changed = False  # accounts were published with other links (`account_links_diff`)

    def state(self, entity: str) -> tuple[str, int, str] | None:
        found = self.con.execute(f"SELECT signature, txn, data_table FROM {STATE_TABLE} WHERE entity = ?",
                                 [entity]).fetchone()
        return (found[0], int(found[1]), found[2]) if found else None

    def plan(self, spec: ViewSpec, *, has_accounts: bool, data_table: str | None, rows: int | None,
             extra: str | None = None) -> Plan:
        entity = spec.entity
        sig = signature(self.con, spec, kinds=self.kinds, fx=self.fx, has_accounts=has_accounts, extra=extra)
        state = self.state(entity)
        if self.full:
            return Plan(entity, "full", "a full rebuild was asked for", sig)
        if state is None or data_table is None:
            return Plan(entity, "full", "first publication", sig)
        if state[0] != sig:
            return Plan(entity, "full", "the view's shape or inputs changed", sig)
        if state[2] != data_table:
            return Plan(entity, "full", "the published table is not the one last written", sig)
        if spec.per_record and store.relation_kind(self.con, f"view_{store.ident(entity)}") != "VIEW":
            return Plan(entity, "full", "the view's relations are missing", sig)
        if not spec.per_record and store.relation_kind(self.con, f"view_{store.ident(entity)}") != "TABLE":
            return Plan(entity, "full", "the view's table is missing", sig)
        values = self._value_changes(spec)
        table = store.source_table(entity)
        if not spec.per_record:
            written = self.con.execute(f"SELECT count(*) FROM {table} WHERE _txn > ?", [state[1]]).fetchone()[0]
            if not written and not values and not (spec.linked and self.links_changed):
                return Plan(entity, "skip", "nothing changed", sig)
            return Plan(entity, "delta", "records changed", sig, dirty=int(written))
        dirty = self._dirty(spec, since=state[1], values=values)
        if not dirty:
            return Plan(entity, "skip", "nothing changed", sig)
        if rows is not None and dirty > settings.DCL_INCREMENTAL_MAX_SHARE * max(rows, 1):
            return Plan(entity, "full", f"{dirty} of {rows} records changed", sig, dirty=dirty)
        return Plan(entity, "delta", "records changed", sig, dirty=dirty)

    def _value_changes(self, spec: ViewSpec) -> int:
        """`_vm_changed`: the values of `spec`'s entity decided otherwise since its last publication."""
        if not spec.values:
            self.con.execute("CREATE OR REPLACE TEMP TABLE _vm_changed AS "
                             f"SELECT connection_id, source_object, field, raw_key FROM {VALUES_SEEN} WHERE false")
            return 0
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _vm_changed AS
            WITH now AS (SELECT * FROM {VALUE_MAP_TABLE} WHERE entity = $1),
                 seen AS (SELECT * FROM {VALUES_SEEN} WHERE entity = $1)
            SELECT DISTINCT connection_id, source_object, field, raw_key FROM (
                (SELECT * FROM now EXCEPT SELECT * FROM seen) UNION ALL (SELECT * FROM seen EXCEPT SELECT * FROM now))
            """, [spec.entity])
        return int(self.con.execute("SELECT count(*) FROM _vm_changed").fetchone()[0])

    def _dirty(self, spec: ViewSpec, *, since: int, values: int) -> int:
        """`_dirty` and `_dirty_ids` of a per-record view (see the module docstring); their count."""
        entity = spec.entity
        table = store.source_table(entity)
        available = store.table_columns(self.con, table)
        parts = [f"SELECT _connection_id, _source_id FROM {table} WHERE _txn > {int(since)}"]
        if values:
            vsql = ValueSql.duckdb(self.con, entity, spec.values, available)
            for vf in spec.values.values():
                key = vsql.raw_key_sql(vf)
                if key is None:
                    continue
                parts.append(
                    f"SELECT s._connection_id, s._source_id FROM {table} s {vsql.source_joins()} "
                    f"JOIN _vm_changed c ON c.connection_id = s._connection_id AND c.source_object = s._source_object "
                    f"AND c.field = '{vf.name}' AND c.raw_key = {key}")
        if spec.linked and self.links_changed:
            for column in _LINK_COLUMNS.get(entity, ()):
                if column in available:
                    parts.append(f"SELECT _connection_id, _source_id FROM {table} "
                                 f"WHERE {store.quote(column)} IN (SELECT _source_id FROM _acc_changed)")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {DIRTY} AS SELECT DISTINCT * FROM ("
                         + " UNION ALL ".join(parts) + ")")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {DIRTY_IDS} AS "
                         f"SELECT {per_record_id_sql(entity, 'd')} AS unified_id FROM {DIRTY} d")
        return int(self.con.execute(f"SELECT count(*) FROM {DIRTY}").fetchone()[0])

    def published(self, plan: Plan, data_table: str) -> None:
        """Record a publication (after PostgreSQL committed it): its signature, the watermark and the
        value map it was computed with."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"INSERT OR REPLACE INTO {STATE_TABLE} VALUES (?, ?, ?, ?)",
                        [plan.entity, plan.signature, self.txn, data_table])
            con.execute(f"DELETE FROM {VALUES_SEEN} WHERE entity = ?", [plan.entity])
            con.execute(f"INSERT INTO {VALUES_SEEN} SELECT * FROM {VALUE_MAP_TABLE} WHERE entity = ?", [plan.entity])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def forget(self, entity: str) -> None:
        """The view was not published as planned: its next materialization rebuilds it whole."""
        self.con.execute(f"DELETE FROM {STATE_TABLE} WHERE entity = ?", [entity])

    # --- accounts' links -------------------------------------------------------------------

    def account_links_before(self) -> None:
        """Keep the account link tables as they are before accounts are rebuilt."""
        tables = store.existing_tables(self.con)
        for name in ("_acc_link", "_acc_byid"):
            if name in tables:
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE _prev{name} AS SELECT * FROM {name}")
            else:
                self.con.execute(f"DROP TABLE IF EXISTS _prev{name}")

    def account_links_after(self) -> None:
        """`_acc_changed`: the source account ids whose unified account moved in this rebuild (their
        dependents' links are recomputed); sets `links_changed`."""
        tables = {r[0] for r in self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}
        if "_prev_acc_link" not in tables or "_prev_acc_byid" not in tables:
            self.con.execute("CREATE OR REPLACE TEMP TABLE _acc_changed AS SELECT DISTINCT _source_id FROM _acc_link")
        else:
            self.con.execute("""
                CREATE OR REPLACE TEMP TABLE _acc_changed AS
                SELECT DISTINCT _source_id FROM (
                    (SELECT _connection_id, _source_id, unified_id FROM _acc_link
                     EXCEPT SELECT _connection_id, _source_id, unified_id FROM _prev_acc_link)
                    UNION ALL (SELECT _connection_id, _source_id, unified_id FROM _prev_acc_link
                     EXCEPT SELECT _connection_id, _source_id, unified_id FROM _acc_link)
                    UNION ALL (SELECT NULL, _source_id, unified_id FROM _acc_byid
                     EXCEPT SELECT NULL, _source_id, unified_id FROM _prev_acc_byid)
                    UNION ALL (SELECT NULL, _source_id, unified_id FROM _prev_acc_byid
                     EXCEPT SELECT NULL, _source_id, unified_id FROM _acc_byid))""")
        self.links_changed = bool(self.con.execute("SELECT count(*) FROM _acc_changed").fetchone()[0])
        self.con.execute("DROP TABLE IF EXISTS _prev_acc_link")
        self.con.execute("DROP TABLE IF EXISTS _prev_acc_byid")


CLUSTERS_BEFORE = "_er_rows_before"


def clusters_before(con: duckdb.DuckDBPyConnection, entity: str) -> bool:
    """Keep a per-record entity's cluster rows (`cluster_rows_table`) as they were published, before entity
    resolution moves them (`CLUSTERS_BEFORE`); False when there are none to keep (then a delta cannot
    tell which published rows the clusters replace)."""
    table = cluster_rows_table(entity)
    if table not in store.existing_tables(con):
        return False
    con.execute(f"CREATE OR REPLACE TEMP TABLE {CLUSTERS_BEFORE} AS SELECT * FROM {table}")
    return True


def clusters_dirty(con: duckdb.DuckDBPyConnection, entity: str) -> int:
    """Widen a per-record view's `_dirty` and `_dirty_ids` to the clusters entity resolution touched.

    A published row is a cluster's (its survivor's values under the cluster's id), so the ids to replace
    are each changed record's cluster id before and after, and the ids of every cluster whose rows
    differ (a record joined or left, the survivor or a probability changed); the records to rebuild are
    every record of those clusters, before and after — a cluster's row is rebuilt from all its records.
    Returns the number of records to rebuild."""
    rows, before = cluster_rows_table(entity), CLUSTERS_BEFORE
    own = per_record_id_sql(entity, "d")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _dirty_touched AS
        SELECT coalesce(p.unified_id, {own}) AS unified_id FROM {DIRTY} d
            LEFT JOIN {before} p USING (_connection_id, _source_id)
        UNION SELECT coalesce(n.unified_id, {own}) FROM {DIRTY} d LEFT JOIN {rows} n USING (_connection_id, _source_id)
        UNION SELECT unified_id FROM ((SELECT * FROM {before} EXCEPT SELECT * FROM {rows})
                                      UNION ALL (SELECT * FROM {rows} EXCEPT SELECT * FROM {before}))""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _dirty_wide AS
        SELECT _connection_id, _source_id FROM {DIRTY}
        UNION SELECT _connection_id, _source_id FROM {before} SEMI JOIN _dirty_touched USING (unified_id)
        UNION SELECT _connection_id, _source_id FROM {rows} SEMI JOIN _dirty_touched USING (unified_id)""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {DIRTY} AS SELECT * FROM _dirty_wide")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {DIRTY_IDS} AS SELECT unified_id FROM _dirty_touched")
    for table in ("_dirty_wide", "_dirty_touched", before):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return int(con.execute(f"SELECT count(*) FROM {DIRTY}").fetchone()[0])


def merged_delta(con: duckdb.DuckDBPyConnection, entity: str) -> int:
    """After a merged view was rebuilt over its previous table `_prev_view_<entity>`: `_delta` (its rows
    that are new or differ) and `_dirty_ids` (their ids and those of the entities gone); the count of both."""
    view, prev = f"view_{store.ident(entity)}", f"_prev_view_{store.ident(entity)}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _delta AS SELECT * FROM {view} EXCEPT SELECT * FROM {prev}")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {DIRTY_IDS} AS
                    SELECT unified_id FROM _delta
                    UNION SELECT unified_id FROM (
                        SELECT unified_id FROM {prev} EXCEPT SELECT unified_id FROM {view})""")
    return int(con.execute(f"SELECT count(*) FROM {DIRTY_IDS}").fetchone()[0])
