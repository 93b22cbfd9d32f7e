"""Rebuild a tenant's unified views: `manage.py materialize --tenant <slug> [--entity E ...]` (drains the
streams and runs the value stage first, as a pipeline run does)."""

import json

from django.core.management.base import BaseCommand

from dcl.pipeline.materialize import materialize_with_values

from ._tenant import tenant_by_slug


class Command(BaseCommand):
    help = "Drain the tenant's streams, map their values, rebuild its unified views and swap them into PostgreSQL."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--entity", action="append", dest="entities")

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        views, _values = materialize_with_values(tenant=tenant, entities=opts["entities"])
        self.stdout.write(json.dumps(views))
