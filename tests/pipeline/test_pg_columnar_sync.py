"""A PostgreSQL source synced through the pipeline: the columnar pages (COPY → Arrow) land the same
rows in DuckDB as the former row path, quarantine what the row path could not read, and keep cursors."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.db import connection

from aam.ingest import services as ingest
from connectors.kinds.postgres.driver import PostgresDriver
from connectors.models import Connection
from dcl.pipeline import SyncRun
from tests.connectors.test_db_drivers import _server, pg_driver
from tests.pipeline.support import Mapping, duck_rows

pytestmark = pytest.mark.django_db

FIELDS = {
    "id": "id",
    "account": "account_id",
    "title": "name",
    "stage": "stage",
    "amount": "amount",
    "close": "close_date",
    "won": "is_won",
    "probability": "probability",
    "updated_at": "updated_at",
}
COLUMNS = "id, account_id, name, stage, amount, close_date, is_won, probability, updated_at"


@pytest.fixture
def pg_source():
    server = _server()
    name = f"autonomos_src_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(dbname="postgres", autocommit=True, **{k: v for k, v in server.items() if v})
    admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(dbname=name, autocommit=True, **{k: v for k, v in server.items() if v}) as conn:
        conn.execute(
            "CREATE TABLE deals (id uuid PRIMARY KEY, account uuid, title text, stage text, amount numeric(14, 2), "
            "close date, won boolean, probability real, notes jsonb, updated_at timestamptz)"
        )
        conn.execute(
            "INSERT INTO deals SELECT md5(g::text)::uuid, md5((g % 7)::text)::uuid, 'Deal ' || g || ', \"big\"', "
            "(ARRAY['Prospecting', 'Closed Won'])[1 + g % 2], g * 10.25, date '2024-01-01' + g, g % 2 = 1, "
            "(g % 10) * 10.5, jsonb_build_object('n', g), "
            "CASE WHEN g % 9 = 0 THEN NULL ELSE timestamptz '2024-03-01 12:00:00+00' + g * interval '1.5 s' END "
            "FROM generate_series(1, 130) g"
        )
        conn.execute(
            "INSERT INTO deals (id, title, close, updated_at) VALUES "
            "('00000000-0000-0000-0000-000000000001', 'Forever', 'infinity', '2024-03-02T00:00:00Z')"
        )
    yield {**server, "database": name}
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


class RowPathDriver(PostgresDriver):
    """The former row path, to compare against."""

    def read(self, object_name, cursor=None, page_size=1000):
        return self.read_rows(object_name, cursor, page_size)


def _sync(monkeypatch, driver, settings, name):
    settings.AAM_SYNC_PAGE_SIZE = 40
    monkeypatch.setattr(ingest, "_driver_for", lambda conn: driver)
    monkeypatch.setattr(ingest, "_mapping_ensure", lambda conn, obj: Mapping("opportunity", FIELDS))
    conn = Connection.objects.create(name=name, kind="postgres")
    run = SyncRun(tenant=connection.tenant, trigger="test")
    result = run.read(conn)
    run.consume()
    conn.refresh_from_db()
    return conn, result


def test_columnar_and_row_paths_land_the_same_rows(pg_source, monkeypatch, settings, in_tenant_a):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True
    with psycopg.connect(
        dbname=pg_source["database"], autocommit=True, **{k: v for k, v in _server().items() if v}
    ) as c:
        c.execute("DELETE FROM deals WHERE close = 'infinity'")  # the row path fails on it
    old_driver = pg_driver(pg_source)
    old_driver.__class__ = RowPathDriver
    old_conn, old = _sync(monkeypatch, old_driver, settings, "rows")
    new_conn, new = _sync(monkeypatch, pg_driver(pg_source), settings, "columnar")
    assert old.records_published == new.records_published == 130
    query = f"SELECT {COLUMNS}, _extras FROM src_opportunity WHERE _connection_id = {{}} ORDER BY id"
    old_rows = duck_rows(connection.tenant, query.format(old_conn.pk))
    new_rows = duck_rows(connection.tenant, query.format(new_conn.pk))
    assert len(new_rows) == 130 and new_rows == old_rows
    assert old_conn.cursor == new_conn.cursor and new_conn.cursor["deals"]["phase"] == "value"


def test_a_value_the_row_path_could_not_read_is_quarantined_and_the_rest_lands(
    pg_source, monkeypatch, settings, in_tenant_a
):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True
    conn, result = _sync(monkeypatch, pg_driver(pg_source), settings, "columnar")
    assert result.records_published == 130 and result.quarantined == 1 and result.records_read == 131
    assert duck_rows(connection.tenant, f"SELECT count(*) FROM src_opportunity WHERE _connection_id = {conn.pk}") == [
        (130,)
    ]
