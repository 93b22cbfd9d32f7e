"""The Celery app. Tasks run inside the tenant they were queued for (tenant-schemas-celery puts
the schema in a header); a task declared tenant-bound refuses to run on the public schema."""

import os

from celery.schedules import crontab
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autonomos.settings.local")

app = CeleryApp("autonomos")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# All periodic schedules live here. The tasks fan out over tenants themselves.
app.conf.beat_schedule: dict = {
    # Schema drift between syncs: hourly, at minute 17 (off the hour, away from other hourly jobs).
    # Each sync checks its own objects first; this catches a source that changed while nothing
    # synced, so a reviewer hears of it (and a frozen connection stops) before the next sync.
    # A check is a discovery per connection (a few metadata calls), no records are read.
    "aam-drift-detect": {"task": "aam.drift_detect_all", "schedule": crontab(minute=17)},
}
