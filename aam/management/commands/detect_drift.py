"""Check a tenant's sources for schema drift: `python manage.py detect_drift --tenant <slug> [--connection <id>]`."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Discover the schema of every object of the tenant's connections (or one), compare it with the last "
        "snapshot and repair or queue what changed under each connection's drift policy. No records are read."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--connection", type=int, help="only this connection id")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the outcomes as JSON")

    def handle(self, *args, tenant: str, connection: int | None = None, as_json: bool = False, **options):
        from django_tenants.utils import tenant_context

        from tenants.models import Tenant

        target = Tenant.objects.filter(slug=tenant).exclude(schema_name="public").first()
        if target is None:
            raise CommandError(f"no tenant {tenant!r}")
        with tenant_context(target):
            failed = self._run(connection, as_json=as_json)
        if failed:
            raise CommandError(f"{failed} connection(s) could not be checked")

    def _run(self, connection_id: int | None, *, as_json: bool) -> int:
        from aam.drift.services import drift_detect
        from connectors.errors import ConnectorError
        from connectors.models import Connection

        connections = Connection.objects.order_by("id")
        if connection_id is not None:
            connections = connections.filter(pk=connection_id)
            if not connections.exists():
                raise CommandError(f"no connection {connection_id} in this tenant")
        failed, report = 0, []
        for conn in connections:
            try:
                outcomes = drift_detect(connection=conn)
            except ConnectorError as exc:
                failed += 1
                report.append({"connection_id": conn.pk, "error": exc.message})
                if not as_json:
                    self.stderr.write(f"{conn.name} (#{conn.pk}): cannot discover the source: {exc.message}")
                continue
            report.append({"connection_id": conn.pk, "objects": [o.as_dict() for o in outcomes]})
            if not as_json:
                self._print(conn, outcomes)
        if as_json:
            self.stdout.write(json.dumps(report, indent=2, default=str))
        return failed

    def _print(self, conn, outcomes) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"{conn.name} (#{conn.pk}, policy {conn.drift_policy})"))
        for o in outcomes:
            if o.baseline:
                self.stdout.write(f"  {o.source_object}: first snapshot taken ({o.fingerprint[:12]})")
            elif not o.events:
                self.stdout.write(f"  {o.source_object}: no drift")
            for e in o.events:
                change = f"{e['field']} → {e['new_field']}" if e["new_field"] else e["field"]
                self.stdout.write(f"  {o.source_object}: {e['kind']} {change} — {e['status']} ({e['confidence']:.2f})")
            if o.frozen:
                self.stdout.write(self.style.WARNING(f"  frozen: {o.frozen_reason}"))
