"""The DCL stream consumer: Redis Streams → the tenant's DuckDB file, each batch exactly once.

Per read (many batches, one DuckDB transaction):
1. parse entries; malformed ones (or ones claiming another tenant) go to the dead-letter stream;
2. skip batch ids already applied — a Redis sorted set is the fast path, the `_dcl_batches` ledger
   in DuckDB is the truth;
3. in ONE transaction: per entity, delete the rows these batches replace (connection + source id),
   insert the new rows from Arrow (bulk, never row by row), record the batch ids and the cursors
   the batches carry (`_dcl_cursors`, cursors.py); commit;
4. publish the committed cursors to `Connection.cursor` (where the next read resumes);
5. XACK only then, and trim what every group has acknowledged.

A crash anywhere leaves either nothing (rolled back: the entries are still pending and are
reclaimed with XAUTOCLAIM by the next consumer) or a committed transaction whose entries are not
yet acknowledged (redelivered, found in the ledger, acknowledged without effect). One consumer
per tenant at a time (the caller holds `store.WriterLock`), so every pending entry not ours is an
orphan of a dead consumer and is reclaimed at once, oldest first, before new entries.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import redis
from django.conf import settings

from aam.ingest.batches import BatchMessage
from aam.streams import binary_redis, group_ensure, group_name, stream_key, streams_registry_key, trim_acknowledged
from autonomos.core import redis_names
from autonomos.core.events import publish_event

from . import cursors, store

logger = logging.getLogger(__name__)

# DuckDB errors that mean "this batch's data cannot be written" (dead-letter it), as opposed to
# "the store cannot write now" (stop; the entries stay pending and are retried).
_DATA_ERRORS = (
    duckdb.ConversionException,
    duckdb.BinderException,
    duckdb.ConstraintException,
    duckdb.InvalidInputException,
    duckdb.TypeMismatchException,
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    ValueError,
    KeyError,
)


STOP_POLL_MS = 100  # the longest a read blocks when the consumer can be stopped (ConsumerBeside)


def applied_key(tenant) -> str:
    return redis_names.applied_batches(tenant)


def dead_letter_key(tenant) -> str:
    return redis_names.dead_letters(tenant)


@dataclass
class ConsumeResult:
    batches: int = 0
    records: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    reclaimed: int = 0
    superseded: int = 0  # incoming rows a newer tombstone (or a newer re-insert) won over
    # what the applied rows changed (each batch's share is kept in its ledger row: _changes)
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    transactions: int = 0
    entities: set[str] = field(default_factory=set)
    connection_ids: set[int] = field(default_factory=set)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # where the time went

    def as_dict(self) -> dict:
        return {
            "batches": self.batches,
            "records": self.records,
            "duplicates": self.duplicates,
            "dead_lettered": self.dead_lettered,
            "reclaimed": self.reclaimed,
            "superseded": self.superseded,
            "inserted": self.inserted,
            "updated": self.updated,
            "deleted": self.deleted,
            "transactions": self.transactions,
            "entities": sorted(self.entities),
            "connection_ids": sorted(self.connection_ids),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


@dataclass
class _Entry:
    key: str
    entry_id: bytes
    fields: dict
    message: BatchMessage | None = None
    error: str | None = None


def _one_chunk_per_thread(table: pa.Table) -> pa.Table:
    """The transaction's rows as one contiguous chunk per DuckDB thread.

    DuckDB's Arrow scan costs ~0.1 ms per record batch, and a scan of a transaction's hundreds of
    200-record batches also left its rows in small, WAL-logged row groups that the next checkpoint
    compressed again (bench_ingest: half the consumer's CPU). One chunk per thread keeps the insert
    parallel: each thread takes one (1M records: 4.2 s → 2.7 s, for the same CPU)."""
    table = table.combine_chunks()
    size = max(1, -(-table.num_rows // max(1, settings.DCL_DUCKDB_THREADS)))
    return pa.Table.from_batches(table.to_batches(max_chunksize=size), schema=table.schema)


class StreamConsumer:
    """Drains a tenant's streams into its DuckDB file. The caller holds the tenant's WriterLock."""

    def __init__(
        self,
        tenant,
        con: duckdb.DuckDBPyConnection,
        *,
        connection_ids=None,
        client: redis.Redis | None = None,
        read_count: int | None = None,
        block_ms: int | None = None,
    ) -> None:
        self.tenant = tenant
        self.tenant_id = str(tenant.tenant_id)
        self.con = con
        self.r = client or binary_redis()
        self.group = group_name(tenant)
        self.name = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"
        self.connection_ids = [int(c) for c in connection_ids] if connection_ids else None
        self.read_count = read_count or settings.DCL_READ_COUNT
        self.block_ms = block_ms or settings.DCL_READ_BLOCK_MS
        self.result = ConsumeResult()
        self._last_event = 0.0
        self._pending_event: dict[str, int] = defaultdict(int)
        self._known_keys: list[str] = []
        self._bounds: dict[tuple[str, int], tuple[str | None, str | None]] = {}
        self._cursors_committed = False  # a commit wrote cursors not yet published
        cursors.table_ensure(con)

    # --- streams ---------------------------------------------------------------------------

    def keys(self) -> list[str]:
        if self.connection_ids is not None:
            ids = self.connection_ids
        else:
            ids = sorted(int(m) for m in self.r.smembers(streams_registry_key(self.tenant)))
        keys = [stream_key(self.tenant, cid) for cid in ids]
        for key in keys:
            if key not in self._known_keys:
                group_ensure(self.r, key, self.group)
                self._known_keys.append(key)
        return keys

    def _read(self, keys: list[str], block_ms: int | None) -> list[_Entry]:
        if not keys:
            if block_ms:
                time.sleep(block_ms / 1000)
            return []
        try:
            reply = self.r.xreadgroup(
                self.group, self.name, {k: ">" for k in keys}, count=self.read_count, block=block_ms
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream or group vanished (a Redis restart without persistence): start it again.
            self._known_keys.clear()
            self.keys()
            return []
        entries = []
        for key, items in reply or []:
            key = key.decode() if isinstance(key, bytes) else key
            entries.extend(_Entry(key, eid, fields) for eid, fields in items if fields)
        return entries

    def reclaim(self) -> int:
        """Take over every entry a dead consumer left pending and apply it (oldest first)."""
        total = 0
        for key in self.keys():
            start = "0-0"
            while True:
                try:
                    reply = self.r.xautoclaim(
                        key, self.group, self.name, min_idle_time=0, start_id=start, count=self.read_count
                    )
                except redis.ResponseError as exc:
                    if "NOGROUP" in str(exc):
                        break
                    raise
                start, claimed = reply[0], reply[1]
                entries = [_Entry(key, eid, fields) for eid, fields in claimed if fields]
                if entries:
                    total += len(entries)
                    self.apply(entries)
                if start in (b"0-0", "0-0"):
                    break
        self._forget_idle_consumers()
        self.result.reclaimed += total
        return total

    def _forget_idle_consumers(self) -> None:
        for key in self._known_keys:
            try:
                for info in self.r.xinfo_consumers(key, self.group):
                    name = info.get("name")
                    name = name.decode() if isinstance(name, bytes) else name
                    if name != self.name and not info.get("pending"):
                        self.r.xgroup_delconsumer(key, self.group, name)
            except redis.ResponseError:
                continue

    # --- applying --------------------------------------------------------------------------

    def _parse(self, entries: list[_Entry]) -> None:
        for e in entries:
            try:
                e.message = BatchMessage.from_fields(e.fields)
            except (ValueError, KeyError, TypeError) as exc:
                e.error = f"malformed batch entry: {exc}"
                continue
            expected = stream_key(self.tenant, e.message.header.connection_id)
            if e.message.header.tenant_id != self.tenant_id or expected != e.key:
                e.error = "batch names another tenant or connection than its stream"
                e.message = None

    def _already_applied(self, batch_ids: list[str]) -> set[str]:
        if not batch_ids:
            return set()
        found: set[str] = set()
        try:
            scores = self.r.zmscore(applied_key(self.tenant), batch_ids)
            found = {b for b, s in zip(batch_ids, scores, strict=True) if s is not None}
        except redis.RedisError:
            logger.warning("idempotency fast path unavailable", exc_info=True)
        rest = [b for b in batch_ids if b not in found]
        if rest:
            ids = pa.table({"batch_id": pa.array(rest, pa.string())})
            self.con.register("_probe", ids)
            try:
                found |= {
                    row[0]
                    for row in self.con.execute(
                        "SELECT b.batch_id FROM _dcl_batches b JOIN _probe p USING (batch_id)"
                    ).fetchall()
                }
            finally:
                self.con.unregister("_probe")
        return found

    def apply(self, entries: list[_Entry]) -> None:
        """Apply entries (any mix of streams, entities, duplicates), then acknowledge them all."""
        self._parse(entries)
        good = [e for e in entries if e.message is not None]
        applied = self._already_applied(sorted({e.message.batch_id for e in good}))
        fresh: list[_Entry] = []
        seen: set[str] = set()
        for e in good:
            if e.message.batch_id in applied or e.message.batch_id in seen:
                self.result.duplicates += 1
                continue
            seen.add(e.message.batch_id)
            fresh.append(e)
        if fresh:
            self._write_isolating_poison(fresh)
        if self._cursors_committed:
            self.publish_cursors()
        dead = [e for e in entries if e.error is not None]
        if dead:
            self._dead_letter(dead)
        self._ack(entries)
        if fresh:
            self._remember([e.message.batch_id for e in fresh if e.error is None])

    def _write_isolating_poison(self, fresh: list[_Entry]) -> None:
        try:
            self._write(fresh)
        except _DATA_ERRORS as exc:
            if len(fresh) == 1:
                fresh[0].error = f"cannot be written: {exc.__class__.__name__}: {str(exc)[:500]}"
                return
            # One bad batch must not hold back the others: apply them one by one.
            logger.warning("a batch of %d failed (%s); applying one by one", len(fresh), exc)
            for e in fresh:
                self._write_isolating_poison([e])

    def publish_cursors(self) -> dict:
        """Publish committed cursors to their connections (cursors.py); {(connection, object): cursor}.
        PostgreSQL away does not stop the consumer: the cursors stay committed and unpublished, and
        are tried again after the next commit (and by the next consumer)."""
        try:
            published = cursors.cursors_publish(self.con, self.tenant)
        except Exception:  # noqa: BLE001 - the data is safe; only the published copy lags
            logger.warning("committed cursors of tenant %s not published", self.tenant_id, exc_info=True)
            self._cursors_committed = True
            return {}
        self._cursors_committed = False
        return published

    def _write(self, fresh: list[_Entry]) -> None:
        by_entity: dict[str, list[_Entry]] = defaultdict(list)
        carried: dict[tuple[int, str], tuple] = {}
        removed = store.removed_connections(self.con)
        empty = []  # batches without rows (cursor carriers): only their ledger entry and cursor
        for e in fresh:
            if e.message.header.connection_id in removed:
                # a batch of a connection deleted with its data (dcl/services.py connection_records_remove),
                # still in its stream: recorded as applied, its rows dropped
                empty.append(e)
                continue
            by_entity[e.message.header.entity].append(e)
            # In stream order: a later page's cursor replaces an earlier one's.
            for object_name, cursor in (e.message.header.cursors or {}).items():
                entry = e.entry_id.decode() if isinstance(e.entry_id, bytes) else str(e.entry_id)
                carried[(e.message.header.connection_id, object_name)] = (cursor, e.message.batch_id, entry)
        now = datetime.now(UTC)
        staged = []
        for entity, group in by_entity.items():
            store.ident(entity)
            tables, positions = [], []
            for i, e in enumerate(group):
                t = e.message.table()
                if t.num_rows != e.message.count or "_source_id" not in t.column_names:
                    raise ValueError(f"batch {e.message.batch_id}: payload does not match its header")
                tables.append(t)
                positions.extend([i] * t.num_rows)
            if not positions:
                empty.extend(group)
                continue
            table = pa.concat_tables(tables, promote_options="permissive")
            # Per-batch values as dictionary columns: no per-row copies, no join in DuckDB.
            bi = pa.array(positions, pa.int32())
            headers = [e.message.header for e in group]
            table = (
                table.append_column("_connection_id", pa.array([h.connection_id for h in headers], pa.int64()).take(bi))
                .append_column(
                    "_source_object",
                    pa.DictionaryArray.from_arrays(bi, pa.array([h.source_object for h in headers], pa.string())),
                )
                .append_column(
                    "_batch_id",
                    pa.DictionaryArray.from_arrays(bi, pa.array([e.message.batch_id for e in group], pa.string())),
                )
                .append_column("_generation", pa.array([h.generation for h in headers], pa.int64()).take(bi))
                .append_column("_bi", bi)
            )
            staged.append((entity, group, _one_chunk_per_thread(table), sorted({h.connection_id for h in headers})))
        con = self.con
        changed: dict[str, tuple[int, int, int]] = {}  # batch id → (inserted, updated, deleted)
        con.execute("BEGIN TRANSACTION")
        try:
            txn = store.txn_next(con) if staged else 0
            for entity, group, table, connection_ids in staged:
                counts = self._write_entity(entity, table, connection_ids, now, txn)
                for bi, row in counts.items():
                    changed[group[bi].message.batch_id] = row
            zero = (0, 0, 0)
            ledger = pa.table(
                {
                    "batch_id": [e.message.batch_id for e in fresh],
                    "connection_id": pa.array([e.message.header.connection_id for e in fresh], pa.int64()),
                    "source_object": [e.message.header.source_object for e in fresh],
                    "entity": [e.message.header.entity for e in fresh],
                    "record_count": pa.array([e.message.count for e in fresh], pa.int32()),
                    "mapping_version": pa.array([e.message.header.mapping_version for e in fresh], pa.int32()),
                    "schema_fingerprint": [e.message.header.schema_fingerprint for e in fresh],
                    "confidences": [
                        e.fields.get(b"meta", e.fields.get("meta", b"")).decode()
                        if isinstance(e.fields.get(b"meta", e.fields.get("meta")), bytes)
                        else str(e.fields.get("meta", ""))
                        for e in fresh
                    ],
                    "stream_entry": [
                        e.entry_id.decode() if isinstance(e.entry_id, bytes) else e.entry_id for e in fresh
                    ],
                    "applied_at": pa.array([now] * len(fresh), pa.timestamp("us", tz="UTC")),
                    **{
                        name: pa.array([changed.get(e.message.batch_id, zero)[i] for e in fresh], pa.int32())
                        for i, name in enumerate(store.LEDGER_COUNTS)
                    },
                }
            )
            con.register("_ledger", ledger)
            names = ", ".join(ledger.column_names)
            con.execute(f"INSERT INTO _dcl_batches ({names}) SELECT {names} FROM _ledger")
            con.unregister("_ledger")
            cursors.cursors_write(con, carried, now)
            tick = time.perf_counter()
            con.execute("COMMIT")
            self.result.seconds["commit"] += time.perf_counter() - tick
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            raise
        self.result.transactions += 1
        if carried:
            self._cursors_committed = True
        for inserted, updated, deleted in changed.values():
            self.result.inserted += inserted
            self.result.updated += updated
            self.result.deleted += deleted
        self.result.batches += len(empty)
        for e in empty:
            self.result.connection_ids.add(e.message.header.connection_id)
        for entity, group, table, _ids in staged:
            self.result.entities.add(entity)
            self.result.batches += len(group)
            self.result.records += table.num_rows
            for e in group:
                self.result.connection_ids.add(e.message.header.connection_id)
                self._pending_event[str(e.message.header.connection_id)] += e.message.count

    def _may_overlap(self, target: str, entity: str, table: pa.Table, connection_ids: list[int]) -> bool:
        """Could any incoming id already be stored? Answered from the (min, max) source id per
        connection, kept in memory for this run (read once, only ever widened): a load of new,
        ordered ids (most first loads) skips the probe, which would scan the whole table each time."""
        bounds = pc.min_max(table["_source_id"])
        lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
        overlap = False
        for cid in connection_ids:
            key = (entity, int(cid))
            if key not in self._bounds:
                self._bounds[key] = tuple(
                    self.con.execute(
                        f"SELECT min(_source_id), max(_source_id) FROM {target} WHERE _connection_id = ?", [int(cid)]
                    ).fetchone()
                )
            emin, emax = self._bounds[key]
            if emin is not None and lo is not None and not (hi < emin or lo > emax):
                overlap = True
            if lo is not None:
                self._bounds[key] = (lo if emin is None else min(emin, lo), hi if emax is None else max(emax, hi))
        return overlap

    def _drop_superseded(self, target: str, table: pa.Table) -> pa.Table:
        """The incoming rows without those a stored row of a newer generation supersedes, where
        either side is a delete: a tombstone wins over an older update (a replayed or late batch
        never brings a deleted record back), and a re-insert newer than the tombstone wins over it.
        Between two upserts the later write wins, as always."""
        is_delete = "coalesce(i._op = 'delete', false)" if "_op" in table.column_names else "false"
        stale = self.con.execute(f"""
            SELECT i._connection_id, i._source_id FROM _incoming i JOIN {target} t
              ON t._connection_id = i._connection_id AND t._source_id = i._source_id
            WHERE t._generation > i._generation AND (t._deleted OR {is_delete})""").fetch_arrow_table()
        if not stale.num_rows:
            return table
        self.result.superseded += stale.num_rows
        keys = pc.binary_join_element_wise(
            pc.cast(stale["_connection_id"], pa.string()), stale["_source_id"], "\x1f")
        mine = pc.binary_join_element_wise(
            pc.cast(table["_connection_id"], pa.string()), table["_source_id"], "\x1f")
        return table.filter(pc.invert(pc.is_in(mine, value_set=keys.combine_chunks())))

    def _changes(self, target: str, table: pa.Table, *, stored: bool,
                 duplicated: bool) -> dict[int, tuple[int, int, int]]:
        """What each batch of the transaction changes, {batch index: (inserted, updated, deleted)},
        decided against the stored rows before the upsert (`stored`: some incoming key may be held)
        and, for a key that comes more than once, against its previous row in the transaction (in
        the order the dedupe keeps): an upsert of a key held live is an update, else an insert (a
        re-insert after a delete too); a delete of a key held live is a delete, of one never held or
        deleted already nothing. Superseded rows were dropped before: they count nothing."""
        is_delete = "coalesce(_op = 'delete', false)" if "_op" in table.column_names else "false"
        if not stored and not duplicated:  # a load of new keys: every upsert is an insert
            ops = table["_op"] if "_op" in table.column_names else None
            upserts = table["_bi"] if ops is None else table["_bi"].filter(
                pc.invert(pc.fill_null(pc.equal(ops, "delete"), False)))
            counts = pc.value_counts(upserts)
            return {int(v["values"]): (int(v["counts"]), 0, 0) for v in counts.to_pylist()}
        held = ("coalesce(NOT t._deleted, false)" if stored else "false")
        join = (f"LEFT JOIN {target} t ON t._connection_id = i._connection_id AND t._source_id = i._source_id"
                if stored else "")
        rows = self.con.execute(f"""
            WITH i AS (
                SELECT _connection_id, _source_id, _bi, {is_delete} AS d,
                       lag({is_delete}) OVER (PARTITION BY _connection_id, _source_id
                                              ORDER BY _bi, _position) AS prev_d
                FROM _incoming),
            c AS (SELECT i._bi, i.d, CASE WHEN i.prev_d IS NOT NULL THEN NOT i.prev_d ELSE {held} END AS live
                  FROM i {join})
            SELECT _bi, count(*) FILTER (NOT d AND NOT live), count(*) FILTER (NOT d AND live),
                   count(*) FILTER (d AND live)
            FROM c GROUP BY 1""").fetchall()
        return {int(bi): (int(a), int(b), int(c)) for bi, a, b, c in rows}

    def _write_entity(self, entity: str, table: pa.Table, connection_ids: list[int],
                      now: datetime, txn: int) -> dict[int, tuple[int, int, int]]:
        """Upsert the transaction's rows of one entity; what each batch changed (`_changes`)."""
        con = self.con
        target, stored = store.source_table_ensure(con, entity, table.schema)
        con.register("_incoming", table)
        try:
            conns = ", ".join(str(int(c)) for c in connection_ids)
            # Upsert = delete the rows these records replace, then append. The probe is a cheap
            # semi-join; a DELETE that finds nothing still costs DuckDB version bookkeeping, so a
            # first load (nothing to replace) skips it.
            tick = time.perf_counter()
            existing = 0
            if self._may_overlap(target, entity, table, connection_ids):
                existing = con.execute(f"""
                    SELECT count(*) FROM {target}
                    WHERE _connection_id IN ({conns}) AND _source_id IN (SELECT _source_id FROM _incoming)
                """).fetchone()[0]
            carried: list[str] = []
            if existing:
                table = self._drop_superseded(target, table)
                con.unregister("_incoming")
                con.register("_incoming", table)
            duplicated = len(connection_ids) > 1 or pc.count_distinct(table["_source_id"]).as_py() < table.num_rows
            changes = (self._changes(target, table, stored=bool(existing), duplicated=duplicated)
                       if table.num_rows else {})
            if existing and table.num_rows:
                # Fields the stored versions have and these batches do not carry (a column the source
                # stopped sending, an object read with fewer fields) keep their last known values.
                carried = [c for c in stored if not c.startswith("_") and c not in table.column_names]
                if carried:
                    con.execute(f"""
                        CREATE OR REPLACE TEMP TABLE _carried AS
                        SELECT t._connection_id, t._source_id, {", ".join(f"t.{store.quote(c)}" for c in carried)}
                        FROM {target} t SEMI JOIN _incoming i
                          ON t._connection_id = i._connection_id AND t._source_id = i._source_id""")
                con.execute(f"""
                    DELETE FROM {target} USING (SELECT DISTINCT _connection_id AS c, _source_id AS s FROM _incoming) k
                    WHERE {target}._connection_id = k.c AND {target}._source_id = k.s""")
            self.result.seconds["upsert_probe"] += time.perf_counter() - tick
            passthrough = [c for c in table.column_names if c not in ("_bi", "_op")]
            names = [*passthrough, "_deleted", "_ingested_at", "_txn"]
            columns = [f"i.{store.quote(c)}" for c in passthrough]
            columns.append("coalesce(i._op = 'delete', false)" if "_op" in table.column_names else "false")
            columns.append("?::TIMESTAMPTZ")
            columns.append(str(int(txn)))
            source = "_incoming i"
            if carried:
                columns += [f"c.{store.quote(c)}" for c in carried]
                names += carried
                source += " LEFT JOIN _carried c ON c._connection_id = i._connection_id AND c._source_id = i._source_id"
            # Within one transaction the last version of a record wins (stream order, then position).
            dedupe = (
                "QUALIFY row_number() OVER (PARTITION BY i._connection_id, i._source_id "
                "ORDER BY i._bi DESC, i._position DESC) = 1"
                if duplicated
                else ""
            )
            tick = time.perf_counter()
            con.execute(
                f"INSERT INTO {target} ({', '.join(store.quote(n) for n in names)}) "
                f"SELECT {', '.join(columns)} FROM {source} {dedupe}",
                [now],
            )
            if carried:
                con.execute("DROP TABLE _carried")
            self.result.seconds["insert"] += time.perf_counter() - tick
        finally:
            con.unregister("_incoming")
        return changes

    def _dead_letter(self, dead: list[_Entry]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for e in dead:
            fields = {k: v for k, v in e.fields.items()}
            fields.update({b"dlq_reason": (e.error or "")[:1000], b"dlq_stream": e.key, b"dlq_entry": e.entry_id})
            pipe.xadd(dead_letter_key(self.tenant), fields, maxlen=settings.DCL_DEAD_LETTER_MAXLEN, approximate=True)
        pipe.execute()
        self.result.dead_lettered += len(dead)
        logger.error("dead-lettered %d batch(es) of tenant %s: %s", len(dead), self.tenant_id, dead[0].error)
        publish_event(
            self.tenant,
            "batch_failed",
            {
                "batches": len(dead),
                "reason": dead[0].error,
                "entries": [e.entry_id.decode() if isinstance(e.entry_id, bytes) else e.entry_id for e in dead[:20]],
            },
        )

    def _ack(self, entries: list[_Entry]) -> None:
        by_key: dict[str, list] = defaultdict(list)
        for e in entries:
            by_key[e.key].append(e.entry_id)
        pipe = self.r.pipeline(transaction=False)
        for key, ids in by_key.items():
            pipe.xack(key, self.group, *ids)
        pipe.execute()
        for key in by_key:
            trim_acknowledged(self.r, key)
        self._maybe_event()

    def _remember(self, batch_ids: list[str]) -> None:
        if not batch_ids:
            return
        key = applied_key(self.tenant)
        now = time.time()
        try:
            pipe = self.r.pipeline(transaction=False)
            pipe.zadd(key, {b: now for b in batch_ids})
            pipe.zremrangebyscore(key, "-inf", now - settings.AAM_IDEMPOTENCY_TTL)
            pipe.expire(key, settings.AAM_IDEMPOTENCY_TTL)
            pipe.execute()
        except redis.RedisError:
            logger.warning("idempotency fast path not updated", exc_info=True)

    def _maybe_event(self, force: bool = False) -> None:
        if not self._pending_event:
            return
        now = time.monotonic()
        if not force and now - self._last_event < settings.DCL_EVENT_INTERVAL:
            return
        self._last_event = now
        publish_event(
            self.tenant,
            "batch_consumed",
            {
                "records_by_connection": dict(self._pending_event),
                "batches_total": self.result.batches,
                "records_total": self.result.records,
                "duplicates_total": self.result.duplicates,
            },
        )
        self._pending_event.clear()

    # --- loop ------------------------------------------------------------------------------

    def run(
        self,
        *,
        until_idle: bool = True,
        stop: threading.Event | None = None,
        max_seconds: float | None = None,
        idle_seconds: float | None = None,
        ready: threading.Event | None = None,
    ) -> ConsumeResult:
        """Publish cursors an earlier consumer committed but did not publish (it died in between),
        then set `ready`; reclaim orphans, then read until idle (no new entry for `idle_seconds`),
        `stop` is set, or `max_seconds` pass. Redis outages are retried for DCL_REDIS_RETRY_SECONDS."""
        self.publish_cursors()
        if ready is not None:
            ready.set()
        deadline = time.monotonic() + max_seconds if max_seconds else None
        idle_limit = settings.DCL_IDLE_SECONDS if idle_seconds is None else idle_seconds
        last_data = time.monotonic()
        outage_since: float | None = None
        reclaimed_once = False
        while True:
            if stop is not None and stop.is_set():
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            try:
                if not reclaimed_once:
                    self.reclaim()
                    reclaimed_once = True
                keys = self.keys()
                block = self.block_ms if not until_idle else max(1, min(self.block_ms, int(idle_limit * 1000) or 1))
                if stop is not None:
                    # told to stop from outside (the consumer beside a run's reads): a short wait, so a
                    # run does not sit out a whole block once its reads are done
                    block = min(block, STOP_POLL_MS)
                entries = self._read(keys, block)
                if entries and len(entries) < self.read_count * max(1, len(keys)) // 2:
                    entries += self._linger(keys, len(entries))
                outage_since = None
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                now = time.monotonic()
                outage_since = outage_since or now
                if now - outage_since > settings.DCL_REDIS_RETRY_SECONDS:
                    raise
                logger.warning("redis unavailable (%s); retrying", exc)
                reclaimed_once = False  # whatever was pending may have been redelivered meanwhile
                time.sleep(0.2)
                continue
            if entries:
                tick = time.perf_counter()
                self.apply(entries)
                self.result.seconds["apply"] += time.perf_counter() - tick
                last_data = time.monotonic()
                continue
            if until_idle and time.monotonic() - last_data >= idle_limit:
                # Idle: a last look for orphans (a consumer that died while we waited for the lock).
                if self.reclaim() == 0:
                    break
        self._maybe_event(force=True)
        return self.result

    def _linger(self, keys: list[str], have: int) -> list[_Entry]:
        """Gather a bigger transaction when the producer is mid-flight: big commits are cheaper."""
        more: list[_Entry] = []
        deadline = time.monotonic() + settings.DCL_LINGER_MS / 1000
        want = self.read_count
        while have + len(more) < want and time.monotonic() < deadline:
            got = self._read(keys, None)
            if not got:
                time.sleep(0.005)
                continue
            more.extend(got)
        return more
