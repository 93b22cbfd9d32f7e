"""Sync connections end to end: `manage.py sync --tenant <slug> [--connection ID] [--full]`.

One pipeline run (dcl/pipeline): each connection is read with a DCL consumer beside it in this
process, so the stream's back-pressure never stalls, then the views are rebuilt once. A progress
bar shows records/s and the ETA. The JSON it prints ends with the run's steps and their seconds.
"""

import json

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context
from tqdm import tqdm

from dcl.pipeline import PipelineStepFailed, SyncRun

from ._tenant import tenant_by_slug


class Command(BaseCommand):
    help = "Sync a tenant's connections (all, or --connection ID), then materialize its views."
    # Worker commands: the system checks (URLs, admin, models; ~0.3 s) are run by `manage.py check`
    # and at deploy, not at every start.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--connection", type=int, action="append", dest="connections")
        parser.add_argument("--full", action="store_true", help="read everything again, ignoring cursors")
        parser.add_argument("--no-materialize", action="store_true")
        parser.add_argument(
            "--no-consume", action="store_true", help="only publish (a DCL consumer runs elsewhere: dcl_consume)"
        )

    def handle(self, *args, **opts):
        from connectors.models import Connection

        tenant = tenant_by_slug(opts["tenant"])
        with tenant_context(tenant):
            connections = list(Connection.objects.all())
            if opts["connections"]:
                connections = [c for c in connections if c.pk in set(opts["connections"])]
                missing = set(opts["connections"]) - {c.pk for c in connections}
                if missing:
                    raise CommandError(f"no connection {sorted(missing)} in tenant {tenant.slug}")
            results = {}
            run = SyncRun(tenant=tenant, full=opts["full"], trigger="command")
            if not opts["no_consume"]:
                run.start()
            try:
                for conn in connections:
                    results[conn.pk] = self._read(run, conn)
            finally:
                run.stop()
            if not opts["no_consume"]:
                if run.consumer_failure is not None:  # the last drain tries again
                    failure = run.consumer_failure
                    results["consumer_error"] = f"{failure.__class__.__name__}: {failure}"
                run.consume()
            if not opts["no_materialize"]:
                results["views"] = run.materialize()
            # each step of the run with its seconds (read, consume, deletes, changes, values, materialize)
            results["steps"] = [{k: v for k, v in s.as_dict().items() if k != "details"} for s in run.info.steps]
            self.stdout.write(json.dumps(results, default=str))

    def _read(self, run: SyncRun, conn) -> dict:
        bar = tqdm(desc=f"{conn.name}", unit="rec", unit_scale=True, dynamic_ncols=True)

        def progress(p):
            if p.total and bar.total != p.total:
                bar.total = p.total
            bar.n = p.records_read
            bar.set_postfix(published=p.records_published, quarantined=p.quarantined, refresh=False)
            bar.refresh()

        try:
            return run.read(conn, progress=progress).as_dict()
        except PipelineStepFailed as failed:  # one failing connection does not stop the others
            exc = failed.exception
            return {"error": f"{exc.__class__.__name__}: {exc}"}
        finally:
            bar.close()
