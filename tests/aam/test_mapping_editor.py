"""The mapping editor (aam/editor, docs/adr/0027): a change to one column of a real CSV export's
mapping, applied to the unified view by the pipeline run it queues, undone, and the unmapped
"Company" column of deals turned into a review item."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection as db

from aam.drift.review import review_decide
from aam.editor.selectors import connection_mapping
from aam.editor.services import mapping_change, mapping_undo, mapping_undoable
from aam.models import FieldMapping, MappingChange, MappingMemory, ReviewItem
from aam.selectors import mapping_active, mapping_latest_version
from aam.sync_lock import SyncLock
from autonomos.core.errors import Conflict, InvalidInput
from connectors.services import connection_create
from dcl.pipeline import pipeline_run
from dcl.selectors import view_all
from tests.pipeline.support import duck_rows

pytestmark = pytest.mark.django_db

HEADER = "Deal ID,Deal Name,Company,Stage,Amount (USD),Close Date,Segment Code"
ROWS = [
    "D-1,Acme renewal,Acme Corp,Prospecting,12000.00,2026-03-31,SMB-2",
    "D-2,Globex expansion,Globex,Closed Won,55000.50,2026-05-15,ENT-1",
    "D-3,Initech pilot,Initech,Negotiation,7300.00,2026-01-10,MM-4",
    "D-4,Hooli upsell,Hooli,Qualification,99000.00,2026-07-01,ENT-3",
]
OBJECT = "deals"


@pytest.fixture
def deals(in_tenant_a):
    folder = settings.DATA_DIR / "mapping-editor"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{OBJECT}.csv").write_text("\n".join([HEADER, *ROWS]) + "\n")
    return connection_create(name="Deals sheet", kind="filesource", config={"folder": str(folder)})


def run(conn) -> dict[str, dict]:
    conn.refresh_from_db()
    pipeline_run(tenant=db.tenant, connection=conn)
    return {r["id"]: r for r in view_all(entity="opportunity")}


def extras(column: str) -> list:
    rows = duck_rows(db.tenant, "SELECT _extras FROM src_opportunity ORDER BY _source_id")
    return [column in (e or "") for (e,) in rows]


def test_the_first_sync_maps_the_deals_and_lists_every_column(deals):
    view = run(deals)
    assert view["D-1"]["stage"] and float(view["D-1"]["amount"]) == 12000.0
    (obj,) = connection_mapping(connection=deals)
    assert obj.name == OBJECT and obj.entity == "opportunity"
    columns = {c.source_field: c for c in obj.columns}
    assert set(columns) == set(HEADER.split(","))
    assert columns["Stage"].state == "mapped" and columns["Stage"].canonical_field == "stage"
    assert columns["Stage"].samples and columns["Stage"].evidence
    assert obj.counts["mapped"] >= 5


def test_the_company_column_of_deals_becomes_a_review_item_proposing_the_account(deals):
    run(deals)
    item = ReviewItem.objects.get(kind="mapping", proposal__source_field="Company")
    assert item.status == "pending" and item.proposal["canonical_field"] == "account_id"
    assert item.proposal["looks_like"] == "account.name"
    assert "account.name" in item.evidence["explanation"] and "Acme Corp" in item.evidence["samples"]
    assert item.confidence < settings.AAM_AUTO_APPLY_THRESHOLD  # never applied by itself
    active = mapping_active(connection=deals, source_object_name=OBJECT)
    assert active.pending == {"Company": "account_id"} and "Company" not in active.fields
    columns = {c.source_field: c for c in connection_mapping(connection=deals)[0].columns}
    assert columns["Company"].state == "pending" and columns["Company"].review_item_id == item.pk
    assert columns["Company"].hint["field"] == "name"


def test_approving_the_company_item_reads_the_deals_again_with_their_account(deals, admin_user_a):
    assert run(deals)["D-1"]["account_id"] is None
    item = ReviewItem.objects.get(kind="mapping", proposal__source_field="Company")
    review_decide(item=item, decision="approve", user=admin_user_a)
    deals.refresh_from_db()
    assert OBJECT not in (deals.cursor or {})  # read again from the start
    assert run(deals)["D-1"]["account_id"] == "Acme Corp"


def test_a_remap_changes_the_view_after_the_pipeline_runs_and_undo_restores_it(deals, admin_user_a):
    before = run(deals)
    assert before["D-1"]["stage"] is not None and before["D-1"]["next_step"] is None
    change = mapping_change(connection=deals, source_object=OBJECT, source_field="Stage", action="remap",
                            canonical_field="next_step", user=admin_user_a, note="stage is free text here")
    assert (change.action, change.field_before, change.field_after, change.reprocess) == (
        "remap", "stage", "next_step", True)
    assert mapping_latest_version(connection=deals, source_object_name=OBJECT) == change.version_after
    row = FieldMapping.objects.get(connection=deals, source_object=OBJECT, version=change.version_after,
                                   source_field="Stage")
    assert (row.canonical_field, row.method, row.status) == ("next_step", "human", "active")
    deals.refresh_from_db()
    assert OBJECT not in (deals.cursor or {})
    remapped = run(deals)
    assert remapped["D-1"]["next_step"] == "Prospecting"
    assert remapped["D-1"]["stage"] is None  # the old mapping's value is not kept
    assert MappingMemory.objects.filter(field_name="Stage", canonical_field="next_step", decision="approved").exists()

    undo = mapping_undo(connection=deals, user=admin_user_a)
    assert (undo.action, undo.undoes_id, undo.field_after) == ("undo", change.pk, "stage")
    change.refresh_from_db()
    assert change.undone and mapping_undoable(connection=deals) is None
    assert not MappingMemory.objects.filter(field_name="Stage").exists()  # what the change taught is forgotten
    restored = run(deals)
    assert restored["D-1"]["stage"] == before["D-1"]["stage"] and restored["D-1"]["next_step"] is None
    assert [c.action for c in MappingChange.objects.order_by("id")] == ["remap", "undo"]


def test_exclude_drops_the_column_from_the_view_and_the_extras(deals, admin_user_a):
    first = run(deals)
    assert first["D-1"]["close_date"] is not None and all(extras("Segment Code"))
    mapping_change(connection=deals, source_object=OBJECT, source_field="Close Date", action="exclude",
                   user=admin_user_a)
    mapping_change(connection=deals, source_object=OBJECT, source_field="Segment Code", action="exclude",
                   user=admin_user_a)
    active = mapping_active(connection=deals, source_object_name=OBJECT)
    assert set(active.excluded) == {"Close Date", "Segment Code"} and "Close Date" not in active.fields
    after = run(deals)
    assert after["D-1"]["close_date"] is None
    assert not any(extras("Segment Code")) and not any(extras("Close Date"))
    mapping_undo(connection=deals, user=admin_user_a)  # Segment Code back in the extras
    run(deals)
    assert all(extras("Segment Code"))


def test_map_then_unmap_an_unmapped_column(deals, admin_user_a):
    run(deals)
    change = mapping_change(connection=deals, source_object=OBJECT, source_field="Company", action="map",
                            canonical_field="opportunity.account_id", user=admin_user_a)
    assert change.action == "map" and change.status_before == "pending"
    item = ReviewItem.objects.get(kind="mapping", proposal__source_field="Company")
    assert item.status == "approved" and item.decisions.get().username == "admin"  # decided, with its audit record
    assert run(deals)["D-2"]["account_id"] == "Globex"
    change = mapping_change(connection=deals, source_object=OBJECT, source_field="Company", action="unmap",
                            user=admin_user_a)
    assert run(deals)["D-2"]["account_id"] is None
    undo = mapping_undo(connection=deals, user=admin_user_a)
    assert undo.undoes_id == change.pk and run(deals)["D-2"]["account_id"] == "Globex"


def test_undoing_back_to_a_pending_proposal_queues_it_for_review_again(deals, admin_user_a):
    run(deals)
    mapping_change(connection=deals, source_object=OBJECT, source_field="Company", action="unmap", user=admin_user_a)
    assert not ReviewItem.objects.filter(kind="mapping", status="pending", proposal__source_field="Company").exists()
    mapping_undo(connection=deals, user=admin_user_a)
    requeued = ReviewItem.objects.get(kind="mapping", status="pending", proposal__source_field="Company")
    assert requeued.proposal["canonical_field"] == "account_id"
    assert mapping_active(connection=deals, source_object_name=OBJECT).pending == {"Company": "account_id"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source_field": "Nope", "action": "unmap"}, "has no column 'Nope'"),
        ({"source_field": "Stage", "action": "map", "canonical_field": "nonsense"}, "opportunity has no field"),
        ({"source_field": "Stage", "action": "map", "canonical_field": "industry"}, "industry is a field of account"),
        ({"source_field": "Stage", "action": "map", "canonical_field": "account.name"}, "is a field of account"),
        ({"source_field": "Stage", "action": "map", "canonical_field": "amount"}, "amount is mapped from Amount (USD)"),
        ({"source_field": "Stage", "action": "map", "canonical_field": "stage"}, "mapped to stage already"),
        ({"source_field": "Stage", "action": "map", "canonical_field": "stage_category"}, "computed by the pipeline"),
        ({"source_field": "Stage", "action": "map", "canonical_field": "id"}, "record key"),
        ({"source_field": "Deal ID", "action": "unmap"}, "record key"),
        ({"source_field": "Stage", "action": "include"}, "is not excluded"),
        ({"source_field": "Stage", "action": "delete"}, "action must be one of"),
        ({"source_field": "Stage", "action": "map"}, "Say which canonical field"),
    ],
)
def test_bad_changes_are_refused_with_a_message_and_change_nothing(deals, admin_user_a, kwargs, message):
    run(deals)
    version = mapping_latest_version(connection=deals, source_object_name=OBJECT)
    with pytest.raises(InvalidInput) as refused:
        mapping_change(connection=deals, source_object=OBJECT, user=admin_user_a, **kwargs)
    assert message in refused.value.message
    assert mapping_latest_version(connection=deals, source_object_name=OBJECT) == version
    assert not MappingChange.objects.exists()


def test_an_unknown_object_and_nothing_to_undo_are_refused(deals, admin_user_a):
    run(deals)
    with pytest.raises(InvalidInput, match="no object 'accounts'"):
        mapping_change(connection=deals, source_object="accounts", source_field="Stage", action="unmap")
    with pytest.raises(InvalidInput, match="no change to undo"):
        mapping_undo(connection=deals, user=admin_user_a)


def test_no_change_while_a_sync_runs(deals, admin_user_a):
    run(deals)
    with SyncLock(db.tenant, deals.pk), pytest.raises(Conflict, match="sync of this connection is running"):
        mapping_change(connection=deals, source_object=OBJECT, source_field="Stage", action="unmap")
    assert not MappingChange.objects.exists()


def test_undo_is_refused_when_the_column_changed_since(deals, admin_user_a):
    run(deals)
    mapping_change(connection=deals, source_object=OBJECT, source_field="Company", action="map",
                   canonical_field="account_id", user=admin_user_a)
    latest = FieldMapping.objects.get(connection=deals, source_object=OBJECT, source_field="Company",
                                      version=mapping_latest_version(connection=deals, source_object_name=OBJECT))
    FieldMapping.objects.filter(pk=latest.pk).update(canonical_field="contact_id")  # as a drift repair would
    with pytest.raises(Conflict, match="changed since"):
        mapping_undo(connection=deals, user=admin_user_a)
