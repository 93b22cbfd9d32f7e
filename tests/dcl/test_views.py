"""Unified views: cross-source merging, account links, lineage, and the PostgreSQL swap."""

from decimal import Decimal

import pytest
from django.db import connection

from connectors.models import Connection
from dcl.models import MaterializedView
from dcl.selectors import ViewQueryError, view_all, view_catalog, view_count, view_rows
from dcl.services import stream_consume, views_materialize
from tests.pipeline.support import batches_for, opportunity_records, publish

pytestmark = pytest.mark.django_db

ACCOUNT_SF = {
    "Id": "id",
    "Name": "name",
    "Website": "website",
    "Industry": "industry",
    "LastModifiedDate": "updated_at",
}
ACCOUNT_HS = {"Id": "id", "name": "name", "domain": "website", "industry": "industry", "updatedAt": "updated_at"}
CONTACT = {
    "Id": "id",
    "AccountId": "account_id",
    "FirstName": "first_name",
    "LastName": "last_name",
    "Email": "email",
    "LastModifiedDate": "updated_at",
}


def _land(tenant, conn, records, mapping, entity, source_object):
    publish(
        tenant,
        conn.pk,
        batches_for(tenant, conn.pk, records, entity=entity, mapping=mapping, source_object=source_object),
    )


@pytest.fixture
def two_crms(in_tenant_a):
    sf = Connection.objects.create(name="SF", kind="salesforce")
    hs = Connection.objects.create(name="HS", kind="hubspot")
    t = in_tenant_a
    _land(
        t,
        sf,
        [
            {
                "Id": "001A",
                "Name": "Acme, Inc.",
                "Website": "https://www.acme.com/about",
                "Industry": "Manufacturing",
                "LastModifiedDate": "2025-01-01T00:00:00Z",
            },
            {
                "Id": "001B",
                "Name": "Globex Corporation",
                "Website": None,
                "Industry": None,
                "LastModifiedDate": "2025-01-01T00:00:00Z",
            },
            {
                "Id": "001C",
                "Name": "Initech",
                "Website": "initech.io",
                "Industry": "Software",
                "LastModifiedDate": "2025-01-01T00:00:00Z",
            },
        ],
        ACCOUNT_SF,
        "account",
        "Account",
    )
    _land(
        t,
        hs,
        [
            {
                "Id": "h1",
                "name": "ACME",
                "domain": "acme.com",
                "industry": "Industrial",
                "updatedAt": "2025-06-01T00:00:00Z",
            },
            {
                "Id": "h2",
                "name": "Globex",
                "domain": "globex.com",
                "industry": "Energy",
                "updatedAt": "2024-01-01T00:00:00Z",
            },
        ],
        ACCOUNT_HS,
        "account",
        "companies",
    )
    _land(
        t,
        sf,
        [
            {
                "Id": "003A",
                "AccountId": "001A",
                "FirstName": "Ann",
                "LastName": "Lee",
                "Email": "ann@acme.com",
                "LastModifiedDate": "2025-01-01T00:00:00Z",
            },
            {
                "Id": "003B",
                "AccountId": None,
                "FirstName": "Bob",
                "LastName": "Ray",
                "Email": "bob@initech.io",
                "LastModifiedDate": "2025-01-01T00:00:00Z",
            },
        ],
        CONTACT,
        "contact",
        "Contact",
    )
    _land(
        t,
        hs,
        [
            {
                "Id": "c9",
                "AccountId": None,
                "FirstName": "Ann",
                "LastName": "Lee-Smith",
                "Email": "ANN@acme.com",
                "LastModifiedDate": "2025-03-01T00:00:00Z",
            },
        ],
        CONTACT,
        "contact",
        "contacts",
    )
    opps = opportunity_records(3)
    opps[0]["AccountId"] = "001A"
    opps[1]["AccountId"] = "001C"
    _land(t, sf, opps, None, "opportunity", "Opportunity")
    return sf, hs


def test_accounts_from_two_crms_merge_by_domain_and_by_name(two_crms):
    counts = views_materialize(tenant=connection.tenant)
    assert counts == {"account": 3, "contact": 2, "opportunity": 3}
    accounts = {r["name"]: r for r in view_all(entity="account")}
    acme = accounts["ACME"]  # the freshest non-null value wins
    assert acme["source_count"] == 2 and acme["website"] == "acme.com"
    # industry has a canonical value set: materialized without the value stage, the freshest source's own
    # value is kept beside a canonical NULL awaiting its decision (docs/adr/0014)
    assert (acme["industry"], acme["industry_source"], acme["industry_status"]) == (None, "Industrial", "pending")
    kinds = sorted((s["connection_kind"], s["source_id"]) for s in acme["sources"])
    assert kinds == [("hubspot", "h1"), ("salesforce", "001A")]
    globex = [r for r in accounts.values() if r["source_count"] == 2 and r is not acme]
    assert len(globex) == 1  # "Globex Corporation" (no website) joined "Globex" (globex.com) by name
    assert accounts["Initech"]["source_count"] == 1


def test_contacts_merge_by_email_and_link_to_unified_accounts(two_crms):
    views_materialize(tenant=connection.tenant)
    accounts = {r["name"]: r["unified_id"] for r in view_all(entity="account")}
    contacts = {r["email"].lower(): r for r in view_all(entity="contact")}
    ann = contacts["ann@acme.com"]
    assert ann["source_count"] == 2 and ann["last_name"] == "Lee-Smith"
    assert ann["account_unified_id"] == accounts["ACME"]
    assert contacts["bob@initech.io"]["account_unified_id"] == accounts["Initech"]  # by e-mail domain
    opps = {r["id"]: r for r in view_all(entity="opportunity")}
    assert opps["006000000000000000"]["account_unified_id"] == accounts["ACME"]
    assert opps["006000000000000001"]["account_unified_id"] == accounts["Initech"]
    assert opps["006000000000000002"]["account_unified_id"] is None
    assert opps["006000000000000000"]["amount"] == Decimal("0.5")


def test_rematerializing_swaps_the_view_and_drops_the_old_data(two_crms):
    sf, _ = two_crms
    views_materialize(tenant=connection.tenant)
    publish(connection.tenant, sf.pk, batches_for(connection.tenant, sf.pk, opportunity_records(5, start=10)))
    counts = views_materialize(tenant=connection.tenant, entities=["opportunity"])
    assert counts == {"opportunity": 5 + 3}
    view = MaterializedView.objects.get(entity="opportunity")
    assert view.version == 2 and view.row_count == 8
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE 'dcl_vdata_opp%%'",
            [connection.schema_name],
        )
        assert [r[0] for r in cur.fetchall()] == ["dcl_vdata_opportunity_2"]
    assert {v.entity: v.row_count for v in view_catalog()} == {"account": 3, "contact": 2, "opportunity": 8}


def test_view_rows_filter_sort_search_and_refuse_unknown_fields(two_crms):
    views_materialize(tenant=connection.tenant)
    rows = view_rows(entity="opportunity", filters={"amount__gte": "10"}, ordering="-amount")
    assert [r["amount"] for r in rows] == [Decimal("20.5"), Decimal("10.5")]
    assert view_count(entity="opportunity", filters={"amount__gte": "10"}) == 2
    assert [r["name"] for r in view_rows(entity="account", search="init")] == ["Initech"]
    assert len(view_rows(entity="opportunity", filters={"id__in": "006000000000000000,006000000000000002"})) == 2
    with pytest.raises(ViewQueryError):
        view_rows(entity="opportunity", filters={"colour": "red"})
    with pytest.raises(ViewQueryError):
        view_rows(entity="opportunity", filters={"amount__gte": "ten"})
    assert view_all(entity="cost") == []


def test_another_tenant_sees_none_of_these_views(tenant_b, two_crms):
    views_materialize(tenant=connection.tenant)
    connection.set_tenant(tenant_b)
    assert view_catalog() == [] and view_all(entity="account") == []
    assert stream_consume(tenant=tenant_b, until_idle=True, idle_seconds=0).records == 0


def test_a_running_consumer_lets_a_materialization_in_while_it_is_idle(two_crms, settings):
    import threading

    settings.DCL_WRITER_LOCK_TIMEOUT = 20
    tenant = connection.tenant
    stop = threading.Event()
    consumer = threading.Thread(
        target=lambda: stream_consume(tenant=tenant, until_idle=False, stop=stop, idle_seconds=0.2)
    )
    consumer.start()
    try:
        counts = views_materialize(tenant=tenant, drain=False)
        assert counts["opportunity"] == 3 and counts["account"] == 3
    finally:
        stop.set()
        consumer.join(timeout=30)
    assert not consumer.is_alive()


def test_a_view_copied_in_many_small_batches_arrives_whole(two_crms, monkeypatch):
    from dcl import pgsync

    monkeypatch.setattr(pgsync, "COPY_BATCH_ROWS", 1)  # more batches than the queue holds
    assert views_materialize(tenant=connection.tenant) == {"account": 3, "contact": 2, "opportunity": 3}
    assert sorted(r["id"] for r in view_all(entity="opportunity")) == [f"006{i:015d}" for i in range(3)]


def test_a_copy_that_fails_midway_leaves_the_previous_view_and_catalog_as_they_were(two_crms, monkeypatch):
    import threading

    from dcl import pgsync

    sf, _ = two_crms
    views_materialize(tenant=connection.tenant)
    publish(connection.tenant, sf.pk, batches_for(connection.tenant, sf.pk, opportunity_records(5, start=10)))
    real = pgsync._encoded_batches

    def broken(duck, entity, spec, relation=None):
        produced = real(duck, entity, spec, relation)
        yield next(produced)  # the header, then the export dies
        yield next(produced)
        raise RuntimeError("export died")

    monkeypatch.setattr(pgsync, "_encoded_batches", broken)
    with pytest.raises(RuntimeError, match="export died"):
        views_materialize(tenant=connection.tenant, entities=["opportunity"])
    assert not [t for t in threading.enumerate() if t.name.startswith("dcl-export-")]
    view = MaterializedView.objects.get(entity="opportunity")
    assert view.version == 1 and view.row_count == 3
    assert len(view_all(entity="opportunity")) == 3


def test_the_copy_writer_hands_each_slice_to_postgresql_before_queueing_the_next(db, monkeypatch):
    """libpq's output buffer must not hold what the socket has not taken: with psycopg's own writer
    it grows to everything unsent, and every write then moves all of it (quadratic CPU)."""
    from psycopg.copy import LibpqWriter

    from dcl import pgsync

    monkeypatch.setattr(pgsync, "COPY_WRITE_BYTES", 64 * 1024)
    row = b"x" * 1000 + b"\n"
    data = row * 16000  # 16 MB: far more than a socket takes at once
    raw = connection.cursor().cursor

    def pending_after_one_write(writer_class) -> int:
        raw.execute("CREATE TEMP TABLE IF NOT EXISTS _copy_probe (t text)")
        pgconn = raw.connection.pgconn
        with raw.copy("COPY _copy_probe (t) FROM STDIN", writer=writer_class(raw)) as copy:
            copy.write(data)
            still_queued = pgconn.flush()  # 0: nothing left in libpq's buffer; 1: data still queued
        return still_queued

    assert pending_after_one_write(pgsync.FlushingWriter) == 0
    assert pending_after_one_write(LibpqWriter) == 1  # the behaviour the writer exists to avoid
    raw.execute("SELECT count(*) FROM _copy_probe")
    assert raw.fetchone()[0] == 32000
