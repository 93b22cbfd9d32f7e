"""The production path of a view's publication: outside any transaction of the caller's, the new
data table is committed before its indexes are built from several sessions, then swapped in."""

import threading

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from connectors.models import Connection
from dcl import pgsync
from dcl.models import MaterializedView
from dcl.selectors import view_all
from dcl.services import views_materialize
from tests.pipeline.support import batches_for, opportunity_records, publish


def _data_tables(schema: str) -> list[str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE 'dcl\\_vdata\\_opportunity\\_%%' "
            "ORDER BY tablename",
            [schema],
        )
        return [row[0] for row in cur.fetchall()]


def _indexes(schema: str, table: str) -> dict[str, str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s", [schema, table]
        )
        return dict(cur.fetchall())


@pytest.fixture
def alpha_with_deals(committed_tenants, settings):
    settings.DCL_PG_INDEX_SESSIONS = 2
    tenant = committed_tenants[0]
    with tenant_context(tenant):
        conn = Connection.objects.create(name="SF", kind="salesforce")
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, opportunity_records(40)))
    yield tenant, conn
    with connection.cursor() as cur:
        cur.execute(f'DROP VIEW IF EXISTS "{tenant.schema_name}".dcl_view_opportunity')
        for table in _data_tables(tenant.schema_name):
            cur.execute(f'DROP TABLE IF EXISTS "{tenant.schema_name}"."{table}"')


def test_a_view_published_outside_a_transaction_is_indexed_keyed_and_swapped_in(alpha_with_deals):
    tenant, _ = alpha_with_deals
    assert not connection.in_atomic_block
    assert views_materialize(tenant=tenant) == {"opportunity": 40}
    assert _data_tables(tenant.schema_name) == ["dcl_vdata_opportunity_1"]
    indexes = _indexes(tenant.schema_name, "dcl_vdata_opportunity_1")
    built = {definition.split(" USING btree ")[1] for definition in indexes.values()}
    assert built == {"(unified_id)", "(stage, amount)", "(amount)", "(close_date)", "(account_unified_id)"}
    with connection.cursor() as cur:
        cur.execute(
            "SELECT contype FROM pg_constraint WHERE conrelid = %s::regclass",
            [f'"{tenant.schema_name}".dcl_vdata_opportunity_1'],
        )
        assert [row[0] for row in cur.fetchall()] == ["p"]
    assert not [t for t in threading.enumerate() if t.name.startswith("dcl-index")]
    with tenant_context(tenant):
        assert len(view_all(entity="opportunity")) == 40
        assert MaterializedView.objects.get(entity="opportunity").row_count == 40


def test_a_failed_index_build_leaves_the_previous_view_and_no_new_table(alpha_with_deals, monkeypatch):
    tenant, conn = alpha_with_deals
    views_materialize(tenant=tenant)
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, opportunity_records(5, start=100)))
    real = pgsync._index_statements

    def with_a_broken_one(schema, table, entity, spec):
        return [*real(schema, table, entity, spec), f'CREATE INDEX ON "{schema}"."{table}" (no_such_column)']

    monkeypatch.setattr(pgsync, "_index_statements", with_a_broken_one)
    with pytest.raises(Exception, match="no_such_column"):
        views_materialize(tenant=tenant, full=True)  # (5 of 40 changed: an incremental run builds no index)
    assert _data_tables(tenant.schema_name) == ["dcl_vdata_opportunity_1"]  # version 2 was dropped
    assert not [t for t in threading.enumerate() if t.name.startswith("dcl-index")]
    with tenant_context(tenant):
        view = MaterializedView.objects.get(entity="opportunity")
        assert (view.version, view.row_count) == (1, 40)
        assert len(view_all(entity="opportunity")) == 40
    monkeypatch.setattr(pgsync, "_index_statements", real)
    assert views_materialize(tenant=tenant) == {"opportunity": 45}  # and the next run succeeds
    assert _data_tables(tenant.schema_name) == ["dcl_vdata_opportunity_2"]
