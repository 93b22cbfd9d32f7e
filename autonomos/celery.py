"""The Celery app. Tasks run inside the tenant they were queued for (tenant-schemas-celery puts
the schema in a header); a task declared tenant-bound refuses to run on the public schema."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomos.settings.local")

app = CeleryApp("autonomos")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# All periodic schedules live here. The tasks fan out over tenants themselves.
app.conf.beat_schedule: dict = {}
