"""Run the DCL stream consumer of a tenant: `manage.py dcl_consume --tenant <slug> [--until-idle]`."""

import json
import signal
import threading

from django.core.management.base import BaseCommand

from dcl.services import stream_consume

from ._tenant import tenant_by_slug


class Command(BaseCommand):
    help = "Apply the tenant's stream batches to its DuckDB file (each exactly once)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--connection", type=int, action="append", dest="connections")
        parser.add_argument("--until-idle", action="store_true", help="stop when no batch came for --idle-seconds")
        parser.add_argument("--idle-seconds", type=float, default=None)
        parser.add_argument("--max-seconds", type=float, default=None)

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        result = stream_consume(tenant=tenant, connection_ids=opts["connections"], until_idle=opts["until_idle"],
                                stop=stop, max_seconds=opts["max_seconds"], idle_seconds=opts["idle_seconds"])
        self.stdout.write(json.dumps(result.as_dict()))
