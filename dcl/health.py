"""The facts a connection's health is derived from, gathered where they all can be seen.

connectors/health.py holds the rules (`health_derive`); connectors may not import the layers
above it, so the DCL, which sees the runs it records (`ConnectionRun`), aam's review items and
quarantine, and the running and queued syncs in Redis (aam/sync_lock.py), registers this
provider in `DclConfig.ready()`. The same few queries for any number of connections: the latest
run of each (DISTINCT ON), the pending review items per connection, the newest quarantine reason of
those whose last run quarantined records (DISTINCT ON), one SCAN and one MGET in Redis.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from aam.models import QuarantinedRecord, ReviewItem
from aam.sync_lock import syncs_queued, syncs_running
from autonomos.core.tenancy import current_tenant
from connectors.health import HealthFacts, LastRun, ObjectRead

from .models import ConnectionRun

logger = logging.getLogger(__name__)


def _objects(info: dict[str, Any]) -> tuple[bool, tuple[ObjectRead, ...]]:
    """(the read step finished, what it did per object) from a run's recorded info."""
    for step in (info or {}).get("steps") or []:
        if step.get("step") != "read":
            continue
        if not step.get("ok", True):
            return False, ()
        details = (step.get("details") or {}).get("details") or []
        return True, tuple(
            ObjectRead(name=str(o.get("name") or ""), entity=o.get("entity"), read=int(o.get("records_read") or 0),
                       published=int(o.get("records_published") or 0), quarantined=int(o.get("quarantined") or 0),
                       skipped=str(o.get("skipped") or ""), row_count=o.get("row_count"),
                       from_start=o.get("from_start"))
            for o in details if isinstance(o, dict))
    return False, ()


def _last_runs(ids: list[int]) -> dict[int, ConnectionRun]:
    """The latest run of each connection that started something (a skipped tick is not a run)."""
    rows = (ConnectionRun.objects.filter(connection_id__in=ids).exclude(status=ConnectionRun.Status.SKIPPED)
            .order_by("connection_id", "-started_at", "-id").distinct("connection_id"))
    return {r.connection_id: r for r in rows}


def _redis_facts(tenant, ids: list[int]) -> tuple[set[int], set[int]]:
    try:
        return set(syncs_running(tenant)), syncs_queued(tenant, ids)
    except Exception:  # noqa: BLE001 - Redis away: the pages still say what the database knows
        logger.warning("running and queued syncs unknown (Redis)", exc_info=True)
        return set(), set()


def _quarantine_reasons(ids: list[int]) -> dict[int, str]:
    """The newest quarantined record's reason of each of these connections, in one query."""
    if not ids:
        return {}
    rows = (QuarantinedRecord.objects.filter(connection_id__in=ids).order_by("connection_id", "-id")
            .distinct("connection_id").values_list("connection_id", "reason"))
    return {cid: reason[:200] for cid, reason in rows if reason}


def _tenant():
    """The current tenant with its id (schema_context() sets a stand-in that has only the schema name)."""
    tenant = current_tenant()
    if getattr(tenant, "tenant_id", None) is None:
        from tenants.models import Tenant

        tenant = Tenant.objects.get(schema_name=tenant.schema_name)
    return tenant


def health_facts(connections: list) -> dict[int, HealthFacts]:
    """{connection id: HealthFacts} for these connections of the current tenant."""
    ids = [c.pk for c in connections]
    tenant = _tenant()
    runs = _last_runs(ids)
    pending = dict(ReviewItem.objects.filter(connection_id__in=ids, status=ReviewItem.Status.PENDING)
                   .values_list("connection_id").annotate(n=Count("id")))
    running, queued = _redis_facts(tenant, ids)
    stale_before = timezone.now() - timedelta(seconds=settings.CONNECTION_RUN_STALE_SECONDS)
    reasons = _quarantine_reasons([cid for cid, r in runs.items() if r.quarantined])
    out = {}
    for c in connections:
        row = runs.get(c.pk)
        last = None
        if row is not None:
            read_done, objects = _objects(row.info)
            last = LastRun(id=row.pk, status=row.status, trigger=row.trigger, started_at=row.started_at,
                           finished_at=row.finished_at, error=row.error, retry_at=row.retry_at,
                           stale=row.status == ConnectionRun.Status.RUNNING and c.pk not in running
                           and row.started_at < stale_before,
                           read_done=read_done, objects=objects, quarantine_reason=reasons.get(c.pk, ""))
        out[c.pk] = HealthFacts(status=c.status, last_error=c.last_error, last_synced_at=c.last_synced_at,
                                sync_running=c.pk in running, sync_queued=c.pk in queued, last_run=last,
                                review_pending=int(pending.get(c.pk, 0)))
    return out
