"""DCL writes: drain the tenant's streams into DuckDB; materialize unified views into PostgreSQL."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django_tenants.utils import tenant_context

from aam.ingest.kinds import kind_for
from aam.ingest.schema import ontology_entities
from autonomos.core.events import publish_event

from . import store
from .consumer import ConsumeResult, StreamConsumer
from .history import history_record
from .incremental import DIRTY, DIRTY_IDS, ViewPlanner, clusters_before, clusters_dirty, merged_delta
from .page_cache import publish_view_stamp
from .pgsync import data_table_name, publish_delta, publish_view
from .reporting import fx_context
from .resolution import engine as er_engine
from .unify import Unifier, delta_relations, view_spec

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
            if streams_waiting(tenant, connection_ids, unknown=False):
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


def streams_waiting(tenant, connection_ids=None, *, unknown: bool = True) -> bool:
    """Whether any of the tenant's streams (of `connection_ids`, or all) holds an entry not yet applied
    (acknowledged entries are trimmed, so length = work); `unknown` when Redis cannot say: True for a
    drain (it looks, and meets the error itself), False for the idle loop (it looks again later)."""
    from aam.streams import binary_redis, stream_key

    try:
        r = binary_redis()
        ids = connection_ids or _registered_streams(tenant)
        return any(r.xlen(stream_key(tenant, cid)) for cid in ids)
    except Exception:  # noqa: BLE001 - see the docstring
        return unknown


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
    """Each connection's kind, deleted ones included (their records may stay in the views)."""
    from connectors.models import Connection

    from .models import RemovedConnection

    return {**dict(RemovedConnection.objects.values_list("connection_id", "kind")),
            **dict(Connection.objects.values_list("id", "kind"))}


def connection_records_remove(*, tenant, connection_id: int) -> dict:
    """Take every record of a (deleted) connection out of the unified views: each becomes a tombstone
    in one DuckDB transaction, which also lists the connection in `_dcl_removed` (the consumer drops any
    batch of it still in its stream), then the views are brought up to date (its entities leave them,
    and the history marks them deleted). Returns {entity: records removed} and the views' row counts."""
    removed: dict[str, int] = {}
    with tenant_context(tenant), store.WriterLock(tenant):
        con = store.connect(tenant)
        try:
            tables = sorted(t for t in store.existing_tables(con) if t.startswith("src_"))
            con.execute("BEGIN TRANSACTION")
            try:
                txn = store.txn_next(con)
                con.execute("INSERT OR IGNORE INTO _dcl_removed VALUES (?)", [int(connection_id)])
                for table in tables:
                    n = con.execute(
                        f"UPDATE {table} SET _deleted = true, _txn = ? WHERE _connection_id = ? AND NOT _deleted",
                        [txn, int(connection_id)]
                    ).fetchone()[0]
                    if n:
                        removed[table.removeprefix("src_")] = int(n)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()
    views = views_materialize(tenant=tenant, drain=False) if removed else {}
    logger.info("connection %s: %s records removed from the views", connection_id, removed)
    return {"removed": removed, "views": views}


def views_materialize(
    *, tenant, entities: list[str] | None = None, drain: bool = True, on_drained=None, full: bool = False,
    report: dict | None = None, retrain: list[str] | None = None,
) -> dict[str, int]:
    """Bring the unified views of `entities` (all present ones when None) up to date in DuckDB and
    PostgreSQL (`dcl_view_<entity>`); returns {entity: row_count}.

    Each view is planned (dcl/incremental.py, docs/adr/0022-incremental-views.md): left alone when
    nothing it is computed from changed, its changed entities applied to its PostgreSQL table in one
    transaction when some did (`delta`), rebuilt and swapped in whole otherwise (`full`, or always with
    `full`). `report`, when given, is filled with each view's plan and what it wrote.

    With `drain`, batches still waiting in the streams are applied first, so the views include
    everything published so far (in the same DuckDB connection: one checkpoint, not two);
    `on_drained(ConsumeResult)` is told what that applied. `retrain`: entities whose entity-resolution
    model is retrained and whose records are re-clustered whole (ADR 0028; queued when they outgrew it).
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
                if drain:
                    drained = StreamConsumer(tenant, con).run(until_idle=True, idle_seconds=0)
                    if on_drained is not None:
                        on_drained(drained)
                unifier = Unifier(con, specs, kinds, fx=fx)
                planner = ViewPlanner(con, kinds=kinds, fx=fx, full=full or not settings.DCL_INCREMENTAL)
                catalog = {v.entity: v for v in MaterializedView.objects.all()}
                # entity resolution where it applies (deals: from two systems), or where people decided
                resolution = {e: c for e in unifier.present() if er_engine.enabled(e)
                              for c in [_er_constraints(e)] if c or er_engine.applies(con, e)}
                unifier.resolving = set(resolution)
                for entity in unifier.present():
                    if er_engine.enabled(entity) and entity not in resolution and er_engine.forget(con, entity):
                        # deals from one system again: nothing to link, nothing left to review
                        _resolution_publish(entity, er_engine.Report(entity, mode="off"))
                wanted = set(entities) if entities else None
                for entity in unifier.present():
                    # accounts are kept up to date even when not asked for: the others link to them
                    if wanted is not None and entity not in wanted and entity != "account":
                        continue
                    step = _ViewStep(tenant, con, unifier, planner, specs[entity], catalog.get(entity),
                                     constraints=resolution.get(entity), full=full or entity in (retrain or ()))
                    try:
                        rows = step.run()
                    except BaseException:
                        planner.forget(entity)
                        raise
                    if report is not None:
                        report[entity] = step.report
                    if wanted is None or entity in wanted:
                        results[entity] = rows
            finally:
                con.close()
    return results


class _ViewStep:
    """One view of a materialization: plan it, then build and publish what the plan says."""

    def __init__(self, tenant, con, unifier: Unifier, planner: ViewPlanner, spec, previous, *,
                 constraints: list | None = None, full: bool = False) -> None:
        self.tenant, self.con, self.unifier, self.planner = tenant, con, unifier, planner
        self.spec, self.entity, self.previous = spec, spec.entity, previous
        # the people's match decisions when the entity is resolved by entity resolution (None: not)
        self.constraints, self.full = constraints, full
        self.report: dict = {}

    def _resolve(self) -> None:
        """Entity resolution's clusters brought up to date before the view is built from them; its review
        items and id redirects go to PostgreSQL once the view is published (`_resolution_publish`)."""
        # accounts: the website-domain rules' keys are links the model adds to (ADR 0028)
        rules = (f"(SELECT _connection_id, _source_id, _key, _cd AS _group FROM {self.unifier.account_keys()})"
                 if self.entity == "account" else None)
        from .resolution.decisions import own_domains

        apart = self.unifier.account_parent_pairs() if self.entity == "account" else None
        result = er_engine.resolve(self.con, self.entity, constraints=self.constraints, full=self.full, rules=rules,
                                   apart=apart, own_domains=own_domains())
        self.report["resolution"] = result.as_dict()
        self.resolution = result

    def run(self) -> int:
        entity, previous, con = self.entity, self.previous, self.con
        started = time.monotonic()
        resolved = self.constraints is not None
        plan = self.planner.plan(self.spec, has_accounts=self.unifier.has_accounts,
                                 data_table=previous.data_table if previous else None,
                                 rows=previous.row_count if previous else None,
                                 extra=er_engine.constraints_digest(self.constraints) if resolved else None)
        if plan.mode == "skip" and resolved and self.full:
            # a retraining asked for: the clusters may move although no record did
            plan.mode, plan.reason = "delta", "entity resolution retrained"
        self.report = plan.as_dict()
        if plan.mode == "skip":
            if entity == "account":
                self.unifier.accounts_known()
            return previous.row_count
        if entity == "account":
            self.planner.account_links_before()
        clustered = resolved and self.spec.per_record  # one row per cluster of records (dcl/unify.py cluster_rows)
        if clustered and plan.mode == "delta" and not clusters_before(con, entity):
            plan.mode, plan.reason = "full", "the published clusters are not known"
            self.report = plan.as_dict()
        if resolved:
            self._resolve()
        if clustered:
            self.unifier.cluster_rows(entity)
            if plan.mode == "delta":
                plan.dirty = clusters_dirty(con, entity)
                self.report["dirty"] = plan.dirty
        if plan.mode == "delta" and not self.spec.per_record:
            prev = f"_prev_view_{store.ident(entity)}"
            con.execute(f"DROP TABLE IF EXISTS {prev}")
            con.execute(f"ALTER TABLE view_{store.ident(entity)} RENAME TO {prev}")
        try:
            if plan.mode == "delta" and self.spec.per_record:
                self.unifier.build(entity, scope=DIRTY)
            else:
                self.unifier.build(entity)
            if entity == "account":
                self.planner.account_links_after()
            if plan.mode == "full":
                rows = self._full(plan, started)
            else:
                rows = self._delta(plan, started)
        finally:
            con.execute(f"DROP TABLE IF EXISTS _prev_view_{store.ident(entity)}")
        if resolved:
            _resolution_publish(self.entity, self.resolution)
        self.report["seconds"] = round(time.monotonic() - started, 3)
        return rows

    def _lineage(self) -> list[dict]:
        kinds = self.planner.kinds
        return [
            {"connection_id": cid, "connection_kind": kinds.get(cid, ""), "source_object": obj, "records": n}
            for cid, obj, n in self.con.execute(
                f"SELECT _connection_id, _source_object, count(*) FROM {store.source_table(self.entity)} "
                "WHERE NOT _deleted GROUP BY ALL ORDER BY ALL"
            ).fetchall()
        ]

    def _recorder(self, version: int, now: datetime, started: float):
        """The catalog row's update, run inside the transaction that publishes the view."""
        from .models import MaterializedView

        entity, spec, lineage = self.entity, self.spec, self._lineage()

        def record(rows: int, table: str) -> None:
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

        return record

    def _published(self, plan, *, rows: int, version: int, now: datetime, table: str, started: float) -> None:
        tenant, entity = self.tenant, self.entity
        duration = int((time.monotonic() - started) * 1000)
        payload = {"entity": entity, "rows": rows, "version": version, "duration_ms": duration, "mode": plan.mode,
                   **{k: self.report[k] for k in ("written", "removed") if k in self.report}}
        transaction.on_commit(lambda: publish_event(tenant, "view_materialized", payload))
        transaction.on_commit(lambda: publish_view_stamp(tenant, entity, version, now))
        self.planner.published(plan, table)

    def _full(self, plan, started: float) -> int:
        entity, spec = self.entity, self.spec
        version = (self.previous.version if self.previous else 0) + 1
        now = datetime.now(UTC)
        # type-2 history of the tracked entities: the versions that changed (dcl/history/)
        history_record(self.con, entity=entity, spec=spec, at=now)
        record = self._recorder(version, now, started)
        rows = publish_view(self.con, schema=self.tenant.schema_name, entity=entity, spec=spec, version=version,
                            materialized_at=now, on_commit_catalog=record)
        self.report["written"] = rows
        self._published(plan, rows=rows, version=version, now=now, table=data_table_name(entity, version),
                        started=started)
        return rows

    def _delta(self, plan, started: float) -> int:
        entity, spec, previous = self.entity, self.spec, self.previous
        now = datetime.now(UTC)
        if spec.per_record:
            view, published = delta_relations(entity)
            relation = published if spec.read_time_values else view
            history_record(self.con, entity=entity, spec=spec, at=now, view=view, only=DIRTY_IDS)
        else:
            # a merged view was rebuilt whole and is compared whole: an approved value updated its rows in
            # place (dcl/values_apply.py), so they differ from the history without being in `_delta`
            relation = "_delta"
            changed = merged_delta(self.con, entity)
            history_record(self.con, entity=entity, spec=spec, at=now)
            if not changed:  # no row differs from what PostgreSQL has: nothing to write
                self.report.update(written=0, removed=0)
                self.planner.published(plan, previous.data_table)
                return previous.row_count
        version = previous.version + 1
        record = self._recorder(version, now, started)
        counted: dict[str, int] = {}

        def record_delta(written: int, removed: int) -> None:
            counted["rows"] = previous.row_count - removed + written
            record(counted["rows"], previous.data_table)

        written, removed = publish_delta(self.con, schema=self.tenant.schema_name, entity=entity, spec=spec,
                                         table=previous.data_table, relation=relation, remove=DIRTY_IDS,
                                         materialized_at=now, on_commit_catalog=record_delta)
        self.report.update(written=written, removed=removed)
        self._published(plan, rows=counted["rows"], version=version, now=now, table=previous.data_table,
                        started=started)
        return counted["rows"]


def _er_constraints(entity: str) -> list:
    """The people's must-link / cannot-link decisions of an entity (dcl/resolution/decisions.py)."""
    from .resolution import decisions

    return decisions.constraints(entity)


def _resolution_publish(entity: str, result) -> None:
    """Entity resolution's pairs to review and its moved ids, into PostgreSQL (dcl/resolution/review.py)."""
    from .resolution import review

    review.review_pairs_record(entity, [review.ReviewPair(**pair) for pair in result.review])
    if result.redirects:
        review.redirects_record(entity, result.redirects)
    if result.retrain_due:
        from .resolution.decisions import rematerialize_request

        rematerialize_request(entity, retrain=True)
        logger.info("entity resolution %s: retraining queued (the records outgrew the model)", entity)
