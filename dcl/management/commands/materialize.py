"""Rebuild a tenant's unified views: `manage.py materialize --tenant <slug> [--entity E ...]`."""

import json

from django.core.management.base import BaseCommand

from dcl.services import views_materialize

from ._tenant import tenant_by_slug


class Command(BaseCommand):
    help = "Drain the tenant's streams, rebuild its unified views and swap them into PostgreSQL."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--entity", action="append", dest="entities")

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        self.stdout.write(json.dumps(views_materialize(tenant=tenant, entities=opts["entities"])))
