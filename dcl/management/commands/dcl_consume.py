"""Run the DCL stream consumer of a tenant: `manage.py dcl_consume --tenant <slug> [--until-idle]`.

SIGTERM/SIGINT stop at once (what was read and not applied stays pending, reclaimed next time);
SIGUSR1 asks to finish: apply everything waiting, then exit (and `--materialize`: the value stage,
then the views). Batches that could not be applied are dead-lettered (kept with the reason): the
command then exits non-zero after printing its figures, so a script can tell (`dcl_dead_letters`
lists them).
"""

import json
import resource
import signal
import threading
import time

from django.core.management.base import BaseCommand, CommandError

from dcl.pipeline.materialize import materialize_with_values
from dcl.services import stream_consume

from ._tenant import tenant_by_slug


def _cpu() -> float:
    """CPU seconds (user + system) of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    """This process's peak RSS. Linux's ru_maxrss also counts the parent's RSS at fork time (it
    survives exec), so the memory map's own high-water mark is read where there is one."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Command(BaseCommand):
    help = "Apply the tenant's stream batches to its DuckDB file (each exactly once)."
    # Worker commands: the system checks (URLs, admin, models; ~0.3 s) are run by `manage.py check`
    # and at deploy, not at every start.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--connection", type=int, action="append", dest="connections")
        parser.add_argument("--until-idle", action="store_true", help="stop when no batch came for --idle-seconds")
        parser.add_argument("--idle-seconds", type=float, default=None)
        parser.add_argument("--max-seconds", type=float, default=None)
        parser.add_argument("--materialize", action="store_true", help="rebuild the unified views when done")

    def handle(self, *args, **opts):
        tenant = tenant_by_slug(opts["tenant"])
        stop, finish = threading.Event(), threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())

        def on_finish(*_):
            finish.set()
            stop.set()

        signal.signal(signal.SIGUSR1, on_finish)
        started = time.monotonic()
        cpu_started = _cpu()
        result = stream_consume(
            tenant=tenant,
            connection_ids=opts["connections"],
            until_idle=opts["until_idle"],
            stop=stop,
            max_seconds=opts["max_seconds"],
            idle_seconds=opts["idle_seconds"],
        )
        out = result.as_dict()

        def add(rest) -> None:
            for key in ("batches", "records", "duplicates", "dead_lettered", "transactions"):
                out[key] += getattr(rest, key)

        if finish.is_set() and not opts["materialize"]:
            add(stream_consume(tenant=tenant, connection_ids=opts["connections"], until_idle=True, idle_seconds=0))
        out["consume_seconds"] = round(time.monotonic() - started, 3)
        out["consume_cpu_seconds"] = round(_cpu() - cpu_started, 3)
        out["consume_peak_rss_mb"] = _peak_rss_mb()
        if opts["materialize"]:
            # Materializing drains what is left first, in the same DuckDB connection.
            began, cpu_began = time.monotonic(), _cpu()
            out["views"], values = materialize_with_values(tenant=tenant, on_drained=add)
            out["values_seconds"] = values.get("seconds")
            out["materialize_seconds"] = round(time.monotonic() - began, 3)
            out["materialize_cpu_seconds"] = round(_cpu() - cpu_began, 3)
        out["peak_rss_mb"] = _peak_rss_mb()
        self.stdout.write(json.dumps(out))
        if out.get("dead_lettered"):
            raise CommandError(f"{out['dead_lettered']} batch(es) could not be applied and were dead-lettered; "
                               f"manage.py dcl_dead_letters --tenant {tenant.slug} lists them with the reason")
