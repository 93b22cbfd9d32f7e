"""The delete stage: after a connection's reads are consumed, find the records its source no longer
has, and send them as canonical `delete` events through the stream (docs/adr/0019-deletes.md).

Per source object of the connection, by the driver's `deletes_mode` (connectors/base.py):
- "full_read" (a CSV connection of full exports): when this sync read the object from its first
  record, the keys it read are every key the object has; a key the DCL holds and the read did not
  bring is deleted (an anti-join in DuckDB);
- "key_ranges" (PostgreSQL, Supabase, MongoDB): the source's keys and the DCL's are compared by hash range
  (connectors/keyranges.py): one aggregate on each side; only the ranges whose digests differ have
  their keys listed and compared;
- "change_tracking" (Dynamics): a read from a delta link reports the records removed since
  (`SyncResult.removed`): those the DCL holds live are deleted; a read from the first record brings
  every key and is compared as "full_read";
- "none": nothing is ever deleted (append-only files).
An object the DCL holds that the source no longer lists (a file or table that vanished) loses all
its keys, if its mode is not "none".

The guard: when the deletes would be more than `DCL_DELETE_GUARD_SHARE` of the connection's records,
or of one object's, nothing is deleted; the connection is paused and a review item asks a person
(aam/deletes_review.py). An approved review lets the next stage delete up to its count, once.

The deletes travel like any record: batches with `_op = 'delete'` on the connection's stream, applied
exactly once by the consumer (their batch id is a hash of their content), stored as tombstones
(`_deleted`, with the sync's generation: a tombstone wins over an upsert of an older generation,
dcl/consumer.py). The views leave deleted records out, and an entity without a live record is gone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pyarrow as pa
from django.conf import settings

from aam.deletes_review import deletes_allowance, deletes_allowance_use, deletes_pending, deletes_review_open
from aam.ingest.batches import BatchHeader, split_batches
from aam.ingest.services import SyncResult, sync_driver, sync_generation
from aam.streams import StreamPublisher, binary_redis
from autonomos.core import redis_names
from autonomos.core.events import publish_event
from connectors.keyranges import duckdb_range_sql, duckdb_sums_sql, ranges_differing

from . import store

logger = logging.getLogger(__name__)

SAMPLE_KEYS = 20  # keys of each object shown on the review item
DELETE_BATCH = 5000  # keys per delete batch (a delete carries only its key)
PUBLISH_STEP = 100  # delete batches published between two drains (the stream is bounded)


@dataclass
class ObjectDeletes:
    source_object: str
    entity: str
    mode: str
    held: int = 0
    keys: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    ranges_compared: int = 0
    ranges_differing: int = 0
    # Re-keyed by this read (a file whose key changed, ADR 0024): every key held is replaced by one of
    # the `present` keys read, so the guard weighs only the records the object loses on balance.
    rekeyed: bool = False
    present: int = 0

    @property
    def lost(self) -> int:
        """The deletes the guard weighs: all of them, or, for a re-keyed object, those not replaced."""
        return max(0, self.held - self.present) if self.rekeyed else len(self.keys)

    def as_dict(self) -> dict:
        return {"source_object": self.source_object, "entity": self.entity, "mode": self.mode, "held": self.held,
                "deletes": len(self.keys), "sample": self.keys.slice(0, SAMPLE_KEYS).to_pylist(),
                "ranges_compared": self.ranges_compared, "ranges_differing": self.ranges_differing}


@dataclass
class DeletesResult:
    objects: list[ObjectDeletes] = field(default_factory=list)
    deleted: int = 0
    held: int = 0
    paused: bool = False
    review_item_id: int | None = None
    skipped: str = ""
    entry_ids: list[str] = field(default_factory=list)  # the stream entries of the delete batches sent

    @property
    def found(self) -> int:
        return sum(len(o.keys) for o in self.objects)

    def as_dict(self) -> dict:
        return {"deleted": self.deleted, "found": self.found, "held": self.held, "paused": self.paused,
                "review_item_id": self.review_item_id, "skipped": self.skipped,
                "objects": [o.as_dict() for o in self.objects]}


def guard_share() -> float:
    return float(settings.DCL_DELETE_GUARD_SHARE)


def key_ranges_for(held: int) -> int:
    """How many key ranges to compare for an object of `held` records: about 16 keys a range (a
    few deletes list few keys), at least DCL_DELETE_KEY_BUCKETS, at most 65,536 (the digests stay
    a small answer: 65,536 rows of three numbers)."""
    return max(int(settings.DCL_DELETE_KEY_BUCKETS), min(held // 16, 65536))


# --- what the DCL holds -------------------------------------------------------------------------


def _held_objects(con, connection_id: int) -> dict[str, tuple[str, int]]:
    """{source object: (entity, live records)} the DCL holds for the connection."""
    held: dict[str, tuple[str, int]] = {}
    for table in sorted(store.existing_tables(con)):
        if not table.startswith("src_"):
            continue
        for obj, n in con.execute(
            f"SELECT _source_object, count(*) FILTER (NOT _deleted) FROM {table} WHERE _connection_id = ? GROUP BY 1",
            [connection_id],
        ).fetchall():
            held[obj] = (table.removeprefix("src_"), int(n))
    return held


def _live(entity: str) -> str:
    return (f"(SELECT _source_id FROM {store.source_table(entity)} "
            "WHERE _connection_id = ? AND _source_object = ? AND NOT _deleted)")


def _range_sql(buckets: int, scheme: str = "md5") -> str:
    return duckdb_range_sql("_source_id", buckets, scheme)


def _held_digests(con, entity: str, connection_id: int, obj: str, buckets: int,
                  scheme: str = "md5") -> dict[int, tuple[int, ...]]:
    sums = duckdb_sums_sql("_source_id", scheme)
    rows = con.execute(
        f"SELECT {_range_sql(buckets, scheme)} AS b, count(*), {sums} FROM {_live(entity)} GROUP BY 1",
        [connection_id, obj],
    ).fetchall()
    return {int(row[0]): tuple(int(v or 0) for v in row[1:]) for row in rows}


def _missing(con, entity: str, connection_id: int, obj: str, present: pa.Array, *, buckets: int = 0,
             ranges: list[int] | None = None, scheme: str = "md5") -> pa.Array:
    """Keys the DCL holds (in `ranges`, when given) that are not in `present`."""
    con.register("_present", pa.table({"k": present.cast(pa.string())}))
    try:
        where = ["_source_id NOT IN (SELECT k FROM _present WHERE k IS NOT NULL)"]
        if ranges:
            where.append(f"{_range_sql(buckets, scheme)} IN ({', '.join(str(int(b)) for b in ranges)})")
        table = con.execute(
            f"SELECT _source_id FROM {_live(entity)} h WHERE {' AND '.join(where)} ORDER BY 1", [connection_id, obj]
        ).fetch_arrow_table()
    finally:
        con.unregister("_present")
    return table["_source_id"].combine_chunks().cast(pa.string())


def _reported(con, entity: str, connection_id: int, obj: str, removed: pa.Array) -> pa.Array:
    """Keys the source reported deleted that the DCL holds live (a removal of a record never held,
    or deleted already, is nothing to do)."""
    con.register("_removed", pa.table({"k": removed.cast(pa.string())}))
    try:
        table = con.execute(
            f"SELECT _source_id FROM {_live(entity)} h WHERE _source_id IN (SELECT k FROM _removed) ORDER BY 1",
            [connection_id, obj],
        ).fetch_arrow_table()
    finally:
        con.unregister("_removed")
    return table["_source_id"].combine_chunks().cast(pa.string())


# --- finding the deletes --------------------------------------------------------------------------


def check_interval(connection) -> int:
    """Seconds between two key-range comparisons of a connection's objects (its config
    `deletes_check_seconds`, else DCL_DELETES_CHECK_SECONDS; 0: at every sync). The comparison reads
    every key on both sides: with an interval, a sync in between costs what its changes cost."""
    value = (connection.config or {}).get("deletes_check_seconds")
    if value is None:
        value = settings.DCL_DELETES_CHECK_SECONDS
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return int(settings.DCL_DELETES_CHECK_SECONDS)


def _checked_lately(tenant, connection, obj: str) -> bool:
    if not check_interval(connection):
        return False
    try:
        return bool(binary_redis().exists(redis_names.deletes_checked(tenant, connection.pk, obj)))
    except Exception:  # noqa: BLE001 - Redis away: compare (the safe side)
        return False


def _checked_now(tenant, connection, objects) -> None:
    seconds = check_interval(connection)
    if not seconds or not objects:
        return
    try:
        pipe = binary_redis().pipeline(transaction=False)
        for obj in objects:
            pipe.set(redis_names.deletes_checked(tenant, connection.pk, obj), b"1", ex=seconds)
        pipe.execute()
    except Exception:  # noqa: BLE001 - compared again at the next sync
        logger.warning("could not record the delete check of connection %s", connection.pk, exc_info=True)



def deletes_find(*, tenant, connection, read: SyncResult, driver=None) -> list[ObjectDeletes]:
    """What the connection's source no longer has, per object (nothing is changed here)."""
    modes = dict(read.deletes_modes)
    read_objects = {d.name: d.entity for d in read.details if d.entity and not d.skipped}
    found: list[ObjectDeletes] = []
    ranges_of: dict[str, int] = {}
    schemes: dict[str, str] = {}
    with store.read_only(tenant) as con:
        if con is None:
            return []
        held = _held_objects(con, connection.pk)
        digests: dict[str, dict] = {}
        for obj, (entity, count) in held.items():
            if not count:
                continue
            if obj not in read_objects and obj not in modes:
                # a vanished object: it loses every key, unless its source never deletes
                mode = driver.deletes_mode(obj) if driver is not None else "none"
                if mode != "none":
                    found.append(ObjectDeletes(obj, entity, mode, count,
                                               _missing(con, entity, connection.pk, obj, pa.array([], pa.string()))))
                continue
            mode = modes.get(obj, "none")
            if mode in ("full_read", "change_tracking") and obj in read.key_sets:
                present = read.key_sets[obj]
                found.append(ObjectDeletes(obj, entity, mode, count,
                                           _missing(con, entity, connection.pk, obj, present),
                                           rekeyed=obj in read.rekeyed, present=len(present)))
            elif mode == "change_tracking" and obj in read.removed:
                found.append(ObjectDeletes(obj, entity, mode, count,
                                           _reported(con, entity, connection.pk, obj, read.removed[obj])))
            elif mode == "key_ranges" and driver is not None:
                if _checked_lately(tenant, connection, obj):
                    continue
                ranges_of[obj] = key_ranges_for(count)
                schemes[obj] = driver.key_scheme(obj)
                digests[obj] = _held_digests(con, entity, connection.pk, obj, ranges_of[obj], schemes[obj])
    # the source's digests, with the store unlocked (a remote query may take a while)
    differing: dict[str, tuple[list[int], int]] = {}
    for obj, ours in digests.items():
        theirs = driver.key_digests(obj, ranges_of[obj])
        differing[obj] = (ranges_differing(ours, theirs), len(set(ours) | set(theirs)))
    for obj, (ranges, compared) in differing.items():
        entity, count = held[obj]
        item = ObjectDeletes(obj, entity, "key_ranges", count, ranges_compared=compared, ranges_differing=len(ranges))
        if ranges:
            buckets = ranges_of[obj]
            present = pa.array(list(driver.keys_in_ranges(obj, buckets, ranges)), pa.string())
            with store.read_only(tenant) as con:
                item.keys = _missing(con, entity, connection.pk, obj, present, buckets=buckets, ranges=ranges,
                                     scheme=schemes[obj])
        found.append(item)
    return found


# --- the stage --------------------------------------------------------------------------------------


def _over_guard(objects: list[ObjectDeletes], share: float) -> bool:
    held = sum(o.held for o in objects)
    deleting = sum(o.lost for o in objects)
    if held and deleting > share * held:
        return True
    return any(o.held and o.lost > share * o.held for o in objects)


def _header(tenant, connection, obj: ObjectDeletes, generation: int) -> BatchHeader:
    return BatchHeader(tenant_id=str(tenant.tenant_id), connection_id=connection.pk, source_object=obj.source_object,
                       entity=obj.entity, schema_fingerprint="deletes", mapping_version=0, generation=generation)


def deletes_publish(*, tenant, connection, objects: list[ObjectDeletes], generation: int, drain,
                    entry_ids: list[str] | None = None) -> int:
    """Send the deletes through the connection's stream and apply them (`drain(connection_ids)`
    between steps: the stream is bounded). Returns the records deleted; the stream entries of the
    batches sent are added to `entry_ids` when given (the run counts its changes by them)."""
    publisher = StreamPublisher(tenant, connection.pk)
    entries = entry_ids if entry_ids is not None else []
    sent, pending = 0, []
    for obj in objects:
        if not len(obj.keys):
            continue
        table = pa.table({"_source_id": obj.keys, "_op": pa.array(["delete"] * len(obj.keys), pa.string()),
                          "_position": pa.array(range(1, len(obj.keys) + 1), pa.int64())})
        for message in split_batches(table, _header(tenant, connection, obj, generation), DELETE_BATCH):
            pending.append(message)
            sent += message.count
            if len(pending) >= PUBLISH_STEP:
                entries.extend(publisher.publish(pending))
                pending = []
                drain([connection.pk])
    if pending:
        entries.extend(publisher.publish(pending))
    if sent:
        drain([connection.pk])
    return sent


def deletes_possible(read: SyncResult) -> bool:
    """Whether any object of the read can tell deletes, or the read found no object to read at all
    (the objects the DCL holds may all have vanished: the stage asks the driver about each); else
    there is no delete stage to run."""
    return any(mode != "none" for mode in read.deletes_modes.values()) or not read.deletes_modes


def deletes_sync(*, tenant, connection, read: SyncResult, drain, driver=None) -> DeletesResult:
    """Find the connection's deletes and apply them, unless the guard holds them for a person.

    `drain(connection_ids)` applies what waits in the streams (the run's consume step). `driver`:
    the connection's open driver, needed for "key_ranges" objects and vanished ones (opened here
    when not given and needed)."""
    result = DeletesResult()
    if not deletes_possible(read):
        result.skipped = "the source never deletes"
        return result
    own_driver = None
    if driver is None:
        driver = own_driver = sync_driver(connection)
    try:
        objects = deletes_find(tenant=tenant, connection=connection, read=read, driver=driver)
    finally:
        if own_driver is not None:
            own_driver.close()
    result.objects = objects
    result.held = sum(o.held for o in objects)
    compared = [o.source_object for o in objects if o.mode == "key_ranges"]
    found = result.found
    if not found:
        _checked_now(tenant, connection, compared)
        return result
    pending = deletes_pending(connection=connection)
    allowance = deletes_allowance(connection=connection) if pending is None else None
    share = guard_share()
    allowed = allowance is not None and found <= int((allowance.proposal or {}).get("deletes", 0))
    if pending is not None or (_over_guard(objects, share) and not allowed):
        item = deletes_review_open(connection=connection, deleting=found, held=result.held, share=share,
                                   objects=[o.as_dict() for o in objects if len(o.keys)])
        result.paused, result.review_item_id = True, item.pk
        logger.warning("connection %s paused: %d of %d records would be deleted", connection.pk, found, result.held)
        return result
    connection.refresh_from_db(fields=["last_synced_at"])
    result.deleted = deletes_publish(tenant=tenant, connection=connection, objects=objects,
                                     generation=sync_generation(connection), drain=drain,
                                     entry_ids=result.entry_ids)
    _checked_now(tenant, connection, compared)
    if allowance is not None and allowed:
        deletes_allowance_use(item=allowance, deleted=result.deleted)
    publish_event(tenant, "records_deleted", {"connection_id": connection.pk, "deleted": result.deleted,
                                              "objects": {o.source_object: len(o.keys) for o in objects}})
    return result
