"""Test harness: two tenants (alpha, beta) created once per session in the test database.

- `db` tests run inside a transaction that is rolled back; `tenant_a` / `tenant_b` are the tenants,
  `in_tenant_a` switches the connection into alpha's schema.
- Tests that start other processes (a Celery worker, an ASGI server) need committed data: they use
  `committed_db`, which unblocks the database without a wrapping transaction and wipes the tenant
  apps' tables afterwards (never the tenants themselves).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Test-password-2026!"
TENANT_SLUGS = ("alpha", "beta")
WIPE_APPS = ("connectors", "aam", "dcl", "agents", "money", "token_blacklist", "sessions")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """In a parallel run (a pytest-xdist worker), the test files longest first: `--dist loadfile`
    hands files out in collection order, so the long ones start early and the run ends on short
    ones, with both workers busy to the end instead of one finishing a long file alone. The seconds
    per file come from tests/durations.json (scripts/test_durations.py); a file it does not know
    counts as a median one. The order inside a file is kept; a run in one process keeps its order."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    import json
    import statistics

    try:
        seconds = json.loads((ROOT / "tests" / "durations.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    default = statistics.median(seconds.values()) if seconds else 0.0
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(item.nodeid.split("::", 1)[0], len(first_seen))

    def order(item):
        path = item.nodeid.split("::", 1)[0]
        return (-float(seconds.get(path, default)), first_seen[path])

    items.sort(key=order)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from django.contrib.auth import get_user_model
    from django_tenants.utils import schema_context

    from tenants.models import Tenant
    from tenants.services import public_tenant_ensure, tenant_create

    with django_db_blocker.unblock():
        public_tenant_ensure()
        for slug in TENANT_SLUGS:
            if not Tenant.objects.filter(slug=slug).exists():
                tenant_create(slug=slug, name=slug.title(), admin_email=f"admin@{slug}.example",
                              admin_password=PASSWORD, admin_username="admin")
        # The same user id (1) exists in both schemas: exactly what the tenant claim must guard.
        for slug in TENANT_SLUGS:
            with schema_context(slug):
                assert get_user_model().objects.filter(username="admin").exists()
    yield
    # Threads of in-process servers (the WSGI bridge's, the fake SaaS servers') keep a pooled
    # connection checked out; Django's close_pool cannot close what another thread holds, and the
    # test database could then not be dropped ("being accessed by other users"). The run is over:
    # end those sessions before pytest-django drops the database.
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _public_schema_after_test():
    yield
    try:
        connection.set_schema_to_public()
    except Exception:  # noqa: BLE001 - a broken connection is reported by the test itself
        pass


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty test Redis db (never the development db)."""
    from autonomos.core.redis import get_redis

    # The test settings' own db (one per xdist worker), never the development db 0.
    assert settings.REDIS_URL == settings.TEST_REDIS_URL and not settings.REDIS_URL.rstrip("/").endswith("/0")
    get_redis().flushdb()
    yield


@pytest.fixture(autouse=True)
def _clean_data_dir():
    yield
    shutil.rmtree(settings.DATA_DIR, ignore_errors=True)


def _tenant(slug):
    from tenants.models import Tenant

    connection.set_schema_to_public()
    return Tenant.objects.get(slug=slug)


@pytest.fixture
def tenant_a(db):
    return _tenant("alpha")


@pytest.fixture
def tenant_b(db):
    return _tenant("beta")


@pytest.fixture
def in_tenant_a(tenant_a):
    connection.set_tenant(tenant_a)
    yield tenant_a
    connection.set_schema_to_public()


@pytest.fixture
def in_tenant_b(tenant_b):
    connection.set_tenant(tenant_b)
    yield tenant_b
    connection.set_schema_to_public()


def host_of(tenant) -> str:
    return f"{tenant.slug}.{settings.TENANT_BASE_DOMAIN}"


def _jwt_client(tenant):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from tenants.auth import issue_tokens

    connection.set_tenant(tenant)
    user = get_user_model().objects.get(username="admin")
    refresh = issue_tokens(user, tenant)
    client = APIClient(HTTP_HOST=host_of(tenant))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh.access_token}")
    client.user = user
    client.tenant = tenant
    connection.set_schema_to_public()
    return client


@pytest.fixture
def api_a(tenant_a):
    """A DRF client on alpha's host with a valid JWT of alpha's admin."""
    return _jwt_client(tenant_a)


@pytest.fixture
def api_b(tenant_b):
    return _jwt_client(tenant_b)


@pytest.fixture
def web_a(tenant_a):
    """A Django test client on alpha's host, logged in with a session (dashboard pages)."""
    from django.test import Client

    client = Client(HTTP_HOST=host_of(tenant_a))
    connection.set_tenant(tenant_a)  # the session and the user live in alpha's schema
    assert client.login(username="admin", password=PASSWORD)
    connection.set_schema_to_public()
    return client


def wipe_tenant_data(slug: str) -> None:
    """Empty the tables of the tenant apps in one schema, and drop its published views (used after
    committed tests)."""
    from django.apps import apps

    tables = [m._meta.db_table for app in WIPE_APPS for m in apps.get_app_config(app).get_models()
              if not m._meta.proxy and m._meta.managed]
    with connection.cursor() as cursor:
        cursor.execute(f'SET search_path TO "{slug}", public')
        existing = []
        for table in tables:
            cursor.execute("SELECT to_regclass(%s)", [f'"{slug}"."{table}"'])
            if cursor.fetchone()[0]:
                existing.append(f'"{slug}"."{table}"')
        if existing:
            cursor.execute(f"TRUNCATE {', '.join(existing)} RESTART IDENTITY CASCADE")
        # The published views and their data tables (dcl.pgsync) are not models: drop them too.
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE 'dcl\\_vdata\\_%%'", [slug]
        )
        for (table,) in cursor.fetchall():
            cursor.execute(f'DROP TABLE IF EXISTS "{slug}"."{table}" CASCADE')
    connection.set_schema_to_public()


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker):
    """Database access without a wrapping transaction, for tests with other processes."""
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        yield
        connection.set_schema_to_public()
        for slug in TENANT_SLUGS:
            wipe_tenant_data(slug)


@pytest.fixture
def committed_tenants(committed_db):
    from tenants.models import Tenant

    return Tenant.objects.get(slug="alpha"), Tenant.objects.get(slug="beta")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def live_env(**extra) -> dict:
    """Environment for a child process that must see the test database and test Redis."""
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="autonomos.settings.test",
        DATABASE_URL=(
            f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        ),
        TEST_REDIS_URL=settings.REDIS_URL,
        AUTONOMOS_DATA_DIR=str(settings.DATA_DIR),
        TEST_DATA_DIR=str(settings.DATA_DIR),
        PYTHONPATH=str(ROOT),
    )
    # The values above are this xdist worker's already: the child must not offset them again.
    env.pop("PYTEST_XDIST_WORKER", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 30.0) -> None:
    def open_() -> bool:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited early with {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_until(open_, timeout=timeout, interval=0.05, message=f"port {port} to open")


@pytest.fixture
def asgi_server(committed_db):
    """The product's web server (scripts/web.sh: uvicorn, two processes) on a free port (HTTP and
    WebSocket), against the test DB."""
    port = free_port()
    proc = subprocess.Popen(
        ["bash", "scripts/web.sh"],
        cwd=ROOT, env=live_env(PYTHON=sys.executable, HOST="127.0.0.1", PORT=str(port), WEB_CONCURRENCY="2"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _worker_answers(proc: subprocess.Popen) -> bool:
    """The worker is consuming: it answers a ping on the broker (it raises when the process died)."""
    from autonomos.celery import app

    if proc.poll() is not None:
        raise RuntimeError(proc.stderr.read().decode()[-2000:])
    return bool(app.control.ping(timeout=0.5))


@pytest.fixture
def celery_worker_process(committed_db):
    """A real Celery worker process consuming the test broker."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "autonomos", "worker", "--pool=solo", "--loglevel=WARNING",
         "--without-heartbeat", "--without-mingle", "--without-gossip", "--include", "tests.celery_tasks"],
        cwd=ROOT, env=live_env(CELERY_TASK_ALWAYS_EAGER="false"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: _worker_answers(proc), timeout=60, interval=0.2, message="the Celery worker to start")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
