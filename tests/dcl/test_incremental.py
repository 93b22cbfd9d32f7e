"""Incremental views (docs/adr/0022-incremental-views.md): a materialization writes only what changed,
the result always equals a whole rebuild, a sync with nothing new writes nothing, and a publication
that fails leaves the previous view and is completed by the next run."""

from decimal import Decimal

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from connectors.models import Connection
from dcl import incremental, pgsync
from dcl.models import MaterializedView, OpportunityHistory, RemovedConnection
from dcl.selectors import view_all
from dcl.services import views_materialize
from tests.pipeline.support import batches_for, delete_batches, opportunity_records, publish

pytestmark = pytest.mark.django_db

ACCOUNT = {"Id": "id", "Name": "name", "Website": "website", "LastModifiedDate": "updated_at"}


def _accounts(tenant, conn, records, generation=0):
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, records, entity="account", mapping=ACCOUNT,
                                         source_object="Account", generation=generation))


def _account(i: int, name: str | None = None) -> dict:
    return {"Id": f"001{i:015d}", "Name": name or f"Company {i}", "Website": f"company{i}.example",
            "LastModifiedDate": "2026-01-01T00:00:00Z"}


def _rows(entity: str) -> list[dict]:
    rows = view_all(entity=entity)
    for row in rows:
        row.pop("materialized_at", None)
    return sorted(rows, key=lambda r: r["unified_id"])


def _catalog(entity: str) -> tuple[int, str, int]:
    view = MaterializedView.objects.get(entity=entity)
    return view.version, view.data_table, view.row_count


def _same_as_a_whole_rebuild(tenant, entities=("account", "opportunity")) -> None:
    """The incrementally maintained views hold exactly what a whole rebuild gives."""
    kept = {e: _rows(e) for e in entities}
    views_materialize(tenant=tenant, full=True)
    for entity in entities:
        assert kept[entity] == _rows(entity), entity


@pytest.fixture
def deals(in_tenant_a):
    tenant = in_tenant_a
    conn = Connection.objects.create(name="SF", kind="salesforce")
    _accounts(tenant, conn, [_account(i) for i in range(7)])
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, opportunity_records(100)))
    report: dict = {}
    views_materialize(tenant=tenant, report=report)
    assert {e: p["mode"] for e, p in report.items()} == {"account": "full", "opportunity": "full"}
    return tenant, conn


def test_inserts_updates_deletes_and_a_reinsert_publish_only_the_changed_rows(deals):
    tenant, conn = deals
    version, table, rows = _catalog("opportunity")
    assert rows == 100
    changed = opportunity_records(3, start=10, amount_of=lambda i: "99999.00")  # 3 updates
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, changed + opportunity_records(2, start=100), generation=1))
    gone = [f"006{i:015d}" for i in (20, 21)]
    publish(tenant, conn.pk, delete_batches(tenant, conn.pk, gone, generation=1))
    report: dict = {}
    assert views_materialize(tenant=tenant, report=report) == {"account": 7, "opportunity": 100}
    assert report["account"]["mode"] == "skip"
    assert report["opportunity"] | {"seconds": 0} == {"mode": "delta", "reason": "records changed", "dirty": 7,
                                                     "written": 5, "removed": 5, "seconds": 0}
    new_version, new_table, new_rows = _catalog("opportunity")
    assert (new_version, new_table, new_rows) == (version + 1, table, 100)  # the same table, upserted
    amounts = {r["sources"][0]["source_id"]: r["amount"] for r in view_all(entity="opportunity")}
    assert not set(gone) & set(amounts)
    assert Decimal(amounts["006000000000000011"]) == Decimal("99999.00")
    assert "006000000000000101" in amounts
    deleted = OpportunityHistory.objects.filter(deleted=True).count()
    assert deleted == 2
    # a deleted key read again comes back (a newer generation wins over the tombstone)
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, opportunity_records(1, start=20), generation=2))
    report = {}
    assert views_materialize(tenant=tenant, report=report)["opportunity"] == 101
    assert (report["opportunity"]["written"], report["opportunity"]["removed"]) == (1, 0)
    _same_as_a_whole_rebuild(tenant)


def test_a_sync_with_nothing_new_writes_nothing(deals):
    tenant, _ = deals
    before = {e: _catalog(e) for e in ("account", "opportunity")}
    statements: list[str] = []

    def watch(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    report: dict = {}
    with connection.execute_wrapper(watch):
        assert views_materialize(tenant=tenant, report=report) == {"account": 7, "opportunity": 100}
    assert {e: p["mode"] for e, p in report.items()} == {"account": "skip", "opportunity": "skip"}
    writes = [s for s in statements if s.lstrip().split()[0].upper() not in ("SELECT", "SET", "SAVEPOINT",
                                                                              "RELEASE")]
    assert writes == []
    assert {e: _catalog(e) for e in before} == before


def test_a_new_account_links_deals_that_were_not_sent_again(deals):
    """Deals carry account ids no account had: when that account arrives, only its deals change."""
    tenant, conn = deals
    orphans = opportunity_records(3, start=200)
    for record in orphans:
        record["AccountId"] = "001999999999999999"
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, orphans, generation=1))
    views_materialize(tenant=tenant)
    linked = {r["sources"][0]["source_id"]: r["account_unified_id"] for r in view_all(entity="opportunity")}
    assert [linked[r["Id"]] for r in orphans] == [None, None, None]
    _accounts(tenant, conn, [{**_account(999999999999999), "Id": "001999999999999999"}], generation=1)
    report: dict = {}
    views_materialize(tenant=tenant, report=report)
    assert report["account"]["mode"] == "delta" and report["opportunity"]["mode"] == "delta"
    assert report["opportunity"]["written"] == 3
    linked = {r["sources"][0]["source_id"]: r["account_unified_id"] for r in view_all(entity="opportunity")}
    assert len({linked[r["Id"]] for r in orphans} - {None}) == 1
    _same_as_a_whole_rebuild(tenant)


def test_a_merged_view_publishes_only_the_entities_that_changed(deals):
    tenant, conn = deals
    _accounts(tenant, conn, [_account(3, name="Company Three Renamed")], generation=1)
    publish(tenant, conn.pk, delete_batches(tenant, conn.pk, [_account(5)["Id"]], generation=1, entity="account",
                                      source_object="Account"))
    report: dict = {}
    assert views_materialize(tenant=tenant, report=report)["account"] == 6
    assert report["account"]["mode"] == "delta"
    assert (report["account"]["written"], report["account"]["removed"]) == (1, 2)
    names = {r["name"] for r in view_all(entity="account")}
    assert "Company Three Renamed" in names and "Company 5" not in names
    # the deals of the deleted account lost their link; nothing else was rewritten
    assert report["opportunity"]["mode"] == "delta"
    assert report["opportunity"]["dirty"] == len([i for i in range(100) if i % 7 == 5])
    _same_as_a_whole_rebuild(tenant)


def test_many_changes_rebuild_the_view_whole(deals, settings):
    tenant, conn = deals
    table = _catalog("opportunity")[1]
    settings.DCL_INCREMENTAL_MAX_SHARE = 0.1
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, opportunity_records(20, start=100), generation=1))
    report: dict = {}
    views_materialize(tenant=tenant, report=report)
    assert report["opportunity"]["mode"] == "full" and report["opportunity"]["reason"] == "20 of 100 records changed"
    assert _catalog("opportunity")[1] != table and _catalog("opportunity")[2] == 120


def test_a_failed_incremental_publication_leaves_the_view_and_the_next_run_completes_it(deals, monkeypatch):
    tenant, conn = deals
    before = _rows("opportunity")
    version = _catalog("opportunity")
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, opportunity_records(4, start=300), generation=1))
    publish(tenant, conn.pk, delete_batches(tenant, conn.pk, ["006000000000000001"], generation=1))
    real = pgsync._encoded_batches

    def broken(duck, entity, spec, relation=None):
        produced = real(duck, entity, spec, relation)
        yield next(produced)
        yield next(produced)
        raise RuntimeError("killed mid-apply")

    monkeypatch.setattr(pgsync, "_encoded_batches", broken)
    with pytest.raises(RuntimeError, match="killed mid-apply"):
        views_materialize(tenant=tenant)
    assert _rows("opportunity") == before  # the delete and the inserts rolled back together
    assert _catalog("opportunity") == version
    monkeypatch.setattr(pgsync, "_encoded_batches", real)
    assert views_materialize(tenant=tenant)["opportunity"] == 103
    _same_as_a_whole_rebuild(tenant)


def test_a_run_that_dies_after_publishing_is_replayed_without_doubling(deals, monkeypatch):
    """PostgreSQL committed, DuckDB's record of it did not: the next run applies the same changes again."""
    tenant, conn = deals
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, opportunity_records(4, start=300), generation=1))
    publish(tenant, conn.pk, delete_batches(tenant, conn.pk, ["006000000000000002"], generation=1))
    real = incremental.ViewPlanner.published

    def dies(self, plan, data_table):
        if plan.entity == "opportunity":
            raise KeyboardInterrupt("SIGKILL stand-in")
        return real(self, plan, data_table)

    monkeypatch.setattr(incremental.ViewPlanner, "published", dies)
    with pytest.raises(KeyboardInterrupt):
        views_materialize(tenant=tenant)
    monkeypatch.setattr(incremental.ViewPlanner, "published", real)
    assert views_materialize(tenant=tenant)["opportunity"] == 103
    assert MaterializedView.objects.get(entity="opportunity").row_count == 103
    with tenant_context(tenant):
        assert OpportunityHistory.objects.filter(deleted=True).count() == 1
    _same_as_a_whole_rebuild(tenant)


def test_a_change_of_reporting_currency_rebuilds_the_money_views(deals):
    from tenants.money.models import ReportingSettings

    tenant, _ = deals
    ReportingSettings.objects.create(currency="EUR")
    report: dict = {}
    views_materialize(tenant=tenant, report=report)
    assert report["opportunity"]["mode"] == "full"
    assert report["account"]["mode"] == "skip"
    assert {r["reporting_currency"] for r in view_all(entity="opportunity")} == {"EUR"}


def test_deleting_a_connection_with_its_data_takes_its_records_out_of_every_view(
        deals, settings, django_capture_on_commit_callbacks):
    from connectors.services import connection_delete

    tenant, conn = deals
    settings.CELERY_TASK_ALWAYS_EAGER = True
    other = Connection.objects.create(name="HS", kind="hubspot")
    publish(tenant, other.pk, batches_for(tenant, other.pk, opportunity_records(5, start=500)))
    views_materialize(tenant=tenant)
    late = batches_for(tenant, conn.pk, opportunity_records(3, start=600), generation=9)  # still in its stream
    cid = conn.pk
    with django_capture_on_commit_callbacks(execute=True):
        connection_delete(connection=conn)
    assert RemovedConnection.objects.get(connection_id=cid).data_removed
    assert [r["sources"][0]["connection_id"] for r in view_all(entity="opportunity")] == [other.pk] * 5
    assert view_all(entity="account") == []
    assert OpportunityHistory.objects.filter(deleted=True, valid_to__isnull=True).count() == 100
    publish(tenant, cid, late)  # a batch of the removed connection consumed afterwards brings nothing back
    assert views_materialize(tenant=tenant)["opportunity"] == 5


def test_deleting_a_connection_and_keeping_its_data_leaves_the_views_alone(deals, django_capture_on_commit_callbacks):
    from connectors.services import connection_delete

    tenant, conn = deals
    cid, before = conn.pk, _rows("opportunity")
    with django_capture_on_commit_callbacks(execute=True):
        connection_delete(connection=conn, data="keep")
    report: dict = {}
    views_materialize(tenant=tenant, report=report)
    assert _rows("opportunity") == before and report["opportunity"]["mode"] == "skip"
    removed = RemovedConnection.objects.get(connection_id=cid)
    assert (removed.name, removed.kind, removed.data_removed) == ("SF", "salesforce", False)
    assert {r["sources"][0]["connection_kind"] for r in _rows("opportunity")} == {"salesforce"}
