"""Tasks used only by the tests; the worker started by the tests loads them with --include."""

from celery import shared_task
from django.contrib.auth.models import Group

from autonomos.core.tasks import TenantBoundTask


@shared_task(base=TenantBoundTask, name="tests.create_group")
def create_group(name: str) -> str:
    from django.db import connection

    Group.objects.create(name=name)
    return connection.schema_name
