"""The review flow in the Django admin on the tenant host, through real admin requests (session client)."""

from __future__ import annotations

import pytest
from django.db import connection as db

from aam.drift.services import drift_check
from aam.models import DriftEvent, ReviewDecision, ReviewItem
from aam.selectors import mapping_active
from aam.services import mapping_ensure
from connectors.models import Connection
from tests.aam.drift_support import OTHER_KEYS, changed, source_object
from tests.factories import ConnectionRowFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/aam/reviewitem/"
# a later export of other records: the rename is seen by its name only (below the auto threshold)
LATER = {"rename": {"Amount": "Amount_USD"}, "keys": OTHER_KEYS, "retype": {"Amount": ("number", [5.0, 6.0, 7.0, 8.0])}}


def connect(tenant, name: str, policy: str = "auto") -> Connection:
    db.set_tenant(tenant)
    conn = ConnectionRowFactory(name=name, kind="salesforce", drift_policy=policy)
    obj = source_object()
    drift_check(connection=conn, source_object=obj)
    mapping_ensure(connection=conn, source_object=obj)
    return conn


def drift(tenant, conn, **change) -> DriftEvent:
    db.set_tenant(tenant)
    obj = changed(**change)
    drift_check(connection=conn, source_object=obj)
    mapping_ensure(connection=conn, source_object=obj)
    return DriftEvent.objects.filter(connection=conn).latest("id")


def action(client, name: str, *items: ReviewItem):
    return client.post(CHANGELIST, {"action": name, "_selected_action": [i.pk for i in items], "index": 0})


def test_an_approval_in_the_admin_changes_the_mapping_and_the_next_drift_of_that_field_repairs_itself(web_a, tenant_a):
    first = connect(tenant_a, "Salesforce EU")
    event = drift(tenant_a, first, **LATER)
    assert event.status == "pending" and event.review_item.status == "pending"

    response = action(web_a, "approve_selected", event.review_item)
    assert response.status_code == 302

    db.set_tenant(tenant_a)
    item = ReviewItem.objects.get(pk=event.review_item_id)
    assert item.status == "approved" and item.decided_by.username == "admin"
    assert mapping_active(connection=first, source_object_name="Opportunity").fields["Amount_USD"] == "amount"
    log = ReviewDecision.objects.get(item=item)
    assert (log.decision, log.username, log.note) == ("approved", "admin", "decided in the admin")

    second = connect(tenant_a, "Salesforce US")
    again = drift(tenant_a, second, **LATER)
    assert (again.kind, again.status) == ("renamed", "applied") and again.review_item is None
    assert mapping_active(connection=second, source_object_name="Opportunity").fields["Amount_USD"] == "amount"


def test_reject_and_flag_actions_decide_the_selected_items(web_a, tenant_a):
    conn = connect(tenant_a, "Salesforce", policy="review")
    renamed = drift(tenant_a, conn, rename={"Amount": "Amount__c"})
    added = drift(
        tenant_a, conn, rename={"Amount": "Amount__c"}, add={"Region__c": ("string", ["EU", "US", "EU", "AP"])}
    )
    assert action(web_a, "reject_selected", renamed.review_item).status_code == 302
    assert action(web_a, "flag_selected", added.review_item).status_code == 302
    db.set_tenant(tenant_a)
    assert ReviewItem.objects.get(pk=renamed.review_item_id).status == "rejected"
    assert ReviewItem.objects.get(pk=added.review_item_id).status == "flagged"
    # deciding an item twice is refused with a message, not an error page
    response = action(web_a, "approve_selected", renamed.review_item)
    assert response.status_code == 302
    db.set_tenant(tenant_a)
    assert ReviewItem.objects.get(pk=renamed.review_item_id).status == "rejected"
    page = web_a.get(response["Location"])
    assert "already rejected" in page.content.decode()


def test_the_changelist_filters_by_kind_status_and_risk_and_shows_the_evidence(web_a, tenant_a):
    conn = connect(tenant_a, "Salesforce")
    removed = drift(tenant_a, conn, drop=("Probability",))
    listing = web_a.get(CHANGELIST, {"kind__exact": "drift", "status__exact": "pending", "risk__exact": "high"})
    body = listing.content.decode()
    assert listing.status_code == 200 and "Probability removed" in body
    for flt in ("kind", "status", "risk"):
        assert f"?{flt}__exact=" in body or f"&amp;{flt}__exact=" in body
    assert "Probability removed" not in web_a.get(CHANGELIST, {"risk__exact": "low"}).content.decode()
    page = web_a.get(f"{CHANGELIST}{removed.review_item_id}/change/").content.decode()
    assert "Why a human" in page and "is gone from the source" in page and "opportunity.probability" in page


def test_the_decision_log_is_read_only_in_the_admin(web_a, tenant_a):
    conn = connect(tenant_a, "Salesforce", policy="review")
    event = drift(tenant_a, conn, rename={"Amount": "Amount__c"})
    action(web_a, "approve_selected", event.review_item)
    db.set_tenant(tenant_a)
    log = ReviewDecision.objects.get()
    assert web_a.get("/admin/aam/reviewdecision/").status_code == 200
    assert web_a.get("/admin/aam/reviewdecision/add/").status_code == 403
    assert web_a.post(f"/admin/aam/reviewdecision/{log.pk}/delete/", {"post": "yes"}).status_code == 403
    view = web_a.get(f"/admin/aam/reviewdecision/{log.pk}/change/")
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    web_a.post(f"/admin/aam/reviewdecision/{log.pk}/change/", {"note": "rewritten", "decision": "rejected"})
    db.set_tenant(tenant_a)
    assert ReviewDecision.objects.get(pk=log.pk).note == "decided in the admin"
    # review items are not deleted in the admin either (they carry the audit trail)
    assert web_a.post(f"{CHANGELIST}{event.review_item_id}/delete/", {"post": "yes"}).status_code == 403
