"""The delete guard's review item through the review API (docs/adr/0019-deletes.md): a person
approves it (the pause lifts, a run is asked for), another tenant cannot see or decide it, and a
bad decision is a 400, not a 500."""

import pytest
from django.db import connection as db

from aam import deletes_review
from aam.models import ReviewItem
from connectors.models import Connection

pytestmark = pytest.mark.django_db


def _paused_item(tenant, name: str) -> ReviewItem:
    db.set_tenant(tenant)
    conn = Connection.objects.create(name=name, kind="postgres")
    item = deletes_review.deletes_review_open(
        connection=conn, deleting=60, held=100, share=0.5,
        objects=[{"source_object": "deals", "entity": "opportunity", "mode": "key_ranges", "held": 100,
                  "deletes": 60, "sample": ["1", "2"]}],
    )
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.PAUSED
    db.set_schema_to_public()
    return item


def test_approving_the_deletes_review_through_the_api_lifts_the_pause_and_asks_for_a_run(
    api_a, tenant_a, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(deletes_review, "pipeline_run_request", lambda **kw: sent.append(kw))
    item = _paused_item(tenant_a, "warehouse")
    url = f"/api/aam/review/{item.pk}/decide/"
    assert api_a.post(url, {"decision": "sometimes"}, format="json").status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        response = api_a.post(url, {"decision": "approve", "note": "archived on purpose"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "approved"
    db.set_tenant(tenant_a)
    assert Connection.objects.get(pk=item.connection_id).status == Connection.Status.OK
    assert sent == [{"connection_id": item.connection_id, "schema": tenant_a.schema_name, "full": False,
                     "trigger": "review"}]
    assert deletes_review.deletes_allowance(connection=item.connection) == item
    db.set_schema_to_public()


def test_another_tenants_deletes_review_is_404(api_a, tenant_a, tenant_b):
    item = _paused_item(tenant_b, "beta warehouse")
    assert api_a.get(f"/api/aam/review/{item.pk}/").status_code == 404
    assert api_a.post(f"/api/aam/review/{item.pk}/decide/", {"decision": "approve"}, format="json").status_code == 404
    db.set_tenant(tenant_b)
    assert ReviewItem.objects.get(pk=item.pk).status == "pending"
    assert Connection.objects.get(pk=item.connection_id).status == Connection.Status.PAUSED
    db.set_schema_to_public()
