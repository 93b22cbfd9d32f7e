"""Bring a tenant's unified views up to date: `manage.py materialize --tenant <slug> [--entity E ...] [--full]`
(drains the streams and runs the value stage first, as a pipeline run does). Only what changed since the
last publication is written; `--full` rebuilds every view whole (docs/adr/0022-incremental-views.md)."""

import json

from django.core.management.base import BaseCommand

from dcl.pipeline.materialize import materialize_with_values

from ._tenant import tenant_by_slug


class Command(BaseCommand):
    help = ("Drain the tenant's streams, map their values, and bring its unified views in PostgreSQL up to date "
            "(only what changed; --full rebuilds them whole).")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--entity", action="append", dest="entities")
        parser.add_argument("--full", action="store_true", help="rebuild every view whole")

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        views, _values = materialize_with_values(tenant=tenant, entities=opts["entities"], full=opts["full"])
        self.stdout.write(json.dumps(views))
