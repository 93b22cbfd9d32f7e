"""Deletes from PostgreSQL, end to end against a real source database: primary keys compared by hash
range on every sync (docs/adr/0019-deletes.md), insert, update, delete and re-insert; an emptied or
vanished table pauses instead of wiping the views; the key-range definitions agree in PostgreSQL,
DuckDB and Python."""

from __future__ import annotations

import uuid

import duckdb
import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection

from aam.ingest import services as ingest
from aam.models import ReviewItem
from connectors.keyranges import digests_of, key_range, ranges_differing
from connectors.models import Connection
from connectors.services import connection_create
from dcl.deletes import _held_digests, _range_sql
from dcl.pipeline import pipeline_run
from dcl.selectors import view_all
from tests.pipeline.support import Mapping

pytestmark = pytest.mark.django_db

MAPPING = {"id": "id", "name": "name", "stage": "stage", "amount": "amount", "close_date": "close_date"}


def _server() -> dict:
    db = django_settings.DATABASES["default"]
    server = {"host": db.get("HOST") or "127.0.0.1", "port": int(db.get("PORT") or 5432),
              "user": db.get("USER") or "postgres", "password": db.get("PASSWORD") or None}
    return {k: v for k, v in server.items() if v}


@pytest.fixture
def source_db():
    name = f"autonomos_del_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(dbname="postgres", autocommit=True, **_server())
    admin.execute(f'CREATE DATABASE "{name}"')
    conn = psycopg.connect(dbname=name, autocommit=True, **_server())
    conn.execute("""
        CREATE TABLE deals (id text PRIMARY KEY, name text, stage text, amount numeric(12, 2), close_date date,
                            updated_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO deals (id, name, stage, amount, close_date, updated_at)
        SELECT 'D' || g, 'Deal ' || g, 'Prospecting', g * 10, DATE '2026-03-31', now() - interval '1 day'
        FROM generate_series(1, 40) g;
    """)
    yield {"name": name, "conn": conn}
    conn.close()
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def pg_connection(source_db, in_tenant_a, settings, monkeypatch):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True
    monkeypatch.setattr(ingest, "_mapping_ensure", lambda conn, obj: Mapping("opportunity", MAPPING))
    server = _server()
    config = {"host": server["host"], "port": server["port"], "database": source_db["name"], "user": server["user"],
              "sslmode": "disable"}
    secrets = {"password": server["password"]} if server.get("password") else {}
    return connection_create(name="warehouse", kind="postgres", config=config, secrets=secrets)


def _view() -> dict[str, float]:
    return {r["id"]: float(r["amount"]) for r in view_all(entity="opportunity")}


def test_insert_update_delete_and_reinsert_flow_into_the_view(source_db, pg_connection):
    src = source_db["conn"]
    pipeline_run(tenant=connection.tenant, connection=pg_connection)
    assert len(_view()) == 40

    src.execute("UPDATE deals SET amount = 999, updated_at = now() WHERE id = 'D5'")
    src.execute("INSERT INTO deals (id, name, stage, amount) VALUES ('D41', 'New', 'Prospecting', 1)")
    src.execute("DELETE FROM deals WHERE id IN ('D7', 'D8', 'D9')")
    info = pipeline_run(tenant=connection.tenant, connection=pg_connection)
    deletes = info.step("deletes")
    assert deletes.rows == 3
    assert 0 < deletes.details["objects"][0]["ranges_differing"] <= 3  # only the differing ranges were listed
    view = _view()
    assert len(view) == 38 and view["D5"] == 999.0 and view["D41"] == 1.0
    assert not {"D7", "D8", "D9"} & set(view)

    # nothing changed: the ranges agree, nothing is listed, nothing deleted
    info = pipeline_run(tenant=connection.tenant, connection=pg_connection)
    assert info.step("deletes").rows == 0 and info.step("deletes").details["objects"][0]["ranges_differing"] == 0

    # a deleted key comes back
    src.execute("INSERT INTO deals (id, name, stage, amount) VALUES ('D8', 'Back', 'Prospecting', 8.5)")
    pipeline_run(tenant=connection.tenant, connection=pg_connection)
    assert _view()["D8"] == 8.5 and len(_view()) == 39
    assert Connection.objects.get(pk=pg_connection.pk).status == "ok"


def test_an_interval_between_key_comparisons_leaves_syncs_in_between_to_their_changes(source_db, pg_connection):
    """With `deletes_check_seconds`, the keys are compared once per interval (a sync in between costs what
    its changes cost, ADR 0022); a delete is found at the first comparison after it."""
    from aam.streams import binary_redis
    from autonomos.core import redis_names

    src = source_db["conn"]
    pg_connection.config = {**pg_connection.config, "deletes_check_seconds": 3600}
    pg_connection.save(update_fields=["config"])
    first = pipeline_run(tenant=connection.tenant, connection=pg_connection)
    checked = first.step("deletes").details["objects"][0]
    assert checked["ranges_compared"] > 0
    src.execute("DELETE FROM deals WHERE id = 'D3'")
    between = pipeline_run(tenant=connection.tenant, connection=pg_connection)
    assert between.step("deletes").rows == 0 and between.step("deletes").details["objects"] == []
    assert "D3" in _view()
    # the interval is over (its key expired): the next sync compares and finds the delete
    binary_redis().delete(redis_names.deletes_checked(connection.tenant, pg_connection.pk, checked["source_object"]))
    after = pipeline_run(tenant=connection.tenant, connection=pg_connection)
    assert after.step("deletes").rows == 1 and "D3" not in _view()


def test_integer_keys_are_compared_without_hashing(source_db, pg_connection):
    src = source_db["conn"]
    src.execute("""
        CREATE TABLE ideals (id bigint PRIMARY KEY, name text, stage text, amount numeric(12, 2), close_date date,
                             updated_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO ideals (id, name, stage, amount) SELECT g, 'I' || g, 'Prospecting', g FROM generate_series(1, 30) g;
    """)
    pipeline_run(tenant=connection.tenant, connection=pg_connection)
    assert len(_view()) == 70
    src.execute("DELETE FROM ideals WHERE id IN (4, 17)")
    info = pipeline_run(tenant=connection.tenant, connection=pg_connection)
    objects = {o["source_object"]: o for o in info.step("deletes").details["objects"]}
    assert objects["ideals"]["deletes"] == 2 and objects["deals"]["deletes"] == 0
    assert info.step("deletes").rows == 2 and not {"4", "17"} & set(_view()) and len(_view()) == 68


def test_an_emptied_table_pauses_the_connection_and_the_view_keeps_its_records(source_db, pg_connection):
    pipeline_run(tenant=connection.tenant, connection=pg_connection)
    source_db["conn"].execute("DELETE FROM deals")
    info = pipeline_run(tenant=connection.tenant, connection=pg_connection)
    assert info.step("deletes").details["paused"] and len(_view()) == 40
    assert Connection.objects.get(pk=pg_connection.pk).status == Connection.Status.PAUSED
    item = ReviewItem.objects.get(kind="deletes", connection=pg_connection)
    assert (item.proposal["deletes"], item.proposal["held"]) == (40, 40)


def test_a_vanished_table_pauses_the_connection_and_deletes_nothing(source_db, pg_connection):
    pipeline_run(tenant=connection.tenant, connection=pg_connection)
    source_db["conn"].execute("CREATE TABLE other (id int PRIMARY KEY)")
    source_db["conn"].execute("DROP TABLE deals")
    info = pipeline_run(tenant=connection.tenant, connection=pg_connection)
    assert info.step("deletes").details["paused"] and len(_view()) == 40
    assert ReviewItem.objects.get(kind="deletes", connection=pg_connection).proposal["deletes"] == 40


def test_the_key_range_definitions_agree_in_postgres_duckdb_and_python(source_db):
    keys = ["D1", "a|b", "ünïcode", "x" * 300, "42"]
    buckets = 16
    src = source_db["conn"]
    pg = {}
    for key in keys:
        b, h = src.execute(
            "SELECT ('x' || substr(md5(%s), 1, 8))::bit(32)::bigint %% %s, "
            "('x' || substr(md5(%s), 9, 8))::bit(32)::bigint",
            [key, buckets, key]).fetchone()
        pg[key] = (b, h)
    con = duckdb.connect()
    con.execute("CREATE TABLE src_opportunity (_connection_id BIGINT, _source_object VARCHAR, _source_id VARCHAR, "
                "_deleted BOOLEAN)")
    con.executemany("INSERT INTO src_opportunity VALUES (1, 'deals', ?, false)", [[k] for k in keys])
    duck = _held_digests(con, "opportunity", 1, "deals", buckets)
    assert duck == digests_of(keys, buckets)
    for key in keys:
        assert con.execute(f"SELECT {_range_sql(buckets)} FROM (SELECT ? AS _source_id)", [key]).fetchone()[0] == pg[
            key][0] == key_range(key, buckets)
    assert ranges_differing(duck, digests_of(keys[:-1], buckets)) == [key_range(keys[-1], buckets)]


def test_the_integer_key_ranges_agree_in_postgres_duckdb_and_python(source_db):
    from connectors.kinds.postgres.keys import key_digests

    src = source_db["conn"]
    ints = [1, 2, 17, 2**40 + 3, -5, 9_000_000_000_000_000_000, 2147483647]
    src.execute("CREATE TABLE k (id bigint PRIMARY KEY)")
    src.execute("INSERT INTO k SELECT unnest(%s::bigint[])", [ints])
    pg = key_digests(src, psycopg.sql.Identifier("k"), ["id"], 16, "int")
    con = duckdb.connect()
    con.execute("CREATE TABLE src_opportunity (_connection_id BIGINT, _source_object VARCHAR, _source_id VARCHAR, "
                "_deleted BOOLEAN)")
    con.executemany("INSERT INTO src_opportunity VALUES (1, 'k', ?, false)", [[str(i)] for i in ints])
    duck = _held_digests(con, "opportunity", 1, "k", 16, "int")
    assert pg == duck == digests_of([str(i) for i in ints], 16, "int")
    # a held key that is no integer lands in range -1, which the source never has
    con.execute("INSERT INTO src_opportunity VALUES (1, 'k', 'not-a-number', false)")
    assert -1 in ranges_differing(_held_digests(con, "opportunity", 1, "k", 16, "int"), pg)
