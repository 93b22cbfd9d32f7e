"""The history step of a materialization: the changed versions of a tracked view, DuckDB → PostgreSQL.

`history_record(con, entity=, spec=, at=)` runs right after the view `view_<entity>` is built in
DuckDB (dcl/services.py `views_materialize`, writer lock held), for the entities that have a
history model (`HISTORY_MODELS`); any other entity is a no-op.

In the tenant's DuckDB file, per tracked entity:
- `_hist_state_<entity>`: the open (current) version of every unified entity ever seen: its
  version number, when it started, whether it is a deletion, and the hash of its tracked values
  (DuckDB's `hash()` of the values cast to their canonical types); no values: PostgreSQL has them;
- `_hist_outbox_<entity>`: versions decided here and not yet published to PostgreSQL, with values;
- `_hist_meta`: per entity, the signature (DuckDB's version and the tracked columns with their
  types) the stored hashes were computed under.

1. **Compare.** One query joins the view's hashes with the open versions: an entity that is new,
   whose hash differs, or that comes back after a deletion gets a version; an open, not deleted
   entity the view no longer has gets a closing version marked `deleted`. Nothing else is written:
   a sync with no change writes no history row anywhere.
2. **Commit in DuckDB.** The new versions go to the outbox and replace their entities' open
   versions in the state, in one DuckDB transaction.
3. **Publish.** The outbox is copied (binary COPY of Arrow batches) into a temporary table, then
   one PostgreSQL transaction inserts the versions (`ON CONFLICT DO NOTHING` on (unified_id,
   version)), sets `valid_to` of each one's previous version and gives a deletion its previous
   version's values; then the outbox is emptied. A crash between the two commits leaves the outbox
   full and the next run publishes it again: the insert skips what is there and the close finds
   nothing open. So PostgreSQL is a published copy of the history DuckDB decided, as the cursors
   are (ADR 0013), never half of a run's versions.

A state that is missing (a new DuckDB file, the tables dropped) or whose signature is not the
current one (an upgrade of DuckDB, whose `hash()` may change; a tracked column added) is rebuilt
from PostgreSQL's open versions, hashed anew, after the outbox is published: versions continue where
they were instead of colliding with version 1, and a new hash function never shows as a change of
every entity.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa
from django.db import connection as pg_connection
from django.db import models, transaction
from pgpq import ArrowToPostgresBinaryEncoder

from aam.ingest.kinds import ARROW_TYPES, Kind

from .. import store
from ..models import AccountHistory, EntityHistory, OpportunityHistory
from ..pgsync import FlushingWriter
from ..unify import DUCK_TYPES, ViewSpec

logger = logging.getLogger(__name__)

HISTORY_MODELS: dict[str, type[EntityHistory]] = {m.entity: m for m in (OpportunityHistory, AccountHistory)}
# The view column holding the source's own modification time of a record (its freshest, when merged).
SOURCE_UPDATED_AT = "updated_at"
BATCH_ROWS = 16_384
_MODEL_KINDS: dict[type[models.Field], Kind] = {
    models.TextField: Kind.STRING,
    models.DecimalField: Kind.DECIMAL,
    models.DateField: Kind.DATE,
    models.DateTimeField: Kind.DATETIME,
    models.BooleanField: Kind.BOOLEAN,
    models.BigIntegerField: Kind.INTEGER,
}
# The columns every version carries besides the tracked ones, as published (PositiveIntegerField is
# PostgreSQL's integer: int32 on the wire).
_BASE = {"unified_id": pa.string(), "version": pa.int32(), "valid_from": ARROW_TYPES[Kind.DATETIME],
         "deleted": pa.bool_(), "source_updated_at": ARROW_TYPES[Kind.DATETIME]}


@dataclass
class HistoryStep:
    """What one history step did for one entity."""

    entity: str
    versions: int = 0  # versions this run decided (new, changed, deleted, back)
    deleted: int = 0  # of which closing versions of entities that left
    published: int = 0  # versions inserted into PostgreSQL (the run's and any left over by a crash)
    compare_seconds: float = 0.0
    commit_seconds: float = 0.0
    publish_seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"entity": self.entity, "versions": self.versions, "deleted": self.deleted,
                "published": self.published, "compare_seconds": round(self.compare_seconds, 3),
                "commit_seconds": round(self.commit_seconds, 3), "publish_seconds": round(self.publish_seconds, 3)}


def tracked_columns(entity: str) -> dict[str, Kind]:
    """The tracked columns of `entity`'s history → their kind: the history model's own fields."""
    model = HISTORY_MODELS[entity]
    return {f.name: _MODEL_KINDS[type(f)] for f in model._meta.concrete_fields
            if f.name not in EntityHistory.BASE_FIELDS}


def _state(entity: str) -> str:
    return f"_hist_state_{store.ident(entity)}"


def _outbox(entity: str) -> str:
    return f"_hist_outbox_{store.ident(entity)}"


def _hash(columns: dict[str, Kind], alias: str) -> str:
    return "hash(" + ", ".join(f"CAST({alias}.{store.quote(c)} AS {DUCK_TYPES[k]})" for c, k in columns.items()) + ")"


def _signature(columns: dict[str, Kind]) -> str:
    return f"duckdb {duckdb.__version__}; " + ", ".join(f"{c} {DUCK_TYPES[k]}" for c, k in columns.items())


def _pg_table(entity: str) -> str:
    schema = pg_connection.schema_name
    return f"{store.quote(schema)}.{store.quote(HISTORY_MODELS[entity]._meta.db_table)}"


def _ensure(con: duckdb.DuckDBPyConnection, entity: str, columns: dict[str, Kind]) -> None:
    """The outbox exists with every tracked column, and the state with hashes of this signature:
    a missing state, or one of another signature, is rebuilt from PostgreSQL's open versions."""
    state, outbox = _state(entity), _outbox(entity)
    tables = store.existing_tables(con)
    con.execute("CREATE TABLE IF NOT EXISTS _hist_meta (entity VARCHAR PRIMARY KEY, signature VARCHAR NOT NULL)")
    defs = "".join(f", {store.quote(c)} {DUCK_TYPES[k]}" for c, k in columns.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {outbox} (unified_id VARCHAR NOT NULL, version INTEGER NOT NULL, "
                f"valid_from TIMESTAMPTZ NOT NULL, deleted BOOLEAN NOT NULL, source_updated_at TIMESTAMPTZ{defs})")
    have = store.table_columns(con, outbox)
    for c, k in columns.items():
        if c not in have:  # a column the model started tracking
            con.execute(f"ALTER TABLE {outbox} ADD COLUMN {store.quote(c)} {DUCK_TYPES[k]}")
    signature = _signature(columns)
    stored = con.execute("SELECT signature FROM _hist_meta WHERE entity = ?", [entity]).fetchone()
    if state in tables and stored is not None and stored[0] == signature:
        return
    # A new state (a new file, the tables dropped) or hashes of another signature: the state is
    # rebuilt from PostgreSQL's open versions, once whatever the outbox still holds is there.
    _publish(con, entity, columns)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE OR REPLACE TABLE {state} (unified_id VARCHAR NOT NULL, version INTEGER NOT NULL, "
                    "valid_from TIMESTAMPTZ NOT NULL, h UBIGINT, deleted BOOLEAN NOT NULL)")
        _seed_from_pg(con, entity, columns)
        con.execute("INSERT OR REPLACE INTO _hist_meta VALUES (?, ?)", [entity, signature])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _seed_from_pg(con: duckdb.DuckDBPyConnection, entity: str, columns: dict[str, Kind]) -> int:
    """Load PostgreSQL's open versions into the (empty) state table, hashed here; returns how many."""
    names = ["unified_id", "version", "valid_from", "deleted", *columns]
    schema = pa.schema([*(pa.field(n, _BASE[n]) for n in names[:4]), *(pa.field(c, ARROW_TYPES[k])
                                                                            for c, k in columns.items())])
    select = ", ".join(store.quote(n) for n in names)
    loaded = 0
    with pg_connection.cursor() as cur:
        cur.execute(f"SELECT {select} FROM {_pg_table(entity)} WHERE valid_to IS NULL")
        while rows := cur.fetchmany(50_000):
            columns_of = zip(*rows, strict=True)
            arrays = [pa.array(col, type=f.type) for col, f in zip(columns_of, schema, strict=True)]
            table = pa.Table.from_arrays(arrays, schema=schema)
            con.register("_hist_seed", table)
            try:
                con.execute(f"INSERT INTO {_state(entity)} (unified_id, version, valid_from, deleted, h) "
                            f"SELECT unified_id, version, valid_from, deleted, {_hash(columns, '_hist_seed')} "
                            "FROM _hist_seed")
            finally:
                con.unregister("_hist_seed")
            loaded += len(rows)
    if loaded:
        logger.info("history of %s: state seeded from PostgreSQL's %d open versions", entity, loaded)
    return loaded


def _compare(con: duckdb.DuckDBPyConnection, entity: str, spec: ViewSpec, columns: dict[str, Kind],
             at: datetime, *, view: str | None = None, only: str | None = None) -> tuple[int, int]:
    """The versions this run decides, in the temporary table `_hist_diff`: (versions, deletions).
    `view`: the relation holding the view's rows (`view_<entity>`); `only`: a relation of the unified
    ids to compare (the entities an incremental publication touched; an id absent from `view` is
    deleted), all when None."""
    state = _state(entity)
    if only is not None:
        state = f"(SELECT * FROM {state} WHERE unified_id IN (SELECT unified_id FROM {only}))"
    relation = view or f"view_{store.ident(entity)}"
    view = [f"CAST(v.{store.quote(c)} AS {DUCK_TYPES[k]})" if c in spec.fields else f"NULL::{DUCK_TYPES[k]}"
            for c, k in columns.items()]
    updated = (f"CAST(v.{SOURCE_UPDATED_AT} AS TIMESTAMPTZ)" if spec.fields.get(SOURCE_UPDATED_AT) == Kind.DATETIME
               else "NULL::TIMESTAMPTZ")
    at_sql = f"'{at.isoformat()}'::TIMESTAMPTZ"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _hist_diff AS
        WITH cur AS (
            SELECT v.unified_id, {", ".join(f"{e} AS {store.quote(c)}" for e, c in zip(view, columns, strict=True))},
                   {updated} AS source_updated_at
            FROM {relation} v {f"WHERE v.unified_id IN (SELECT unified_id FROM {only})" if only else ""}
        ), c AS (SELECT cur.*, {_hash(columns, "cur")} AS h FROM cur)
        SELECT coalesce(c.unified_id, s.unified_id) AS unified_id,
               coalesce(s.version, 0) + 1 AS version,
               -- never before the version it follows (a clock set back)
               greatest({at_sql}, coalesce(s.valid_from, {at_sql})) AS valid_from,
               c.unified_id IS NULL AS deleted,
               CASE WHEN c.unified_id IS NULL THEN s.h ELSE c.h END AS h,
               {", ".join(f"c.{store.quote(n)}" for n in columns)},  -- a deletion's come from its last version
               c.source_updated_at
        FROM c FULL JOIN {state} s ON s.unified_id = c.unified_id
        WHERE CASE WHEN c.unified_id IS NULL THEN NOT s.deleted
                   WHEN s.unified_id IS NULL THEN true
                   ELSE s.deleted OR c.h <> s.h END""")
    versions, deletions = con.execute("SELECT count(*), count(*) FILTER (WHERE deleted) FROM _hist_diff").fetchone()
    return int(versions), int(deletions)


def _commit(con: duckdb.DuckDBPyConnection, entity: str, columns: dict[str, Kind]) -> None:
    """The new versions into the outbox and in place of their entities' open versions (one transaction)."""
    tracked = "".join(f", {store.quote(c)}" for c in columns)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"INSERT INTO {_outbox(entity)} (unified_id, version, valid_from, deleted, source_updated_at"
                    f"{tracked}) SELECT unified_id, version, valid_from, deleted, source_updated_at{tracked} "
                    "FROM _hist_diff")
        con.execute(f"DELETE FROM {_state(entity)} WHERE unified_id IN (SELECT unified_id FROM _hist_diff)")
        con.execute(f"INSERT INTO {_state(entity)} (unified_id, version, valid_from, h, deleted) "
                    "SELECT unified_id, version, valid_from, h, deleted FROM _hist_diff")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _publish(con: duckdb.DuckDBPyConnection, entity: str, columns: dict[str, Kind]) -> int:
    """The outbox into PostgreSQL in one transaction, then emptied; returns the versions inserted.

    The versions are copied into a temporary table, inserted (`ON CONFLICT DO NOTHING`: a publish
    repeated after a crash skips what is there), each one's previous version closed, and a
    deletion given its previous version's values. A first publish into an empty table (only first
    versions) is copied straight into it."""
    outbox = _outbox(entity)
    count, later = con.execute(f"SELECT count(*), count(*) FILTER (WHERE version > 1) FROM {outbox}").fetchone()
    if not count:
        return 0
    names = [*_BASE, *columns]
    target = pa.schema([*(pa.field(n, t) for n, t in _BASE.items()),
                        *(pa.field(c, ARROW_TYPES[k]) for c, k in columns.items())])
    listed = ", ".join(store.quote(n) for n in names)
    tracked = ", ".join(f"{store.quote(c)} = p.{store.quote(c)}" for c in columns)
    table = _pg_table(entity)
    with transaction.atomic(), pg_connection.cursor() as cur:
        cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")
        straight = not later and not cur.fetchone()[0]
        into = table if straight else "_dcl_history_in"
        if not straight:
            cur.execute("DROP TABLE IF EXISTS pg_temp._dcl_history_in")
            cur.execute(f"CREATE TEMP TABLE _dcl_history_in AS SELECT {listed} FROM {table} WITH NO DATA")
        _copy(con, cur, f"SELECT {listed} FROM {outbox} ORDER BY unified_id, version", target,
              f"COPY {into} ({listed}) FROM STDIN (FORMAT binary)")
        if straight:
            inserted = int(count)
        else:
            cur.execute("ANALYZE _dcl_history_in")
            cur.execute(f"INSERT INTO {table} ({listed}) SELECT {listed} FROM _dcl_history_in "
                        "ON CONFLICT (unified_id, version) DO NOTHING")
            inserted = max(cur.rowcount, 0)
            cur.execute(f"UPDATE {table} h SET valid_to = i.valid_from FROM _dcl_history_in i "
                        "WHERE i.version > 1 AND h.unified_id = i.unified_id AND h.version = i.version - 1 "
                        "AND h.valid_to IS NULL")
            cur.execute(f"UPDATE {table} h SET {tracked} FROM _dcl_history_in i, {table} p "
                        "WHERE i.deleted AND h.unified_id = i.unified_id AND h.version = i.version "
                        "AND p.unified_id = i.unified_id AND p.version = i.version - 1")
            cur.execute("DROP TABLE _dcl_history_in")
    _outbox_clear(con, entity)
    return inserted


def _outbox_clear(con: duckdb.DuckDBPyConnection, entity: str) -> None:
    """Empty the outbox once PostgreSQL committed it (a crash before this publishes it again)."""
    con.execute(f"DELETE FROM {_outbox(entity)}")


def _copy(con: duckdb.DuckDBPyConnection, cur, query: str, target: pa.Schema, statement: str) -> None:
    """DuckDB's `query` into PostgreSQL by binary COPY `statement`, Arrow batch by batch."""
    reader = con.execute(query).fetch_record_batch(BATCH_ROWS)
    encoder = ArrowToPostgresBinaryEncoder(target)
    raw = cur.cursor  # psycopg's own cursor: Django's wrapper has no copy()
    with raw.copy(statement, writer=FlushingWriter(raw)) as copy:
        copy.write(encoder.write_header())
        for batch in reader:
            copy.write(encoder.write_batch(batch if batch.schema == target else batch.cast(target)))
        copy.write(encoder.finish())


def history_record(con: duckdb.DuckDBPyConnection, *, entity: str, spec: ViewSpec, at: datetime,
                   view: str | None = None, only: str | None = None) -> HistoryStep | None:
    """Record the versions `view_<entity>` (just built in `con`, the writer lock held, inside the
    tenant's schema) holds that its history does not, at time `at`; None for an untracked entity.
    An incremental publication passes `view` (the relation of the changed rows) and `only` (a relation
    of the unified ids it touched: only those are compared, `_compare`)."""
    if entity not in HISTORY_MODELS:
        return None
    columns = tracked_columns(entity)
    step = HistoryStep(entity)
    started = time.monotonic()
    _ensure(con, entity, columns)
    try:
        step.versions, step.deleted = _compare(con, entity, spec, columns, at, view=view, only=only)
        compared = time.monotonic()
        step.compare_seconds = compared - started
        if step.versions:
            _commit(con, entity, columns)
        committed = time.monotonic()
        step.commit_seconds = committed - compared
    finally:
        con.execute("DROP TABLE IF EXISTS _hist_diff")
    step.published = _publish(con, entity, columns)
    step.publish_seconds = time.monotonic() - committed
    if step.versions or step.published:
        logger.info("history of %s: %s", entity, step.as_dict())
    return step
