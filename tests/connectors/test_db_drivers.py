"""PostgreSQL/Supabase against a real database on the local server; MongoDB with mongomock."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import mongomock
import psycopg
import pytest
from django.conf import settings as django_settings

from connectors.errors import ObjectNotFound, PermanentError
from connectors.registry import build_driver


def read_all(driver, name, cursor=None, page_size=1000):
    pages = list(driver.read(name, cursor, page_size))
    return [r for p in pages for r in p.rows()], pages


# --- PostgreSQL ------------------------------------------------------------------------------------


def _server() -> dict:
    db = django_settings.DATABASES["default"]
    return {
        "host": db.get("HOST") or "127.0.0.1",
        "port": int(db.get("PORT") or 5432),
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or None,
    }


@pytest.fixture(scope="module")
def source_db():
    """A real database on the local server, made for these tests and dropped after them."""
    server = _server()
    name = f"autonomos_src_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(dbname="postgres", autocommit=True, **{k: v for k, v in server.items() if v})
    admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(dbname=name, autocommit=True, **{k: v for k, v in server.items() if v}) as conn:
        conn.execute("""
            CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, revenue numeric(14, 2),
                                   active boolean, founded date, updated_at timestamptz, meta jsonb, tags text[]);
            CREATE TABLE events (id bigint PRIMARY KEY, kind text);
            CREATE TABLE no_pk (a int, b text);
            CREATE VIEW active_accounts AS SELECT id, name FROM accounts WHERE active;
            CREATE SCHEMA other; CREATE TABLE other.secret (x int);
        """)
        base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        for i in range(25):
            stamp = None if i in (3, 17) else base + dt.timedelta(minutes=10 * (i // 2))  # ties and NULLs
            conn.execute(
                "INSERT INTO accounts (name, revenue, active, founded, updated_at, meta, tags) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    f"Acme {i}",
                    1000 * i + 0.5,
                    i % 2 == 0,
                    dt.date(2000 + i, 1, 1),
                    stamp,
                    psycopg.types.json.Jsonb({"tier": i % 3}),
                    ["a", "b"],
                ],
            )
        conn.execute("INSERT INTO events SELECT g, 'k' || g FROM generate_series(1, 7) g")
        conn.execute("INSERT INTO no_pk VALUES (1, 'x'), (2, 'y')")
    yield {**server, "database": name}
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


def pg_driver(db, kind="postgres", **config):
    cfg = {
        "host": db["host"],
        "port": db["port"],
        "database": db["database"],
        "user": db["user"],
        "sslmode": "disable",
        **config,
    }
    secrets = {"password": db["password"]} if db.get("password") else {}
    return build_driver(kind, cfg, secrets)


def test_postgres_check_and_discover_tables_types_keys_and_samples(source_db, settings):
    settings.AAM_MAX_SAMPLES_PER_TABLE = 4
    drv = pg_driver(source_db)
    assert drv.check().ok
    objects = {o.name: o for o in drv.discover()}
    assert set(objects) == {"accounts", "events", "no_pk", "active_accounts"}  # not other.secret
    accounts = objects["accounts"]
    assert {f.name: f.type for f in accounts.fields} == {
        "id": "integer",
        "name": "string",
        "revenue": "number",
        "active": "boolean",
        "founded": "date",
        "updated_at": "datetime",
        "meta": "json",
        "tags": "json",
    }
    assert accounts.primary_key == "id" and accounts.cursor_field == "updated_at" and accounts.row_count == 25
    assert all(len(f.samples) <= 4 for f in accounts.fields)
    assert not next(f for f in accounts.fields if f.name == "name").nullable


def test_postgres_reads_nulls_first_then_keyset_pages_on_updated_at_and_id(source_db):
    drv = pg_driver(source_db)
    records, pages = read_all(drv, "accounts", page_size=4)
    assert len(records) == 25 and len({r["id"] for r in records}) == 25
    assert [r["name"] for r in records[:2]] == ["Acme 3", "Acme 17"]  # NULL updated_at first
    assert records[2]["revenue"] == "0.50" and records[2]["updated_at"].startswith("2024-01-01T00:00:00")
    # JSON and arrays arrive as JSON text, as ingestion's records_to_table made of the former dicts
    assert json.loads(records[2]["meta"]) == {"tier": 0} and json.loads(records[2]["tags"]) == ["a", "b"]
    # resume from the middle of the tie-heavy part: no gaps, no duplicates
    middle = pages[2].cursor  # after 2 NULL rows and two pages of 4
    rest, _ = read_all(drv, "accounts", middle, page_size=4)
    assert [r["id"] for r in records[10:]] == [r["id"] for r in rest]


def test_postgres_incremental_read_picks_up_updated_rows_only(source_db):
    drv = pg_driver(source_db)
    _, pages = read_all(drv, "accounts")
    final = pages[-1].cursor
    assert read_all(drv, "accounts", final)[0] == []
    with psycopg.connect(
        dbname=source_db["database"], autocommit=True, **{k: v for k, v in _server().items() if v}
    ) as conn:
        conn.execute("UPDATE accounts SET name = 'Changed', updated_at = '2030-01-01T00:00:00Z' WHERE id = 5")
    changed, _ = read_all(drv, "accounts", final)
    assert [(r["id"], r["name"]) for r in changed] == [(5, "Changed")]


def source_conn(db):
    return psycopg.connect(dbname=db["database"], autocommit=True, **{k: v for k, v in _server().items() if v})


def make_table(db, name: str, stamps: list) -> None:
    """`name` (id serial, label, updated_at) with one row per stamp (None = NULL updated_at)."""
    with source_conn(db) as conn:
        conn.execute(f"CREATE TABLE {name} (id serial PRIMARY KEY, label text, updated_at timestamptz)")
        for i, stamp in enumerate(stamps):
            conn.execute(f"INSERT INTO {name} (label, updated_at) VALUES (%s, %s)", [f"row {i}", stamp])


T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_postgres_incremental_read_finds_rows_inserted_later_with_a_null_updated_at(source_db):
    make_table(source_db, "late_nulls", [None, T0, T0 + dt.timedelta(hours=1), None])
    drv = pg_driver(source_db)
    first, pages = read_all(drv, "late_nulls")
    assert sorted(r["id"] for r in first) == [1, 2, 3, 4]  # a full sync includes the NULL rows
    final = pages[-1].cursor
    assert final["null_pk"] == [4] and read_all(drv, "late_nulls", final)[0] == []  # and does not repeat them
    with source_conn(source_db) as conn:
        conn.execute("INSERT INTO late_nulls (label, updated_at) VALUES ('new null', NULL), ('new', now())")
    changed, pages = read_all(drv, "late_nulls", final)
    assert [r["label"] for r in changed] == ["new null", "new"]
    assert read_all(drv, "late_nulls", pages[-1].cursor)[0] == []


def test_postgres_incremental_read_cut_off_in_the_null_pass_resumes_without_losing_its_place(source_db):
    make_table(source_db, "null_resume", [T0, T0 + dt.timedelta(hours=1)])
    drv = pg_driver(source_db)
    final = read_all(drv, "null_resume")[1][-1].cursor
    with source_conn(source_db) as conn:
        conn.execute("INSERT INTO null_resume (label) SELECT 'n' || g FROM generate_series(1, 3) g")
        conn.execute("UPDATE null_resume SET updated_at = '2030-01-01T00:00:00Z', label = 'changed' WHERE id = 1")
    first_page = next(iter(drv.read("null_resume", final, 2)))
    assert [r["label"] for r in first_page.rows()] == ["n1", "n2"] and first_page.cursor["phase"] == "null"
    rest, _ = read_all(drv, "null_resume", first_page.cursor, page_size=2)
    assert [r["label"] for r in rest] == ["n3", "changed"]  # the value position survived the cut


def test_postgres_cursors_written_before_null_tracking_still_resume(source_db):
    make_table(source_db, "old_cursors", [None, None, T0, T0 + dt.timedelta(hours=1)])
    drv = pg_driver(source_db)
    # cut off mid-NULL pass by the old driver: continue after that key, then every row by value
    mid_null = read_all(drv, "old_cursors", {"phase": "null", "pk": [1]})[0]
    assert [r["id"] for r in mid_null] == [2, 3, 4]
    # a finished old cursor knew no NULL position: NULL rows are read again (upserts make it harmless)
    old_final = {"phase": "value", "value": (T0 + dt.timedelta(hours=1)).isoformat(), "pk": [4]}
    assert [r["id"] for r in read_all(drv, "old_cursors", old_final)[0]] == [1, 2]


def test_postgres_table_without_updated_at_pages_by_primary_key(source_db):
    drv = pg_driver(source_db)
    records, pages = read_all(drv, "events", page_size=3)
    assert [r["id"] for r in records] == list(range(1, 8))
    assert pages[-1].cursor == {"phase": "pk", "pk": [7]}
    assert read_all(drv, "events", pages[-1].cursor)[0] == []


def test_postgres_table_without_primary_key_is_read_whole(source_db):
    records, pages = read_all(pg_driver(source_db), "no_pk", page_size=1)
    assert sorted(r["a"] for r in records) == [1, 2] and all(p.cursor is None for p in pages)


def test_postgres_config_table_list_and_unknown_table(source_db):
    drv = pg_driver(source_db, tables=["events"])
    assert [o.name for o in drv.discover()] == ["events"]
    with pytest.raises(ObjectNotFound):
        list(drv.read("accounts"))


def test_postgres_missing_database_or_role_is_a_permanent_error(source_db):
    with pytest.raises(PermanentError, match="does not exist"):
        pg_driver({**source_db, "database": "no_such_db_here"}).check()
    with pytest.raises(PermanentError):
        pg_driver({**source_db, "user": "no_such_role_here"}).check()


def test_supabase_uses_the_same_driver_by_dsn(source_db):
    dsn = f"postgresql://{source_db['user']}@{source_db['host']}:{source_db['port']}/{source_db['database']}?sslmode=disable"
    drv = build_driver("supabase", {}, {"dsn": dsn})
    assert drv.check().ok and "accounts" in drv.tables()


def test_postgres_session_is_read_only(source_db):
    drv = pg_driver(source_db)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        drv._connection().execute("DELETE FROM accounts")


def test_postgres_to_the_platforms_own_server_is_refused_by_default(source_db, settings):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = False
    with pytest.raises(PermanentError, match="private or local"):
        pg_driver(source_db).check()


# --- MongoDB ----------------------------------------------------------------------------------------


@pytest.fixture
def mongo():
    client = mongomock.MongoClient()
    db = client["crm"]
    base = dt.datetime(2024, 1, 1)
    db.companies.insert_many(
        [
            {
                "name": f"Co {i}",
                "address": {"city": "Berlin", "geo": {"lat": 52.5}},
                "employees": i * 10,
                "revenue": 1.5 * i,
                "tags": ["x"],
                "active": True,
                **({"updated_at": base + dt.timedelta(minutes=10 * (i // 2))} if i != 4 else {}),
            }
            for i in range(13)
        ]
    )
    db.logs.insert_many([{"msg": f"m{i}"} for i in range(5)])

    def factory(*args, **kwargs):
        return client

    return client, factory


def mongo_driver(factory, **config):
    return build_driver(
        "mongodb", {"database": "crm", **config}, {"uri": "mongodb://localhost:27017"}, client_factory=factory
    )


def test_mongodb_discover_flattens_nested_documents_with_dotted_names(mongo, settings):
    settings.AAM_MAX_SAMPLES_PER_TABLE = 2
    _, factory = mongo
    drv = mongo_driver(factory)
    assert drv.check().ok
    objects = {o.name: o for o in drv.discover()}
    companies = objects["companies"]
    types = {f.name: f.type for f in companies.fields}
    assert types["address.city"] == "string" and types["address.geo.lat"] == "number"
    assert types["employees"] == "integer" and types["tags"] == "json" and types["_id"] == "string"
    assert types["updated_at"] == "datetime"
    assert next(f for f in companies.fields if f.name == "updated_at").nullable  # one document lacks it
    assert companies.cursor_field == "updated_at" and companies.row_count == 13
    assert all(len(f.samples) <= 2 for f in companies.fields)


def test_mongodb_reads_incrementally_by_updated_at_and_resumes(mongo):
    client, factory = mongo
    drv = mongo_driver(factory)
    records, pages = read_all(drv, "companies", page_size=4)
    assert len(records) == 13 and records[0]["name"] == "Co 4"  # missing field sorts first
    assert records[1]["address.city"] == "Berlin" and isinstance(records[1]["_id"], str)
    seen = sum(p.record_count for p in pages[:2])  # the null pass, then one page by updated_at
    rest, _ = read_all(drv, "companies", pages[1].cursor, page_size=4)
    assert seen == 5 and [r["name"] for r in rest] == [r["name"] for r in records[seen:]]
    final = pages[-1].cursor
    assert read_all(drv, "companies", final)[0] == []
    client["crm"].companies.update_one({"name": "Co 2"}, {"$set": {"updated_at": dt.datetime(2030, 1, 1)}})
    assert [r["name"] for r in read_all(drv, "companies", final)[0]] == ["Co 2"]


def test_mongodb_incremental_read_finds_documents_inserted_later_without_the_field(mongo):
    client, factory = mongo
    drv = mongo_driver(factory)
    _, pages = read_all(drv, "companies", page_size=4)
    final = pages[-1].cursor
    assert final["null_id"] and read_all(drv, "companies", final)[0] == []
    client["crm"].companies.insert_many([{"name": "no stamp"}, {"name": "null stamp", "updated_at": None}])
    client["crm"].companies.insert_one({"name": "stamped", "updated_at": dt.datetime(2031, 1, 1)})
    changed, pages = read_all(drv, "companies", final, page_size=4)
    assert [r["name"] for r in changed] == ["no stamp", "null stamp", "stamped"]
    assert read_all(drv, "companies", pages[-1].cursor)[0] == []


def test_mongodb_cursors_written_before_null_tracking_still_resume(mongo):
    client, factory = mongo
    drv = mongo_driver(factory)
    records, pages = read_all(drv, "companies", page_size=4)
    old_mid_null = {"field": "updated_at", "value": None, "id": pages[0].cursor["null_id"]}
    assert [r["name"] for r in read_all(drv, "companies", old_mid_null)[0]] == [r["name"] for r in records[1:]]
    old_final = {k: v for k, v in pages[-1].cursor.items() if k in ("field", "value", "id")}
    assert [r["name"] for r in read_all(drv, "companies", old_final)[0]] == ["Co 4"]  # read again, harmless


def test_mongodb_insert_only_collection_reads_by_id(mongo):
    client, factory = mongo
    drv = mongo_driver(factory, cursor_fields={"logs": "_id"})
    records, pages = read_all(drv, "logs", page_size=2)
    assert [r["msg"] for r in records] == [f"m{i}" for i in range(5)]
    client["crm"].logs.insert_one({"msg": "new"})
    assert [r["msg"] for r in read_all(drv, "logs", pages[-1].cursor)[0]] == ["new"]


def test_mongodb_unknown_collection_is_object_not_found(mongo):
    _, factory = mongo
    with pytest.raises(ObjectNotFound):
        list(mongo_driver(factory).read("nope"))
