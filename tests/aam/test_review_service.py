"""review_decide: one service for every decision; the decision log never changes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db
from django.db import transaction

from aam.drift.review import ReviewConflict, review_decide
from aam.drift.services import drift_check
from aam.models import DriftEvent, FieldMapping, ImmutableRecord, MappingMemory, ReviewDecision, ReviewItem
from aam.selectors import mapping_active
from aam.services import mapping_ensure
from autonomos.core.events import read_events
from autonomos.core.tenancy import current_tenant
from connectors.models import Connection
from tests.aam.drift_support import OTHER_KEYS, changed, source_object
from tests.factories import ConnectionRowFactory

pytestmark = pytest.mark.django_db


def connect(name: str, policy: str = "review") -> Connection:
    conn = ConnectionRowFactory(name=name, kind="salesforce", drift_policy=policy)
    obj = source_object()
    drift_check(connection=conn, source_object=obj)
    mapping_ensure(connection=conn, source_object=obj)
    return conn


def drift(conn, **change) -> DriftEvent:
    obj = changed(**change)
    drift_check(connection=conn, source_object=obj)
    mapping_ensure(connection=conn, source_object=obj)
    return DriftEvent.objects.filter(connection=conn).latest("id")


def fields_of(conn) -> dict[str, str]:
    return mapping_active(connection=conn, source_object_name="Opportunity").fields


def test_approving_a_rename_moves_the_mapping_teaches_memory_and_logs_who_decided(
    in_tenant_a, admin_user_a, django_capture_on_commit_callbacks
):
    conn = connect("SF")
    event = drift(conn, rename={"Amount": "Amount__c"})
    with django_capture_on_commit_callbacks(execute=True):
        item = review_decide(item=event.review_item, decision="approve", user=admin_user_a, note="custom field now")
    assert item.status == "approved" and item.decided_by == admin_user_a and item.note == "custom field now"
    assert fields_of(conn)["Amount__c"] == "amount" and "Amount" not in fields_of(conn)
    row = FieldMapping.objects.filter(connection=conn, source_field="Amount__c").latest("version")
    assert (row.status, row.method, row.confidence) == (
        "active",
        "human",
        1.0,
    ) and "approved by admin" in row.explanation
    memory = MappingMemory.objects.get()
    assert (memory.field_name, memory.canonical_field, memory.decision) == ("Amount__c", "amount", "approved")
    event.refresh_from_db()
    assert event.status == "approved" and not event.holds_mapping and event.resolved_at
    log = ReviewDecision.objects.get()
    assert (log.decision, log.previous_status, log.username, log.note) == ("approved", "pending", "admin", item.note)
    assert log.outcome["mapping_version"] == row.version and log.proposal["repairs"][0]["action"] == "move"
    decided = [e for e in read_events(current_tenant()) if e["type"] == "review_decided"]
    assert decided[-1]["payload"]["review_item_id"] == item.pk and decided[-1]["payload"]["status"] == "approved"


def test_an_approved_repair_makes_the_same_field_repair_itself_on_the_next_drift(in_tenant_a, admin_user_a):
    first = connect("SF EU", policy="auto")
    # a later export of other records: only the names say it is a rename, not enough to apply unseen
    later = {
        "rename": {"Amount": "Amount_USD"},
        "keys": OTHER_KEYS,
        "retype": {"Amount": ("number", [5.0, 6.0, 7.0, 8.0])},
    }
    event = drift(first, **later)
    assert (event.kind, event.new_field, event.status) == ("renamed", "Amount_USD", "pending")
    assert event.repair_confidence < 0.85
    review_decide(item=event.review_item, decision="approve", user=admin_user_a)
    second = connect("SF US", policy="auto")
    again = drift(second, **later)
    assert (again.kind, again.status) == ("renamed", "applied")
    assert "(memory" in again.explanation and fields_of(second)["Amount_USD"] == "amount"


def test_a_rejected_repair_is_remembered_and_not_proposed_again(in_tenant_a, admin_user_a):
    first = connect("SF EU")
    event = drift(first, rename={"Amount": "Amount__c"})
    review_decide(item=event.review_item, decision="reject", user=admin_user_a, note="a different amount")
    assert "Amount__c" not in fields_of(first) and "Amount" not in fields_of(first)
    # remembered by exact name (the engine's memory would also forget that `Amount` is amount)
    assert not MappingMemory.objects.exists() and DriftEvent.objects.get(pk=event.pk).status == "rejected"
    second = connect("SF US")
    again = drift(second, rename={"Amount": "Amount__c"})
    assert again.repair["action"] == "drop" and "not proposed again" in again.explanation
    assert "rejected by admin" in again.explanation
    assert not ReviewItem.objects.filter(proposal__repairs__0__action="move", status="pending").exists()


def test_an_approval_can_choose_another_canonical_field_and_the_proposal_is_remembered_as_wrong(
    in_tenant_a, admin_user_a
):
    conn = connect("SF")
    event = drift(conn, add={"Discount__c": ("number", [0.1, 0.2, 0.0, 0.05])})
    assert event.status == "pending"
    item = review_decide(item=event.review_item, decision="approve", user=admin_user_a, canonical_field="description")
    assert fields_of(conn)["Discount__c"] == "description"
    assert ReviewDecision.objects.get(item=item).canonical_field == "description"
    with pytest.raises(ValidationError):
        review_decide(
            item=drift(conn, add={"X": ("string", ["a", "b", "c", "d"])}).review_item,
            decision="approve",
            canonical_field="no_such_field",
        )


def test_flagging_keeps_an_item_undecided_and_a_decided_item_cannot_be_decided_again(in_tenant_a, admin_user_a):
    conn = connect("SF")
    event = drift(conn, rename={"Amount": "Amount__c"})
    item = review_decide(item=event.review_item, decision="flag", user=admin_user_a, note="ask finance")
    assert item.status == "flagged" and DriftEvent.objects.get(pk=event.pk).status == "flagged"
    assert fields_of(conn)["Amount"] == "amount"  # nothing applied
    with pytest.raises(ReviewConflict):
        review_decide(item=item, decision="flag", user=admin_user_a)
    review_decide(item=item, decision="approve", user=admin_user_a)
    with pytest.raises(ReviewConflict):
        review_decide(item=item, decision="reject", user=admin_user_a)
    assert [d.decision for d in ReviewDecision.objects.order_by("id")] == ["flagged", "approved"]


def test_bad_decisions_are_refused_with_a_clear_message(in_tenant_a):
    conn = connect("SF")
    item = drift(conn, rename={"Amount": "Amount__c"}).review_item
    for kwargs in (
        {"decision": "maybe"},
        {"decision": 1},
        {"decision": "approve", "note": "x" * 5001},
        {"decision": "reject", "canonical_field": "amount"},
    ):
        with pytest.raises(ValidationError):
            review_decide(item=item, **kwargs)
    item.refresh_from_db()
    assert item.status == "pending" and not ReviewDecision.objects.exists()


def test_a_canonical_field_fed_by_another_field_is_a_conflict(in_tenant_a, admin_user_a):
    conn = connect("SF")
    event = drift(conn, add={"Deal_Title": ("string", ["x", "y", "z", "w"])})
    with pytest.raises(ReviewConflict, match="fed by Name"):
        review_decide(item=event.review_item, decision="approve", canonical_field="name", user=admin_user_a)


def test_a_mapping_review_item_is_decided_through_the_mapping_flow(in_tenant_a, admin_user_a):
    conn = Connection.objects.create(name="CSV", kind="filesource")
    obj = {
        "name": "Account",
        "fields": [
            {"name": "Id", "type": "string", "samples": ["0015500000Xyy06AAB"]},
            {"name": "Domain Name", "type": "string", "samples": ["rickthomas.com", "bluetest.io"]},
        ],
    }
    mapping_ensure(connection=conn, source_object=obj)
    item = ReviewItem.objects.get(kind="mapping")
    review_decide(item=item, decision="flag", user=admin_user_a)
    review_decide(item=item, decision="approve", user=admin_user_a, note="yes")
    assert mapping_active(connection=conn, source_object_name="Account").fields["Domain Name"] == "website"
    assert [d.decision for d in ReviewDecision.objects.filter(item=item).order_by("id")] == ["flagged", "approved"]


def test_the_decision_log_can_never_be_changed_or_deleted(in_tenant_a, admin_user_a):
    conn = connect("SF")
    item = review_decide(
        item=drift(conn, rename={"Amount": "Amount__c"}).review_item, decision="approve", user=admin_user_a
    )
    log = ReviewDecision.objects.get(item=item)
    log.note = "rewritten"
    with pytest.raises(ImmutableRecord):
        log.save()
    with pytest.raises(ImmutableRecord):
        log.delete()
    with pytest.raises(ImmutableRecord):
        ReviewDecision.objects.filter(pk=log.pk).update(note="rewritten")
    with pytest.raises(ImmutableRecord):
        ReviewDecision.objects.all().delete()
    for sql in ("UPDATE aam_reviewdecision SET note = 'x'", "DELETE FROM aam_reviewdecision"):
        with pytest.raises(Exception, match="never changed or deleted"), transaction.atomic():
            with db.cursor() as cursor:
                cursor.execute(sql)
    with pytest.raises(Exception):  # noqa: B017 - PROTECT: a decided item keeps its log
        with transaction.atomic():
            item.delete()
    assert ReviewDecision.objects.get(pk=log.pk).note == ""
