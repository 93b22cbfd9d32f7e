"""The sync: read a connection's objects page by page, map, normalize, publish; the cursor travels with its batch.

    driver.discover() ─► per object: mapping_ensure ─► plan
    driver.read(object, cursor) ─► page ─► normalize (columnar) ─► batches ─► stream (back-pressure)
       (one page ahead, readahead.py)        └► rejected records ─► quarantine (with the reason)
    the page's last batch carries {object: cursor}; the DCL commits it with the rows (dcl/cursors.py)
    and publishes it to `Connection.cursor`, where the next read resumes

Nothing here moves a cursor: a cursor is only ever stored by the DCL, after the data it follows
is committed, so a crash can neither advance it past unwritten records nor lose it.

Counts always add up: records read = records published + records quarantined.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings

from autonomos.core.events import publish_event
from autonomos.core.tenancy import current_tenant

from ..drift.errors import DriftFrozen
from ..sources import schema_fingerprint
from ..streams import StreamPublisher, binary_redis
from ..sync_lock import SyncAlreadyRunning, SyncLock  # noqa: F401 - SyncAlreadyRunning: the sync's refusal
from .batches import BatchHeader, BatchMessage, cursor_carrier, split_batches
from .normalize import Rejected, build_plan, normalize_page, page_table
from .readahead import read_ahead
from .schema import entity_fields

logger = logging.getLogger(__name__)


@dataclass
class ObjectResult:
    name: str
    entity: str | None
    records_read: int = 0
    records_published: int = 0
    quarantined: int = 0
    batches: int = 0
    skipped: str = ""
    # For the connection's health (connectors/health.py): the source's own row count when it told
    # one, and whether this read began at the object's first record (no cursor, or a full sync): a
    # read from the start that reads nothing from rows the source holds is a failed load.
    row_count: int | None = None
    from_start: bool | None = None


@dataclass
class SyncResult:
    objects: int = 0
    records_read: int = 0
    records_published: int = 0
    quarantined: int = 0
    batches: int = 0
    details: list[ObjectResult] = field(default_factory=list)
    backpressure_seconds: float = 0.0  # time spent waiting for the consumer to make room
    # For the DCL's delete stage (dcl/deletes.py, docs/adr/0019-deletes.md): each object's way of
    # telling deletes (Driver.deletes_mode) and, for "full_read" objects read whole from their first
    # record in this sync, every key they hold (a pyarrow string array).
    deletes_modes: dict[str, str] = field(default_factory=dict)
    key_sets: dict[str, object] = field(default_factory=dict)
    # For "change_tracking" objects read from a delta: the keys the source reported deleted
    # (Page.removed), a pyarrow string array per object.
    removed: dict[str, object] = field(default_factory=dict)
    # Objects whose key changed since their last read (Page.rekeyed, ADR 0024): read whole, their
    # records held under the old key are replaced (compared as "full_read" whatever their mode).
    rekeyed: set[str] = field(default_factory=set)
    # The stream entries of the batches of records this read published: the DCL counts what the
    # run changed from its ledger rows of these entries (a batch applied before, sent again, has
    # another entry and counts nothing twice). Not in as_dict: run records keep the counts.
    entry_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "objects": self.objects,
            "records_read": self.records_read,
            "records_published": self.records_published,
            "quarantined": self.quarantined,
            "batches": self.batches,
            "backpressure_seconds": round(self.backpressure_seconds, 3),
            "details": [o.__dict__ for o in self.details],
        }


@dataclass
class SyncProgress:
    object_name: str
    records_read: int
    records_published: int
    quarantined: int
    total: int | None  # estimate (the sources' row counts), None when unknown


# --- the contract names of the layers below, in one place ------------------------------------


def _driver_for(connection):
    from connectors.registry import driver_for

    return driver_for(connection)


def _drift_check(connection, source_object):
    """Schema drift first (aam.drift): repairs the mapping under the connection's policy, or raises
    DriftFrozen when the freeze policy stops the sync."""
    from aam.drift.services import drift_check

    return drift_check(connection=connection, source_object=source_object)


def _mapping_ensure(connection, source_object):
    from aam.services import mapping_ensure

    return mapping_ensure(connection=connection, source_object=source_object)


def _keys_ensure(connection) -> None:
    """Files get their key before they are read: chosen once from the file and kept (ADR 0024)."""
    from connectors.services import connection_keys_ensure

    connection_keys_ensure(connection=connection)


def _released(connection, source_object, mapping) -> frozenset[str]:
    """Canonical fields a person's mapping change took from the object (sent empty, aam.editor)."""
    from aam.selectors import mapping_released_fields

    return mapping_released_fields(connection=connection, source_object_name=source_object.name,
                                   mapped=set((getattr(mapping, "fields", None) or {}).values()))


def _status_set(connection, status: str, error: str = "", synced: bool = False) -> None:
    from connectors.services import connection_status_set

    updated = connection_status_set(connection=connection, status=status, error=error, synced=synced)
    connection.last_synced_at = getattr(updated, "last_synced_at", connection.last_synced_at)


def _placed(rejected, page, *, first: int) -> list:
    """Records that cannot land, placed where a person finds them: for files, the line the record
    starts on (as unreadable lines are); else its number among the records read."""
    line_of = getattr(page, "line_of", None)
    if line_of is None or not rejected:
        return list(rejected)
    placed = []
    for record in rejected:
        line = line_of(record.position - first) if record.position is not None else None
        placed.append(replace(record, position=line) if line is not None else record)
    return placed


def _quarantine(
    connection,
    object_name: str,
    entity: str | None,
    rejected: list[Rejected],
    *,
    mapping_version: int,
    schema_fingerprint: str,
) -> int:
    from .quarantine import quarantine_records

    return quarantine_records(
        connection=connection,
        source_object=object_name,
        entity=entity,
        rejected=rejected,
        mapping_version=mapping_version,
        schema_fingerprint=schema_fingerprint,
    )


# --- helpers ---------------------------------------------------------------------------------


def _generation(connection) -> int:
    """Changes only when a sync of the connection succeeds: a resumed (replayed) sync keeps it, so
    its batches have the ids of the interrupted run's (see batches.batch_id_for)."""
    synced = getattr(connection, "last_synced_at", None)
    return int(synced.timestamp() * 1000) if synced else 0


def sync_driver(connection):
    """The connection's driver, opened as a sync opens it (the DCL's delete stage asks it for keys)."""
    return _driver_for(connection)


def sync_generation(connection) -> int:
    """The generation the connection's next batches carry (the DCL's delete stage stamps its
    tombstones with it: an upsert of an older generation never brings them back)."""
    return _generation(connection)


def _id_fields(source_object, mapping) -> tuple[str, ...]:
    """The source fields whose values, joined by "|", are a record's `_source_id`: the object's
    primary key (a composite one is "a,b", as drivers and `connectors.base.record_key` write it), else
    a field the mapping reads as the id; none: the record's content is its identity."""
    pk = getattr(source_object, "primary_key", None)
    if isinstance(pk, str) and pk:
        return tuple(part.strip() for part in pk.split(",") if part.strip())
    if isinstance(pk, list | tuple) and pk:
        return tuple(str(p) for p in pk)
    for source, canonical in (getattr(mapping, "fields", None) or {}).items():
        if canonical == "id":
            return (source,)
    return ()


class _Throttle:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last = 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.seconds:
            self.last = now
            return True
        return False


# --- the service -----------------------------------------------------------------------------


def connection_sync(
    *, connection, full: bool = False, progress: Callable[[SyncProgress], None] | None = None
) -> SyncResult:
    """Sync one connection into its Redis Stream (the DCL consumer takes it from there).

    Reads every object the driver discovers, page by page from the stored cursor (`Connection.cursor`,
    which the DCL fills with the cursors it committed with their data), or from the start with
    `full` (each object's stored cursor is then reset by the first batch it publishes). Maps and
    normalizes each page, publishes it in batches of ≤ AAM_BATCH_CHUNK_SIZE, the last carrying the
    page's cursor, and quarantines records that cannot be coerced (with the reason). A failed
    sync leaves the cursor at the last page the DCL committed: running it again resumes there, and
    batches it re-sends that were applied already are skipped by id.
    """
    tenant = current_tenant()
    result = SyncResult()
    r = binary_redis()
    with SyncLock(tenant, connection.pk) as lock:
        connection.refresh_from_db()
        publish_event(tenant, "sync_started", {"connection_id": connection.pk, "kind": connection.kind, "full": full})
        _status_set(connection, "syncing")
        try:
            _sync(tenant, connection, full, progress, result, r, lock)
        except DriftFrozen as exc:
            # Stopped by the drift policy, not failed: what was published stays, the connection stays
            # `frozen` (set by drift_check) until a human decides the schema changes.
            publish_event(
                tenant,
                "sync_failed",
                {
                    "connection_id": connection.pk,
                    "error": str(exc)[:500],
                    "frozen": True,
                    "review_item_ids": exc.review_item_ids,
                    **_counts(result),
                },
            )
            raise
        except Exception as exc:
            message = f"{exc.__class__.__name__}: {exc}"[:2000]
            _status_set(connection, "error", message)
            publish_event(
                tenant, "sync_failed", {"connection_id": connection.pk, "error": message[:500], **_counts(result)}
            )
            raise
        _status_set(connection, "ok", synced=True)
        publish_event(tenant, "sync_completed", {"connection_id": connection.pk, **_counts(result)})
    return result


def _counts(result: SyncResult) -> dict[str, int]:
    return {
        "objects": result.objects,
        "records_read": result.records_read,
        "records_published": result.records_published,
        "quarantined": result.quarantined,
        "batches": result.batches,
    }


@dataclass
class _Run:
    """What every step of one sync shares."""

    tenant: object
    connection: object
    full: bool
    progress: Callable[[SyncProgress], None] | None
    result: SyncResult
    lock: SyncLock
    r: object
    publisher: StreamPublisher
    total: int | None = None
    generation: int = 0
    tick: _Throttle = field(default_factory=lambda: _Throttle(0.5))

    def event(self, name: str, payload: dict) -> None:
        publish_event(self.tenant, name, {"connection_id": self.connection.pk, **payload})


def _sync(tenant, connection, full: bool, progress, result: SyncResult, r, lock: SyncLock) -> None:
    """Discover the objects, then read, normalize and publish each; the driver is closed at the end."""
    _keys_ensure(connection)
    with _driver_for(connection) as driver:
        objects = list(driver.discover())
        run = _Run(tenant=tenant, connection=connection, full=full, progress=progress, result=result, lock=lock,
                   r=r, publisher=StreamPublisher(tenant, connection.pk, client=r),
                   total=sum(o.row_count for o in objects if getattr(o, "row_count", None)) or None,
                   generation=_generation(connection))
        _announce_sources(run, objects)
        for index, source_object in enumerate(objects):
            plan = _object_plan(run, source_object, index=index, of=len(objects))
            if plan is not None:
                _value_metadata(run, driver, source_object.name)
                _object_read(run, driver, source_object, plan)
    run.publisher.check_same_server()
    result.backpressure_seconds = run.publisher.stats.waited_seconds
    run.event("batch_published", {"batches_total": result.batches, "records_total": result.records_published,
                                  "last_entry_id": run.publisher.stats.last_entry_id})


def _value_metadata(run: _Run, driver, object_name: str) -> None:
    """What the vendor's API says about the object's values (option labels, deal stages), stored for
    the value stage (aam.values). A failure keeps what was stored before and never fails the sync."""
    from aam.values.services import column_metadata_store

    try:
        metadata = driver.value_metadata(object_name)
    except Exception as exc:  # noqa: BLE001 - a vendor's metadata API down is not a failed sync
        logger.warning("value metadata of %s not fetched: %s", object_name[:100], exc)
        return
    column_metadata_store(connection=run.connection, source_object=object_name, metadata=metadata)


def _announce_sources(run: _Run, objects) -> None:
    run.event("sources_connected", {
        "kind": run.connection.kind,
        "objects": [
            {"name": o.name, "fields": len(o.fields), "row_count": getattr(o, "row_count", None)} for o in objects
        ],
    })


def _object_plan(run: _Run, source_object, *, index: int, of: int):
    """Drift check, mapping and the normalization plan of one object; None (recorded as skipped)
    when no canonical entity takes it."""
    connection = run.connection
    _drift_check(connection, source_object)  # before mapping: a rename moves, not drop + add
    mapping = _mapping_ensure(connection, source_object)
    entity = getattr(mapping, "entity", None) if mapping is not None else None
    outcome = ObjectResult(name=source_object.name, entity=entity, row_count=getattr(source_object, "row_count", None))
    run.result.details.append(outcome)
    run.result.objects += 1
    fingerprint = schema_fingerprint([(f.name, f.type) for f in source_object.fields])
    if not entity:
        outcome.skipped = "no canonical entity for this object"
        run.event("mapping_progress", {"object": source_object.name, "entity": None, "objects_done": index + 1,
                                       "objects_total": of, "skipped": outcome.skipped})
        return None
    plan = build_plan(
        entity=entity,
        source_object=source_object.name,
        mapping_fields=dict(mapping.fields),
        entity_fields=entity_fields(entity),
        id_fields=_id_fields(source_object, mapping),
        fingerprint=fingerprint,
        mapping_version=int(getattr(mapping, "version", 0) or 0),
        confidences=dict(getattr(mapping, "confidences", None) or {}),
        deleted_field=getattr(source_object, "deleted_field", None),
        excluded=frozenset(getattr(mapping, "excluded", None) or ()),
        cleared=_released(connection, source_object, mapping),
    )
    run.event("mapping_progress", {
        "object": source_object.name,
        "entity": entity,
        "mapping_version": plan.mapping_version,
        "mapped_fields": len(plan.fields),
        "source_fields": len(source_object.fields),
        "objects_done": index + 1,
        "objects_total": of,
    })
    return plan


def _object_read(run: _Run, driver, source_object, plan) -> None:
    """Read one object page by page from its cursor and publish each page."""
    outcome = run.result.details[-1]
    header = BatchHeader(
        tenant_id=str(run.tenant.tenant_id),
        connection_id=run.connection.pk,
        source_object=source_object.name,
        entity=plan.entity,
        schema_fingerprint=plan.schema_fingerprint,
        mapping_version=plan.mapping_version,
        generation=run.generation,
        confidences=plan.confidences,
    )
    deletes_mode = getattr(driver, "deletes_mode", None)  # connectors.base.Driver has it; a bare double may not
    mode = deletes_mode(source_object.name) if deletes_mode is not None else "none"
    run.result.deletes_modes[source_object.name] = mode
    # every mode collects, to learn from the first page whether the object was re-keyed
    keys = _KeyCollector(keep_when_rekeyed_only=mode not in ("full_read", "change_tracking"))
    removed: list[str] = []
    cursor = None if run.full else (run.connection.cursor or {}).get(source_object.name)
    outcome.from_start = cursor is None
    if run.full:
        # A full re-sync starts from nothing, and so does its cursor: should it stop before its
        # first page is written, the next sync reads the object from the start too.
        run.publisher.publish([cursor_carrier(header, {source_object.name: None})])
    position = 1
    pages = driver.read(source_object.name, cursor=cursor, page_size=settings.AAM_SYNC_PAGE_SIZE)
    for page in read_ahead(pages, tenant=run.tenant, depth=settings.AAM_SYNC_READ_AHEAD):
        position = _page_publish(run, page, header, plan, outcome, position, keys)
        if mode == "change_tracking":
            removed.extend(getattr(page, "removed", None) or ())
    if keys.whole:
        run.result.key_sets[source_object.name] = keys.array()
    if keys.rekeyed:
        run.result.rekeyed.add(source_object.name)
        run.result.deletes_modes[source_object.name] = "full_read"
    if removed:
        run.result.removed[source_object.name] = pa.array(removed, pa.string())


class _KeyCollector:
    """The keys of a "full_read" object's pages, kept when the read began at its first record; of
    any other object's only when the read re-keyed it (`keep_when_rekeyed_only`)."""

    def __init__(self, *, keep_when_rekeyed_only: bool = False) -> None:
        self.whole: bool | None = None  # decided by the first page
        self.rekeyed = False
        self.only_rekeyed = keep_when_rekeyed_only
        self.parts: list = []

    def add(self, page, ids, rejected) -> None:
        if self.whole is None:
            self.rekeyed = bool(getattr(page, "rekeyed", False)) and bool(getattr(page, "from_start", False))
            self.whole = bool(getattr(page, "from_start", False)) and (self.rekeyed or not self.only_rekeyed)
        if not self.whole:
            return
        self.parts.append(pc.drop_null(ids).combine_chunks() if isinstance(ids, pa.ChunkedArray) else pc.drop_null(ids))
        # a quarantined record is still in the export: it is not deleted
        kept = [r.source_id for r in rejected if r.source_id]
        if kept:
            self.parts.append(pa.array(kept, pa.string()))

    def array(self) -> pa.Array:
        return pa.concat_arrays([p.cast(pa.string()) for p in self.parts]) if self.parts else pa.array([], pa.string())


def _page_rejected(normalized, page, position: int) -> list[Rejected]:
    """The page's records that cannot land: those normalization rejected and those the driver
    could not read (placed by their line or number)."""
    rejected = _placed(normalized.rejected, page, first=position)
    for error in getattr(page, "errors", None) or []:
        where = error.position if isinstance(error.position, int) else None
        rejected.append(
            Rejected(
                position=where,
                source_id="" if where is not None else str(error.position),
                reason=str(error.reason),
                raw=error.raw if isinstance(error.raw, dict) else {"_raw": error.raw},
            )
        )
    return rejected


class _HoldLast:
    """The messages but the last, which is kept back in `last` (to carry the page's cursor)."""

    def __init__(self, messages) -> None:
        self.messages = messages
        self.last: BatchMessage | None = None

    def __iter__(self):
        for message in self.messages:
            if self.last is not None:
                yield self.last
            self.last = message


def _page_publish(run: _Run, page, header: BatchHeader, plan, outcome: ObjectResult, position: int,
                  keys: _KeyCollector | None = None) -> int:
    """Normalize one page, publish its batches, quarantine its rejects; the page's last batch (a
    zero-row one when the page has no rows) carries its cursor and goes last, after the quarantine:
    once the DCL commits it, nothing of the page is left to land. Returns the position of the
    next page's first record."""
    connection, result, publisher = run.connection, run.result, run.publisher
    normalized = normalize_page(page_table(page), plan, first_position=position)
    rejected = _page_rejected(normalized, page, position)
    if keys is not None:
        keys.add(page, normalized.table["_source_id"], rejected)
    messages = split_batches(normalized.table, header, settings.AAM_BATCH_CHUNK_SIZE)
    held = _HoldLast(messages) if page.cursor is not None else None
    ids = publisher.publish(held if held is not None else messages)
    if rejected:
        _quarantine(connection, header.source_object, header.entity, rejected,
                    mapping_version=plan.mapping_version, schema_fingerprint=plan.schema_fingerprint)
    if held is not None:
        cursors = {header.source_object: page.cursor}
        if held.last is not None:
            ids += publisher.publish([held.last.carrying(cursors)])
        else:
            publisher.publish([cursor_carrier(header, cursors, normalized.table.schema)])
    result.entry_ids.extend(ids)
    read = normalized.read + len(getattr(page, "errors", None) or [])
    for counter in (outcome, result):
        counter.records_read += read
        counter.records_published += normalized.table.num_rows
        counter.quarantined += len(rejected)
        counter.batches += len(ids)  # batches of records (a zero-row cursor carrier is not one)
    run.lock.renew()
    if run.tick.ready():
        run.event("batch_published", {"object": header.source_object, "batches_total": result.batches,
                                      "records_total": result.records_published,
                                      "last_entry_id": publisher.stats.last_entry_id})
        run.event("sync_progress", {"object": header.source_object, "total": run.total, **_counts(result)})
    if run.progress is not None:
        run.progress(SyncProgress(header.source_object, result.records_read, result.records_published,
                                  result.quarantined, run.total))
    return position + normalized.read
