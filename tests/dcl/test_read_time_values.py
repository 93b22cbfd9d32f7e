"""A per-record view's canonical values computed by PostgreSQL when it is read (ViewSpec.read_time_values,
dcl/valuemap.py PgDialect): over the value-map mirrors of the tenant's schema, with raw keys longer than a
btree entry holds, and a canonical number the mirror holds badly (NULL, as DuckDB's TRY_CAST, never an
error on every read of the view)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from aam.ingest.kinds import Kind, kind_for
from aam.ingest.schema import ontology_entities
from dcl.pgsync import _data_table_ddl, _q, _table_columns, _view_ddl
from dcl.unify import view_spec
from dcl.valuemap import pg_map_update, pg_write_tables

pytestmark = pytest.mark.django_db

OBJ = "Opportunity"


def _spec():
    return view_spec("opportunity", {f: kind_for(t) for f, t in ontology_entities()["opportunity"].items()},
                     values=True)


def _publish(schema: str, rows: list[dict]) -> None:
    spec = _spec()
    table = "dcl_vdata_opportunity_1"
    names = [n for n, _ in _table_columns(spec)]
    with connection.cursor() as cur:
        cur.execute(_data_table_ddl(schema, table, spec))
        for row in rows:
            full = {"source_count": 1, "_src_connection_id": 1, "_src_kind": "csv", "_src_object": OBJ, **row}
            cur.execute(f"INSERT INTO {_q(schema)}.{_q(table)} ({', '.join(_q(n) for n in full)}) "
                        f"VALUES ({', '.join(['%s'] * len(full))})", list(full.values()))
        assert set(full) <= set(names)
        cur.execute(_view_ddl(schema, "opportunity", table, spec, datetime.now(UTC), replace=False,
                              available=set(spec.stored_fields)))


def _read(schema: str, columns: str) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM {_q(schema)}.dcl_view_opportunity ORDER BY unified_id")
        return cur.fetchall()


def test_long_raw_keys_bad_numbers_and_an_approval_at_read_time(in_tenant_a):
    schema = in_tenant_a.schema_name
    long_key = secrets.token_hex(3000)  # 6 KB that does not compress: more than a btree entry holds
    spec = _spec()
    assert spec.read_time_values and "stage_category" not in spec.stored_fields
    assert spec.stored_fields["probability"] is Kind.STRING  # the record's raw text
    pg_write_tables(schema, [
        (1, OBJ, "opportunity", "currency", long_key, "EUR", "Euro (long)", "mapped"),
        (1, OBJ, "opportunity", "probability", "0.5", "not a number", None, "mapped"),
        (1, OBJ, "opportunity", "probability", "70", "0.7", None, "mapped"),
        (1, OBJ, "opportunity", "stage_category", "Closing", None, None, "pending"),
    ], [], {1: "USD"}, [])
    _publish(schema, [
        {"unified_id": "opp_1", "currency": long_key, "probability": "0.5", "stage": "Closing"},
        {"unified_id": "opp_2", "currency": None, "probability": "70", "stage": "Other"},
    ])
    rows = _read(schema, "currency, currency_source, currency_status, probability, probability_status, "
                         "stage_category, stage_category_status, stage_source")
    assert rows == [
        ("EUR", "Euro (long)", "mapped", None, "mapped", None, "pending", "Closing"),
        ("USD", None, "default", Decimal("0.7000000000"), "mapped", None, "pending", "Other"),
    ]
    # a person's decision on the long key: the mirror is updated, the data table untouched, the view follows
    pg_map_update(connection.cursor(), schema, [
        (1, OBJ, "opportunity", "currency", long_key, "GBP", "Euro (long)", "mapped"),
        (1, OBJ, "opportunity", "stage_category", "Other", "won", None, "mapped"),
    ])
    assert _read(schema, "currency, stage_category, stage_category_status") == [
        ("GBP", None, "pending"), ("USD", "won", "mapped")]
