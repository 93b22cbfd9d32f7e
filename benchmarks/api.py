"""Benchmark `/api/dcl/views/opportunity/`: `manage.py bench_api [--seconds 30] [--concurrency 32] [--cold]`.

Serves the project with the product's own server (scripts/web.sh: uvicorn, WEB_CONCURRENCY
processes) and loads it from another process: pages of 100 rows with a filter and a sort,
rotating over 7 stages x 10 pages, on the view `bench_ingest` built (run it first with
--rows 1000000 --keep). The load generator is wrk (Debian's package; installed with apt-get when
missing and possible) or, failing that, an httpx script (`benchmarks.api_load`); the output says which.
`--cold` turns the page cache off (every request queries PostgreSQL); `--no-edge` sends cached
pages through Django instead of the API edge (dcl/api/edge.py). Prints throughput,
p50/p90/p99 latency, the server's CPU time per request and the load average. It prints figures;
it asserts nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import psutil
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

STAGES = [
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
]

WRK_SCRIPT = """
local paths = %(paths)s
wrk.headers["Host"] = %(host)s
wrk.headers["Authorization"] = %(auth)s
local next_id = 0
function setup(thread) thread:set("offset", next_id * 37); next_id = next_id + 1 end
local n = 0
function request()
  n = n + 1
  return wrk.format("GET", paths[((offset or 0) + n) %% #paths + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %%d, "seconds": %%.2f, "p50_ms": %%.2f, "p90_ms": %%.2f, ' ..
    '"p99_ms": %%.2f, "max_ms": %%.2f, "errors": {"connect": %%d, "read": %%d, "write": %%d, ' ..
    '"status": %%d, "timeout": %%d}}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal for these (ASCII) values


def _find_wrk(stdout) -> str | None:
    path = shutil.which("wrk")
    if path or not shutil.which("apt-get") or os.geteuid() != 0:
        return path
    stdout.write("wrk is missing: apt-get install -y wrk")
    subprocess.run(["apt-get", "install", "-y", "wrk"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return shutil.which("wrk")


def _cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


class Command(BaseCommand):
    help = "Load the unified-view API (page of 100, filter + sort) and print throughput and latency."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default="bench")
        parser.add_argument("--seconds", type=float, default=30)
        parser.add_argument("--concurrency", type=int, default=32)
        parser.add_argument("--workers", type=int, default=settings.WEB_CONCURRENCY, help="uvicorn processes")
        parser.add_argument("--cold", action="store_true", help="page cache off: every request queries PostgreSQL")
        parser.add_argument("--no-edge", action="store_true",
                            help="the API edge off: cached pages go through Django's middleware and DRF")
        parser.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto")

    def handle(self, *args, **opts):
        from django.contrib.auth import get_user_model

        from dcl.models import MaterializedView
        from tenants.auth import issue_tokens
        from tenants.models import Tenant

        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {opts['tenant']!r}: run bench_ingest --rows 1000000 --keep first")
        with tenant_context(tenant):
            view = MaterializedView.objects.filter(entity="opportunity").first()
            if view is None:
                raise CommandError("no opportunity view: run bench_ingest --rows 1000000 first")
            user = get_user_model().objects.filter(is_active=True).order_by("pk").first()  # its first admin
            access = issue_tokens(user, tenant).access_token
            access.set_exp(lifetime=timedelta(seconds=opts["seconds"] + 600))  # outlives the run
            token = str(access)
        host = f"{tenant.slug}.{settings.TENANT_BASE_DOMAIN}"
        paths = [
            f"/api/dcl/views/opportunity/?page_size=100&stage={quote(stage, safe='')}&ordering=-amount&page={page}"
            for stage in STAGES
            for page in range(1, 11)
        ]
        client = opts["client"]
        wrk = _find_wrk(self.stdout) if client in ("auto", "wrk") else None
        if client == "wrk" and wrk is None:
            raise CommandError("wrk is not installed and could not be installed (apt-get install wrk)")
        port = _free_port()
        env = dict(
            os.environ,
            PYTHON=sys.executable,
            HOST="127.0.0.1",
            PORT=str(port),
            WEB_CONCURRENCY=str(opts["workers"]),
            # One user makes every request: the per-user rate limit would refuse most of them.
            USER_THROTTLE_RATE="100000000/min",
            DJANGO_DEBUG="false",
            LOG_LEVEL="WARNING",
        )
        if opts["cold"]:
            env["DCL_PAGE_CACHE_SECONDS"] = "0"
        if opts["no_edge"]:
            env["DCL_EDGE"] = "false"
        server = subprocess.Popen(
            ["bash", str(Path(settings.BASE_DIR) / "scripts" / "web.sh")],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        headers = {"Host": host, "Authorization": f"Bearer {token}"}
        try:
            self._wait_ready(server, base, headers, paths[0])
            # Warm up: each path once (the first read of a page comes from disk; counts get cached),
            # then every path again over several connections at once, so that every server process
            # has served some (its per-process caches: tenant, token, user, connections).
            with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
                for path in paths:
                    response = http.get(path)
                    if response.status_code != 200:
                        raise CommandError(f"{path}: {response.status_code} {response.text[:500]}")
            self._warm_all_processes(base, headers, paths, opts["workers"])
            proc = psutil.Process(server.pid)
            cpu_before = _cpu_seconds(proc)
            load_before = [round(x, 2) for x in os.getloadavg()]
            if wrk:
                result = self._run_wrk(wrk, base, host, token, paths, opts)
                used = f"wrk ({wrk}), 2 threads"
            else:
                result = self._run_httpx(base, host, token, paths, opts)
                used = "httpx script (benchmarks.api_load): wrk unavailable" if client == "auto" else "httpx script"
            cpu = _cpu_seconds(proc) - cpu_before
        finally:
            os.killpg(server.pid, 15)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, 9)
        requests = result["requests"]
        result.update(
            {
                "requests_per_second": round(requests / result["seconds"], 1) if result["seconds"] else 0.0,
                "server_cpu_ms_per_request": round(cpu * 1000 / requests, 2) if requests else None,
                "view_rows": view.row_count,
                "concurrency": opts["concurrency"],
                "server": f"uvicorn, {opts['workers']} processes (scripts/web.sh)",
                "page_cache": "off (--cold)" if opts["cold"] else f"on ({settings.DCL_PAGE_CACHE_SECONDS} s)",
                "edge": "off" if opts["no_edge"] or opts["cold"] else "on (dcl/api/edge.py)",
                "load_generator": used,
                "query": paths[0],
                "distinct_urls": len(paths),
                "cpus": os.cpu_count(),
                "load_average_before": load_before,
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            }
        )
        self.stdout.write(json.dumps(result, indent=2))

    def _warm_all_processes(self, base, headers, paths, workers) -> None:
        import threading

        def run():
            with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
                for path in paths:
                    http.get(path)

        threads = [threading.Thread(target=run) for _ in range(max(4, 4 * workers))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _wait_ready(self, server, base, headers, path) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise CommandError(f"the server exited: {server.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(base + path, headers=headers, timeout=10).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise CommandError("the server did not answer within 60 s")

    def _run_wrk(self, wrk, base, host, token, paths, opts) -> dict:
        script = WRK_SCRIPT % {
            "paths": "{" + ", ".join(_lua(p) for p in paths) + "}",
            "host": _lua(host),
            "auth": _lua(f"Bearer {token}"),
        }
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(script)
        try:
            run = subprocess.run(
                [wrk, "-t2", f"-c{opts['concurrency']}", f"-d{int(opts['seconds'])}s", "--timeout", "10s",
                 "-s", f.name, base],
                capture_output=True, text=True, timeout=opts["seconds"] + 60,
            )
        finally:
            os.unlink(f.name)
        if run.returncode != 0:
            raise CommandError(run.stderr[-2000:] or run.stdout[-2000:])
        result = json.loads(run.stdout.strip().splitlines()[-1])
        if any(result["errors"].values()):
            result["wrk_output"] = run.stdout
        return result

    def _run_httpx(self, base, host, token, paths, opts) -> dict:
        load = subprocess.run(
            [sys.executable, "-m", "benchmarks.api_load", base, host, token, str(opts["seconds"]),
             str(opts["concurrency"]), json.dumps(paths)],
            cwd=Path(settings.BASE_DIR), capture_output=True, text=True, timeout=opts["seconds"] + 120,
        )
        if load.returncode != 0:
            raise CommandError(load.stderr[-2000:])
        result = json.loads(load.stdout.strip().splitlines()[-1])
        result.pop("requests_per_second", None)
        return result
