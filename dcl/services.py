"""DCL writes: drain the tenant's streams into DuckDB; materialize unified views into PostgreSQL."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from django.db import transaction
from django_tenants.utils import tenant_context

from aam.ingest.kinds import kind_for
from aam.ingest.schema import ontology_entities
from autonomos.core.events import publish_event

from . import store
from .consumer import ConsumeResult, StreamConsumer
from .history import history_record
from .page_cache import publish_view_stamp
from .pgsync import publish_view
from .reporting import fx_context
from .unify import Unifier, view_spec

logger = logging.getLogger(__name__)


def stream_consume(
    *,
    tenant,
    connection_ids=None,
    until_idle: bool = True,
    stop: threading.Event | None = None,
    max_seconds: float | None = None,
    idle_seconds: float | None = None,
    ready: threading.Event | None = None,
) -> ConsumeResult:
    """Apply every batch waiting in the tenant's streams to its DuckDB file, each exactly once,
    with the cursors the batches carry (committed with them and published to their connections,
    dcl/cursors.py).

    With `until_idle` it returns once no batch arrived for `idle_seconds` (DCL_IDLE_SECONDS).
    Otherwise it runs until `stop` is set or `max_seconds` pass, and holds the tenant's writer lock
    only while there is work: idle, it lets the lock go (a materialization may run) and waits for
    new batches without it. `ready` is set once the store is open and every cursor committed
    earlier is published (a read started after that resumes from the data's end).
    """
    if until_idle:
        return _consume_locked(tenant, connection_ids, until_idle=True, stop=stop, max_seconds=max_seconds,
                               idle_seconds=idle_seconds, ready=ready)
    stop = stop or threading.Event()
    deadline = time.monotonic() + max_seconds if max_seconds else None
    total = ConsumeResult()
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        part = _consume_locked(tenant, connection_ids, until_idle=True, stop=stop, max_seconds=left,
                               idle_seconds=idle_seconds, ready=ready)
        _add(total, part)
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            if _has_work(tenant, connection_ids):
                break
            stop.wait(0.2)
    return total


def _add(total: ConsumeResult, part: ConsumeResult) -> None:
    for name in ("batches", "records", "duplicates", "dead_lettered", "reclaimed", "superseded", "transactions",
                 "inserted", "updated", "deleted"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.entities |= part.entities
    total.connection_ids |= part.connection_ids
    for step, seconds in part.seconds.items():
        total.seconds[step] += seconds


def _has_work(tenant, connection_ids) -> bool:
    """Any entry in the tenant's streams? (Acknowledged entries are trimmed, so length = work.)"""
    from aam.streams import binary_redis, stream_key

    r = binary_redis()
    ids = connection_ids or _registered_streams(tenant)
    try:
        return any(r.xlen(stream_key(tenant, cid)) for cid in ids)
    except Exception:  # noqa: BLE001 - Redis away: look again later
        return False


def _consume_locked(tenant, connection_ids, *, until_idle, stop, max_seconds, idle_seconds,
                    ready=None) -> ConsumeResult:
    with store.WriterLock(tenant):
        con = store.connect(tenant)
        try:
            consumer = StreamConsumer(tenant, con, connection_ids=connection_ids)
            return consumer.run(until_idle=until_idle, stop=stop, max_seconds=max_seconds,
                                idle_seconds=idle_seconds, ready=ready)
        finally:
            con.close()


def _registered_streams(tenant) -> set[int]:
    try:
        from aam.streams import binary_redis, streams_registry_key

        return {int(c) for c in binary_redis().smembers(streams_registry_key(tenant))}
    except Exception:  # noqa: BLE001 - Redis away: no stream known now
        return set()


def _connection_kinds() -> dict[int, str]:
    from connectors.models import Connection

    return dict(Connection.objects.values_list("id", "kind"))


def views_materialize(
    *, tenant, entities: list[str] | None = None, drain: bool = True, on_drained=None
) -> dict[str, int]:
    """Rebuild the unified views of `entities` (all present ones when None) in DuckDB and swap them
    into PostgreSQL (`dcl_view_<entity>`); returns {entity: row_count}.

    With `drain`, batches still waiting in the streams are applied first, so the views include
    everything published so far (in the same DuckDB connection: one checkpoint, not two);
    `on_drained(ConsumeResult)` is told what that applied.
    """
    from .models import MaterializedView

    results: dict[str, int] = {}
    with tenant_context(tenant):
        ontology = ontology_entities()
        specs = {e: view_spec(e, {f: kind_for(t) for f, t in fields.items()}) for e, fields in ontology.items()}
        kinds = _connection_kinds()
        fx = fx_context()  # the reporting currency, read before the writer lock
        with store.WriterLock(tenant):
            con = store.connect(tenant)
            try:
                drained = None
                if drain:
                    drained = StreamConsumer(tenant, con).run(until_idle=True, idle_seconds=0)
                    if on_drained is not None:
                        on_drained(drained)
                unifier = Unifier(con, specs, kinds, fx=fx)
                wanted = set(entities) if entities else None
                for entity in unifier.present():
                    started = time.monotonic()
                    unifier.build(entity)  # accounts are built even when not asked for: others link to them
                    if wanted is not None and entity not in wanted:
                        continue
                    spec = specs[entity]
                    lineage = [
                        {
                            "connection_id": cid,
                            "connection_kind": kinds.get(cid, ""),
                            "source_object": obj,
                            "records": n,
                        }
                        for cid, obj, n in con.execute(
                            f"SELECT _connection_id, _source_object, count(*) FROM {store.source_table(entity)} "
                            "WHERE NOT _deleted GROUP BY ALL ORDER BY ALL"
                        ).fetchall()
                    ]
                    previous = MaterializedView.objects.filter(entity=entity).first()
                    version = (previous.version if previous else 0) + 1
                    now = datetime.now(UTC)
                    # type-2 history of the tracked entities: the versions that changed (dcl/history/)
                    history_record(con, entity=entity, spec=spec, at=now)

                    def record(
                        rows: int,
                        table: str,
                        *,
                        entity=entity,
                        version=version,
                        now=now,
                        lineage=lineage,
                        spec=spec,
                        started=started,
                    ) -> None:
                        view, _ = MaterializedView.objects.select_for_update().get_or_create(
                            entity=entity, defaults={"data_table": table, "materialized_at": now}
                        )
                        view.data_table = table
                        view.version = version
                        view.row_count = rows
                        view.columns = [{"name": n, "kind": str(k)} for n, k in spec.fields.items()]
                        view.sources = lineage
                        view.materialized_at = now
                        view.duration_ms = int((time.monotonic() - started) * 1000)
                        view.full_clean()
                        view.save()

                    rows = publish_view(
                        con,
                        schema=tenant.schema_name,
                        entity=entity,
                        spec=spec,
                        version=version,
                        materialized_at=now,
                        on_commit_catalog=record,
                    )
                    results[entity] = rows
                    duration = int((time.monotonic() - started) * 1000)
                    transaction.on_commit(
                        lambda e=entity, r=rows, v=version, d=duration: publish_event(
                            tenant, "view_materialized", {"entity": e, "rows": r, "version": v, "duration_ms": d}
                        )
                    )
                    transaction.on_commit(lambda e=entity, v=version, t=now: publish_view_stamp(tenant, e, v, t))
            finally:
                con.close()
    return results


