"""Base class for tenant-bound Celery tasks."""

from django.db import connection
from tenant_schemas_celery.task import TenantTask as _TenantTask

from .tenancy import TenantRequired


class TenantBoundTask(_TenantTask):
    """A task that touches tenant data: queued inside a tenant, it runs there; else it fails loudly."""

    abstract = True
    autoretry_for = ()
    retry_backoff = True
    retry_backoff_max = 300
    retry_jitter = True
    max_retries = 5

    def __call__(self, *args, **kwargs):
        if connection.schema_name == "public":
            raise TenantRequired(f"task {self.name} was queued outside a tenant")
        return super().__call__(*args, **kwargs)
