"""Tenant offboarding (security issue #14): a tenant's export, and its deletion leaving nothing
behind (schema, domains, data folder, Redis keys, queued tasks), other tenants untouched.

One throwaway tenant for the module (creating one migrates a schema: seconds), never alpha or beta.
The tests run in file order: the refusals first, the deletion last.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import subprocess
import sys
import time
import uuid
import zipfile

import duckdb
import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django_tenants.utils import schema_context, tenant_context

from autonomos.core.events import events_group, publish_event
from autonomos.core.redis import get_redis
from autonomos.core.redis_names import tenant_key
from tenants.models import Domain, Tenant
from tenants.offboarding import ExportRefused, blockers_of, tenant_export
from tenants.offboarding.leftovers import hash_tag_pattern, redis_urls, tenant_data_dir
from tenants.services import TenantDeleteRefused, tenant_create, tenant_delete
from tests.conftest import ROOT, live_env

SLUG = "offb_doomed"
SECRET = "pat-OFFBOARD-never-exported-7f3a"
BIG_VIEW_ROWS = 150_000
VIEW_ROWS = [("a-1", "Acme, Inc.", 1200.5), ("a-2", 'Line\nbreak "quoted"', None)]


def _schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [name])
        return cursor.fetchone() is not None


def _seed(tenant: Tenant) -> dict:
    """A connection with a secret, a mapping, a decided review item and a published view."""
    from aam.models import FieldMapping, ReviewDecision, ReviewItem
    from tests.factories import ConnectionFactory, FieldMappingFactory, ReviewItemFactory

    with tenant_context(tenant):
        conn = ConnectionFactory(name="HubSpot", kind="hubspot", secrets={"access_token": SECRET})
        FieldMappingFactory(connection=conn, source_object="companies", source_field="name",
                            canonical_entity="account", canonical_field="name", confidence=0.97,
                            method=FieldMapping.Method.HEURISTIC)
        item = ReviewItemFactory(kind=ReviewItem.Kind.MAPPING, title="companies.domain → website",
                                 connection=conn, status=ReviewItem.Status.APPROVED,
                                 proposal={"field": "domain", "to": "website"})
        ReviewDecision.objects.create(item=item, decision=ReviewDecision.Decision.APPROVED,
                                      previous_status="pending", username="admin", note="looks right")
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE dcl_vdata_account_1 (unified_id text, name text, revenue numeric)")
            cursor.executemany("INSERT INTO dcl_vdata_account_1 VALUES (%s, %s, %s)", VIEW_ROWS)
            cursor.execute("CREATE VIEW dcl_view_account AS SELECT * FROM dcl_vdata_account_1")
            # a bigger one, streamed out in chunks
            cursor.execute("CREATE VIEW dcl_view_cost AS SELECT g AS id, 'service-' || g AS service_name, "
                           "g * 0.01 AS billed_cost FROM generate_series(1, %s) AS g", [BIG_VIEW_ROWS])
        return {"connection_id": conn.pk}


@pytest.fixture(scope="module")
def doomed(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        tenant = Tenant.objects.filter(slug=SLUG).first()
        if tenant is not None:  # left by an interrupted run
            tenant_delete(tenant=tenant, force=True)
        tenant = tenant_create(slug=SLUG, name="Doomed", admin_email="admin@doomed.example",
                               admin_password="Doomed-pass-2026!", admin_username="admin").tenant
        tenant.seeded = _seed(tenant)
        connection.set_schema_to_public()
    yield tenant
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        left = Tenant.objects.filter(slug=SLUG).first()
        if left is not None:
            tenant_delete(tenant=left, force=True)


@pytest.fixture
def committed(committed_db):
    """Committed database access (the services commit and drop schemas); alpha's rows wiped after."""
    yield


@pytest.fixture(scope="module")
def archive(doomed, django_db_blocker, tmp_path_factory):
    """The doomed tenant's export, written once by the command."""
    out = tmp_path_factory.mktemp("export") / "doomed.zip"
    with django_db_blocker.unblock():
        call_command("tenant_export", tenant=SLUG, out=str(out))
    return out


def _queue(app_queue: str = "celery") -> list[dict]:
    return [json.loads(raw) for raw in get_redis().lrange(app_queue, 0, -1)]


def _queue_task_for(tenant) -> str:
    from tests.celery_tasks import create_group

    with tenant_context(tenant):
        return create_group.apply_async(args=[f"from-queue-{tenant.slug}"]).id


# --- export ---------------------------------------------------------------------------------------


def test_export_holds_manifest_views_mappings_reviews_and_decisions(doomed, archive):
    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        assert {"manifest.json", "views/dcl_view_account.csv", "connectors/connections.jsonl",
                "aam/field_mappings.jsonl", "aam/review_items.jsonl", "aam/review_decisions.jsonl",
                "history/dcl_history_opportunity.csv", "history/dcl_history_account.csv"} <= names
        view = zf.read("views/dcl_view_account.csv").decode()
        mappings = [json.loads(line) for line in zf.read("aam/field_mappings.jsonl").splitlines()]
        items = [json.loads(line) for line in zf.read("aam/review_items.jsonl").splitlines()]
        decisions = [json.loads(line) for line in zf.read("aam/review_decisions.jsonl").splitlines()]
        connections = [json.loads(line) for line in zf.read("connectors/connections.jsonl").splitlines()]
    assert manifest["format"] == "autonomos-tenant-export" and manifest["format_version"] == 1
    assert manifest["tenant"]["slug"] == SLUG and manifest["tenant"]["tenant_id"] == str(doomed.tenant_id)
    assert manifest["tenant"]["domains"] == [f"{SLUG}.{settings.TENANT_BASE_DOMAIN}"]
    assert manifest["exported_at"]
    assert manifest["counts"]["views/dcl_view_account.csv"] == 2
    assert manifest["counts"]["views/dcl_view_cost.csv"] == BIG_VIEW_ROWS
    assert manifest["counts"]["aam/review_decisions.jsonl"] == 1
    # CSV with a header; a comma, a quote and a line break inside values survive
    rows = list(csv.reader(io.StringIO(view)))
    assert rows[0] == ["unified_id", "name", "revenue"]
    assert rows[1:] == [["a-1", "Acme, Inc.", "1200.5"], ["a-2", 'Line\nbreak "quoted"', ""]]
    assert mappings[0]["source_field"] == "name" and mappings[0]["canonical_field"] == "name"
    assert items[0]["title"] == "companies.domain → website" and items[0]["status"] == "approved"
    assert decisions[0]["decision"] == "approved" and decisions[0]["note"] == "looks right"
    assert decisions[0]["item_id"] == items[0]["id"]
    assert connections[0]["name"] == "HubSpot" and connections[0]["secret_names"] == ["access_token"]
    assert "secrets_ciphertext" not in connections[0]


def test_export_never_holds_a_secret_in_clear_or_encrypted(doomed, archive, committed):
    from connectors.models import Connection

    with tenant_context(doomed):
        ciphertext = Connection.objects.get().secrets_ciphertext
    assert ciphertext
    with zipfile.ZipFile(archive) as zf:
        blob = b"".join(zf.read(name) for name in zf.namelist())
    assert SECRET.encode() not in blob
    assert ciphertext.encode() not in blob
    assert archive.stat().st_mode & 0o077 == 0  # the tenant's data: readable by the owner only


def test_public_tenant_is_never_exported_or_deleted(committed, tmp_path):
    public = Tenant.objects.get(schema_name="public")
    with pytest.raises(TenantDeleteRefused, match="public"):
        tenant_delete(tenant=public, force=True)
    with pytest.raises(CommandError, match="public"):
        call_command("tenant_delete", tenant="public", yes=True, force=True)
    with pytest.raises(ExportRefused):
        tenant_export(tenant=public, out=tmp_path / "public.zip")
    assert _schema_exists("public") and Tenant.objects.filter(schema_name="public").exists()
    assert not (tmp_path / "public.zip").exists()


# --- refusing while work runs ---------------------------------------------------------------------


def test_delete_refuses_while_a_job_runs_or_a_sync_holds_its_lock(doomed, committed):
    from agents.models import Job

    with tenant_context(doomed):
        job = Job.objects.create(kind=Job.Kind.CONNECT, status=Job.Status.RUNNING, step="syncing HubSpot")
    get_redis().set(tenant_key(doomed, "aam", "synclock", doomed.seeded["connection_id"]), "1", ex=60)
    folder = tenant_data_dir(doomed.tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "keep.txt").write_text("still here")

    with pytest.raises(TenantDeleteRefused) as refused:
        tenant_delete(tenant=doomed)
    assert any(f"job #{job.pk} (connect) is running" in line for line in refused.value.blockers)
    assert any(f"sync of connection {doomed.seeded['connection_id']} is running" in line
               for line in refused.value.blockers)
    with pytest.raises(CommandError, match=rf"job #{job.pk} \(connect\) is running[\s\S]*--force"):
        call_command("tenant_delete", tenant=SLUG, yes=True)
    # nothing was touched
    assert _schema_exists(SLUG) and Tenant.objects.filter(slug=SLUG).exists()
    assert (folder / "keep.txt").read_text() == "still here"
    assert get_redis().exists(tenant_key(doomed, "aam", "synclock", doomed.seeded["connection_id"]))
    with tenant_context(doomed):
        Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    get_redis().delete(tenant_key(doomed, "aam", "synclock", doomed.seeded["connection_id"]))
    assert blockers_of(doomed) == []


def test_delete_refuses_an_export_into_the_folder_it_deletes(doomed, committed):
    with pytest.raises(TenantDeleteRefused, match="data folder"):
        tenant_delete(tenant=doomed, export_to=tenant_data_dir(doomed.tenant_id) / "export.zip")
    assert _schema_exists(SLUG)


def test_delete_refuses_while_the_duckdb_writer_is_held(doomed, committed):
    from dcl.store import WriterLock

    with WriterLock(doomed, timeout=1):
        blockers = blockers_of(doomed)
    assert any("DuckDB writer is busy" in line for line in blockers)
    assert blockers_of(doomed) == []


# --- a task for a deleted tenant ------------------------------------------------------------------


def test_task_of_a_deleted_tenant_is_dropped_with_a_clear_log(tenant_a, caplog):
    from tests.celery_tasks import create_group

    caplog.set_level(logging.WARNING, logger="autonomos.core.tasks")
    result = create_group.apply(args=["ghost"], headers={"_schema_name": "offb_gone_long_ago"})
    assert result.successful() and result.result is None
    assert "dropped: tenant 'offb_gone_long_ago' was deleted" in caplog.text
    assert "queued outside a tenant" not in caplog.text


def test_task_of_a_deleted_tenant_whose_schema_name_was_taken_again_is_dropped(tenant_a, caplog):
    from tests.celery_tasks import create_group

    caplog.set_level(logging.WARNING, logger="autonomos.core.tasks")
    old = str(uuid.uuid4())
    result = create_group.apply(args=["ghost"], headers={"_schema_name": "alpha", "_tenant_id": old})
    assert result.successful() and result.result is None
    assert f"dropped: tenant 'alpha' ({old}) was deleted" in caplog.text
    with schema_context("alpha"):
        assert not Group.objects.filter(name="ghost").exists()
    # alpha's own tasks still run
    ok = create_group.apply(args=["alive"], headers={"_schema_name": "alpha", "_tenant_id": str(tenant_a.tenant_id)})
    assert ok.result == "alpha"


def test_task_queued_outside_a_tenant_still_fails_loudly(db):
    from autonomos.core.tenancy import TenantRequired
    from tests.celery_tasks import create_group

    with pytest.raises(TenantRequired, match="queued outside a tenant"):
        create_group.apply(args=["nowhere"], headers={"_schema_name": "public"})


def test_a_real_worker_drops_a_message_of_a_deleted_tenant(celery_worker_process):
    from tests.celery_tasks import create_group

    connection.set_schema_to_public()
    result = create_group.apply_async(args=["ghost"], headers={"_schema_name": "offb_gone_long_ago"})
    assert result.get(timeout=30) is None
    celery_worker_process.terminate()
    _out, err = celery_worker_process.communicate(timeout=15)
    assert b"dropped: tenant 'offb_gone_long_ago' was deleted" in err, err.decode()[-2000:]
    assert b"queued outside a tenant" not in err


# --- the deletion ---------------------------------------------------------------------------------


def test_delete_removes_schema_domains_files_redis_keys_and_queued_tasks_and_nothing_of_alpha(
    doomed, archive, committed, tmp_path
):
    from agents.models import Job

    alpha = Tenant.objects.get(slug="alpha")
    r = get_redis()
    # the doomed tenant's files: a DuckDB file, an upload, a lock
    folder = tenant_data_dir(doomed.tenant_id)
    (folder / "uploads" / "1").mkdir(parents=True, exist_ok=True)
    (folder / "uploads" / "1" / "accounts.csv").write_bytes(b"id,name\n" + b"1,Acme\n" * 10_000)
    with duckdb.connect(str(folder / "dcl.duckdb")) as duck:
        duck.execute("CREATE TABLE src_account AS SELECT 1 AS id")
    (folder / "writer.lock").touch()
    # its Redis keys: a stream, its events, a cache entry, a checkpoint, its channel group
    for tenant in (doomed, alpha):
        r.xadd(tenant_key(tenant, "aam", "dcl", 1), {"batch": "x"})
        publish_event(tenant, "sync_started", {"connection_id": 1})
        with tenant_context(tenant):
            cache.set("offboarding-probe", "cached", 60)
        r.set(tenant_key(tenant, "aam", "ckpt", 1), "{}")
        r.zadd(f"asgi:group:{events_group(tenant)}", {"specific.abc!def": time.time()})
    tenant_data_dir(alpha.tenant_id).mkdir(parents=True, exist_ok=True)
    (tenant_data_dir(alpha.tenant_id) / "dcl.duckdb").write_bytes(b"duck")
    # queued tasks for both tenants, and a job still running (forced past)
    doomed_task = _queue_task_for(doomed)
    alpha_task = _queue_task_for(alpha)
    assert {m["headers"]["_tenant_id"] for m in _queue()} == {str(doomed.tenant_id), str(alpha.tenant_id)}
    with tenant_context(doomed):
        Job.objects.create(kind=Job.Kind.SYNC, status=Job.Status.RUNNING)
    alpha_keys_before = sorted(r.scan_iter(match=hash_tag_pattern(alpha.tenant_id)))
    assert len(alpha_keys_before) >= 4

    export = tmp_path / "final.zip"
    out = io.StringIO()
    call_command("tenant_delete", tenant=SLUG, yes=True, force=True, export=str(export), stdout=out)
    report = out.getvalue()
    assert f"Deleted tenant {SLUG} ({doomed.tenant_id})" in report
    assert re.search(r"data folder +3 files, [0-9.]+ KB", report), report
    assert re.search(r"Redis keys +[1-9]\d* ", report), report
    assert re.search(r"queued tasks +1 removed", report), report
    assert "forced past:   agents: job #" in report

    # PostgreSQL: schema, tenant row and domains are gone
    assert not _schema_exists(SLUG)
    assert not Tenant.objects.filter(slug=SLUG).exists()
    assert not Domain.objects.filter(domain__startswith=f"{SLUG}.").exists()
    # files: the whole folder
    assert not folder.exists()
    # Redis: no key with its hash tag in any database the app uses, nor its channel group
    for url in redis_urls():
        with redis.Redis.from_url(url) as client:
            assert list(client.scan_iter(match=hash_tag_pattern(doomed.tenant_id))) == []
    assert not r.exists(f"asgi:group:{events_group(doomed)}")
    # Celery: its queued message is gone, alpha's is still there
    queued_ids = [m["headers"]["id"] for m in _queue()]
    assert doomed_task not in queued_ids and alpha_task in queued_ids
    # alpha untouched
    assert sorted(r.scan_iter(match=hash_tag_pattern(alpha.tenant_id))) == alpha_keys_before
    assert r.exists(f"asgi:group:{events_group(alpha)}")
    assert (tenant_data_dir(alpha.tenant_id) / "dcl.duckdb").read_bytes() == b"duck"
    assert _schema_exists("alpha")
    # the export was written before the drop
    with zipfile.ZipFile(export) as zf:
        assert json.loads(zf.read("manifest.json"))["tenant"]["slug"] == SLUG


def test_leftovers_of_a_tenant_deleted_earlier_are_removed(committed):
    gone = uuid.uuid4()
    folder = tenant_data_dir(gone)
    folder.mkdir(parents=True)
    (folder / "dcl.duckdb").write_bytes(b"x" * 1000)
    get_redis().set(tenant_key(gone, "events"), "1")
    get_redis().set(tenant_key(gone, "aam", "ckpt", 3), "1")
    call_command("tenant_delete", leftovers_of=str(gone), yes=True)
    assert not folder.exists()
    assert list(get_redis().scan_iter(match=hash_tag_pattern(gone))) == []


def test_django_tenants_delete_tenant_leaves_no_files_or_keys_behind(committed):
    """The old command (django_tenants is first in INSTALLED_APPS, so its delete_tenant is the one
    Django runs) goes through Tenant.pre_drop, which removes the tenant's files and keys."""
    tenant = tenant_create(slug="offb_old_way", name="Old way", admin_email="a@old.example",
                           admin_password="Old-way-pass-2026!").tenant
    try:
        folder = tenant_data_dir(tenant.tenant_id)
        folder.mkdir(parents=True)
        (folder / "dcl.duckdb").write_bytes(b"x")
        publish_event(tenant, "sync_started", {})
        _queue_task_for(tenant)
        proc = subprocess.run(
            [sys.executable, "manage.py", "delete_tenant", "--schema", "offb_old_way", "--noinput"],
            cwd=ROOT, env=live_env(), capture_output=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        assert not _schema_exists("offb_old_way")
        assert not folder.exists()
        assert list(get_redis().scan_iter(match=hash_tag_pattern(tenant.tenant_id))) == []
        assert not [m for m in _queue() if m["headers"].get("_schema_name") == "offb_old_way"]
    finally:
        left = Tenant.objects.filter(slug="offb_old_way").first()
        if left is not None:
            tenant_delete(tenant=left, force=True)
