"""Base class for tenant-bound Celery tasks."""

import logging

from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django_tenants.postgresql_backend.base import FakeTenant
from django_tenants.utils import get_public_schema_name
from tenant_schemas_celery.task import TenantTask as _TenantTask

from .tenancy import TenantRequired

logger = logging.getLogger(__name__)


def _header(request, name: str):
    # With the Redis broker the message headers are merged into the request (tenant-schemas-celery).
    headers = getattr(request, "headers", None) or {}
    return headers.get(name) or request.get(name)


class TenantBoundTask(_TenantTask):
    """A task that touches tenant data: queued inside a tenant, it runs there; queued for a tenant
    deleted since, it is dropped with a log line; queued outside any tenant, it fails loudly."""

    abstract = True
    autoretry_for = ()
    retry_backoff = True
    retry_backoff_max = 300
    retry_jitter = True
    max_retries = 5

    @classmethod
    def get_tenant_for_schema(cls, schema_name):
        try:
            return super().get_tenant_for_schema(schema_name)
        except ObjectDoesNotExist:
            # The tenant was deleted after the task was queued. Stay on the public schema, where
            # __call__ drops the task (raising here would only be logged by Celery's signal, and the
            # task would run on the public schema anyway).
            return FakeTenant(schema_name=get_public_schema_name())

    def __call__(self, *args, **kwargs):
        queued_for = _header(self.request, "_schema_name")
        if connection.schema_name == get_public_schema_name():
            if queued_for and queued_for != get_public_schema_name():
                return self._drop(f"tenant {queued_for!r} was deleted")
            raise TenantRequired(f"task {self.name} was queued outside a tenant")
        queued_for_id = _header(self.request, "_tenant_id")
        current_id = getattr(connection.tenant, "tenant_id", None)
        if queued_for_id and current_id is not None and str(current_id) != str(queued_for_id):
            # The schema's name was taken again by a new tenant: this task belongs to the old one.
            return self._drop(f"tenant {queued_for!r} ({queued_for_id}) was deleted")
        return super().__call__(*args, **kwargs)

    def _drop(self, why: str) -> None:
        logger.warning("task %s[%s] dropped: %s after it was queued", self.name, self.request.id, why)
        return None
