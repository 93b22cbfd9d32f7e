"""Thin Celery entry points of aam: periodic drift detection."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import connection as db

from autonomos.core import redis_names
from autonomos.core.redis import get_redis
from autonomos.core.tasks import TenantBoundTask

logger = logging.getLogger(__name__)


@shared_task(name="aam.drift_detect_all", soft_time_limit=120, time_limit=180)
def drift_detect_all_task() -> int:
    """Beat entry point (public schema): queue one drift check per tenant, inside that tenant."""
    from django_tenants.utils import get_tenant_model, tenant_context

    queued = 0
    for tenant in get_tenant_model().objects.exclude(schema_name="public"):
        with tenant_context(tenant):
            drift_detect_tenant_task.delay()
        queued += 1
    return queued


@shared_task(
    base=TenantBoundTask, name="aam.drift_detect_tenant", soft_time_limit=1500, time_limit=1600, ignore_result=True
)
def drift_detect_tenant_task(connection_id: int | None = None) -> dict:
    """Check the schemas of the tenant's connections (one run per tenant at a time)."""
    from aam.drift.services import drift_detect_tenant

    tenant = db.tenant
    lock = get_redis().set(redis_names.drift_lock(tenant), "1", nx=True, ex=settings.CELERY_TASK_TIME_LIMIT)
    if not lock:
        logger.info("drift detection already running for tenant %s", tenant.tenant_id)
        return {"skipped": "already running"}
    try:
        return drift_detect_tenant(connection_id=connection_id)
    finally:
        get_redis().delete(redis_names.drift_lock(tenant))
