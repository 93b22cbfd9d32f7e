"""/api/aam/drift/ and /api/aam/review/: filters, decisions, cross-tenant isolation, bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection as db
from django.utils import timezone
from rest_framework.test import APIClient

from aam.drift.services import drift_check
from aam.models import DriftEvent, ReviewDecision, ReviewItem
from aam.selectors import mapping_active
from aam.services import mapping_ensure
from connectors.models import Connection
from tests.aam.drift_support import changed, source_object
from tests.conftest import host_of

pytestmark = pytest.mark.django_db


def setup_drift(tenant, name="Salesforce", policy="review", **change) -> tuple[Connection, DriftEvent]:
    db.set_tenant(tenant)
    conn = Connection.objects.create(name=name, kind="salesforce", drift_policy=policy)
    obj = source_object()
    drift_check(connection=conn, source_object=obj)
    mapping_ensure(connection=conn, source_object=obj)
    drift_check(connection=conn, source_object=changed(**(change or {"rename": {"Amount": "Amount__c"}})))
    event = DriftEvent.objects.filter(connection=conn).latest("id")
    db.set_schema_to_public()
    return conn, event


def test_drift_events_are_listed_newest_first_and_filtered_by_connection_kind_and_date(api_a, tenant_a):
    first, renamed = setup_drift(tenant_a)
    second, removed = setup_drift(tenant_a, name="HubSpot", drop=("Probability",))
    body = api_a.get("/api/aam/drift/").json()
    assert [e["id"] for e in body["results"]] == [removed.pk, renamed.pk] and body["count"] == 2
    one = body["results"][1]
    assert (one["kind"], one["field"], one["new_field"], one["status"]) == ("renamed", "Amount", "Amount__c", "pending")
    assert one["connection_name"] == "Salesforce" and one["repair"]["canonical_field"] == "amount"
    assert one["review_item"] == renamed.review_item_id and one["holds_mapping"] is True
    assert [e["id"] for e in api_a.get(f"/api/aam/drift/?connection={second.pk}").json()["results"]] == [removed.pk]
    assert [e["id"] for e in api_a.get("/api/aam/drift/?kind=renamed").json()["results"]] == [renamed.pk]
    today = timezone.now().date()
    assert api_a.get(f"/api/aam/drift/?since={today.isoformat()}").json()["count"] == 2
    tomorrow = today + dt.timedelta(days=1)
    assert api_a.get(f"/api/aam/drift/?since={tomorrow.isoformat()}").json()["count"] == 0
    assert api_a.get(f"/api/aam/drift/?until={today.isoformat()}").json()["count"] == 0
    assert api_a.get(f"/api/aam/drift/{renamed.pk}/").json()["explanation"].startswith("`Amount` was renamed")


@pytest.mark.parametrize(
    "query",
    [
        "kind=moved",
        "connection=abc",
        "connection=0",
        "since=yesterday",
        "until=2026-13-40",
        "since=2026-05-02&until=2026-05-01",
        "status=done",
        f"connection={2**70}",
    ],
)
def test_bad_drift_filters_are_a_400_with_the_json_error_shape(api_a, query):
    response = api_a.get(f"/api/aam/drift/?{query}")
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_the_review_queue_is_filtered_and_an_item_shows_its_decision_log(api_a, tenant_a):
    _, renamed = setup_drift(tenant_a)
    _, removed = setup_drift(tenant_a, name="Other", policy="auto", drop=("Probability",))
    listing = api_a.get("/api/aam/review/?kind=drift&status=pending").json()
    assert {i["id"] for i in listing["results"]} == {renamed.review_item_id, removed.review_item_id}
    high = api_a.get("/api/aam/review/?risk=high").json()["results"]
    assert [i["id"] for i in high] == [removed.review_item_id]
    detail = api_a.get(f"/api/aam/review/{removed.review_item_id}/").json()
    assert detail["drift_event_ids"] == [removed.pk] and detail["decisions"] == []
    assert detail["evidence"]["why_review"] and detail["proposal"]["repairs"][0]["action"] == "drop"


def test_deciding_through_the_api_applies_the_repair_and_a_second_decision_is_a_conflict(api_a, tenant_a):
    conn, event = setup_drift(tenant_a)
    url = f"/api/aam/review/{event.review_item_id}/decide/"
    response = api_a.post(url, {"decision": "approve", "note": "renamed in SFDC"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "approved" and body["decided_by"] == "admin" and body["note"] == "renamed in SFDC"
    assert [d["decision"] for d in body["decisions"]] == ["approved"]
    db.set_tenant(tenant_a)
    assert mapping_active(connection=conn, source_object_name="Opportunity").fields["Amount__c"] == "amount"
    db.set_schema_to_public()
    again = api_a.post(url, {"decision": "reject"}, format="json")
    assert again.status_code == 409 and "already approved" in again.json()["error"]["message"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"decision": "maybe"},
        {"decision": 3},
        {"decision": "approve", "note": "x" * 5001},
        {"decision": "approve", "canonical_field": "not_a_field"},
        {"decision": "reject", "canonical_field": "amount"},
        ["approve"],
    ],
)
def test_bad_decisions_are_a_400_and_change_nothing(api_a, tenant_a, payload):
    _, event = setup_drift(tenant_a)
    response = api_a.post(f"/api/aam/review/{event.review_item_id}/decide/", payload, format="json")
    assert response.status_code == 400 and "error" in response.json()
    db.set_tenant(tenant_a)
    assert ReviewItem.objects.get(pk=event.review_item_id).status == "pending"
    assert not ReviewDecision.objects.exists()


def test_a_malformed_body_and_unknown_ids_are_clean_4xx(api_a, tenant_a):
    _, event = setup_drift(tenant_a)
    bad = api_a.generic(
        "POST", f"/api/aam/review/{event.review_item_id}/decide/", b'{"decision": ', content_type="application/json"
    )
    assert bad.status_code == 400
    for url in (
        "/api/aam/review/999999/",
        "/api/aam/review/abc/",
        f"/api/aam/review/{'9' * 30}/",
        "/api/aam/drift/999999/",
    ):
        assert api_a.get(url).status_code == 404, url
    assert api_a.post("/api/aam/review/999999/decide/", {"decision": "approve"}, format="json").status_code == 404


def test_another_tenants_drift_and_review_items_are_404_and_its_token_is_refused_here(api_a, api_b, tenant_a, tenant_b):
    _, event_b = setup_drift(tenant_b, name="Beta CRM")
    assert api_a.get(f"/api/aam/drift/{event_b.pk}/").status_code == 404
    assert api_a.get(f"/api/aam/review/{event_b.review_item_id}/").status_code == 404
    assert (
        api_a.post(
            f"/api/aam/review/{event_b.review_item_id}/decide/", {"decision": "approve"}, format="json"
        ).status_code
        == 404
    )
    assert api_a.get("/api/aam/drift/").json()["count"] == 0
    db.set_tenant(tenant_b)
    assert ReviewItem.objects.get(pk=event_b.review_item_id).status == "pending"
    db.set_schema_to_public()
    # A's token on B's host
    client = APIClient(HTTP_HOST=host_of(tenant_b))
    client.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    assert client.get("/api/aam/drift/").status_code == 401
    assert (
        client.post(
            f"/api/aam/review/{event_b.review_item_id}/decide/", {"decision": "approve"}, format="json"
        ).status_code
        == 401
    )
    assert api_b.get(f"/api/aam/drift/{event_b.pk}/").status_code == 200
