"""One `manage.py sync` in a process of its own, timed from inside (for `bench_pg_sync`).

    python -m benchmarks.sync_child --tenant SLUG --connection ID

Runs the product's `sync` command (`call_command`, the same code path as `manage.py sync`) after
Django is set up, and prints one JSON line: `startup_seconds` (from the process's creation to the
command's start: interpreter, imports, `django.setup()`), `work_seconds` (the command itself),
`output` (the command's own JSON: per connection what was read, the views, the run's steps with
their seconds) and `peak_rss_mb` (the process's VmHWM: its peak resident memory).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time


def peak_rss_mb(status_path: str = "/proc/self/status") -> float | None:
    """VmHWM (the peak resident set) of a process, in MiB; None when the kernel does not say."""
    return proc_status_mb(status_path, "VmHWM")


def proc_status_mb(status_path: str, field: str) -> float | None:
    try:
        with open(status_path, encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        return None
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--connection", type=int, required=True)
    args = parser.parse_args(argv)

    import django
    import psutil

    django.setup()
    from django.core.management import call_command

    started = time.monotonic()
    startup = time.time() - psutil.Process().create_time()
    out = io.StringIO()
    call_command("sync", tenant=args.tenant, connections=[args.connection], stdout=out)
    work = time.monotonic() - started
    lines = out.getvalue().strip().splitlines()
    print(json.dumps({
        "startup_seconds": round(startup, 3),
        "work_seconds": round(work, 3),
        "output": json.loads(lines[-1]) if lines else None,
        "peak_rss_mb": peak_rss_mb(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
