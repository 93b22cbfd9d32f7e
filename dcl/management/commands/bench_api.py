"""Benchmark `/api/dcl/views/opportunity/`: `manage.py bench_api [--seconds 30] [--concurrency 32]`.

Serves the project with daphne (the product's server) in one process and loads it from another
(an httpx async client, `dcl.bench_load`): pages of 100 rows with a filter and a sort, rotating
over stages and pages, on the view `bench_ingest` built (run it first with --rows 1000000).
Prints throughput and p50/p90/p99 latency. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Command(BaseCommand):
    help = "Load the unified-view API (page of 100, filter + sort) and print throughput and latency."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", default="bench")
        parser.add_argument("--seconds", type=float, default=30)
        parser.add_argument("--concurrency", type=int, default=32)

    def handle(self, *args, **opts):
        from django.contrib.auth import get_user_model
        from rest_framework_simplejwt.tokens import RefreshToken

        from dcl.models import MaterializedView
        from tenants.models import Tenant

        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {opts['tenant']!r}: run bench_ingest --rows 1000000 --keep first")
        with tenant_context(tenant):
            view = MaterializedView.objects.filter(entity="opportunity").first()
            if view is None:
                raise CommandError("no opportunity view: run bench_ingest --rows 1000000 first")
            user = get_user_model().objects.filter(is_superuser=True).first()
            refresh = RefreshToken.for_user(user)
            refresh["tenant_id"] = str(tenant.tenant_id)
            token = str(refresh.access_token)
        host = f"{tenant.slug}.{settings.TENANT_BASE_DOMAIN}"
        paths = [
            f"/api/dcl/views/opportunity/?page_size=100&stage={quote(stage)}&ordering=-amount&page={page}"
            for stage in STAGES
            for page in range(1, 11)
        ]
        port = _free_port()
        # CONN_MAX_AGE 0: under ASGI a persistent connection is per request context, so reuse leaks
        # connections until PostgreSQL refuses more (seen at 32 concurrent requests).
        env = dict(
            os.environ,
            USER_THROTTLE_RATE="100000000/min",
            DJANGO_DEBUG="false",
            LOG_LEVEL="WARNING",
            DATABASE_CONN_MAX_AGE="0",
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "autonomos.asgi:application"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.2)
            load = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "dcl.bench_load",
                    f"http://127.0.0.1:{port}",
                    host,
                    token,
                    str(opts["seconds"]),
                    str(opts["concurrency"]),
                    json.dumps(paths),
                ],
                cwd=Path(settings.BASE_DIR),
                capture_output=True,
                text=True,
                timeout=opts["seconds"] + 120,
            )
            if load.returncode != 0:
                raise CommandError(load.stderr[-2000:])
            result = json.loads(load.stdout.strip().splitlines()[-1])
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        result.update(
            {
                "view_rows": view.row_count,
                "concurrency": opts["concurrency"],
                "server": "daphne (1 process)",
                "query": paths[0],
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
        self.stdout.write(json.dumps(result, indent=2))
