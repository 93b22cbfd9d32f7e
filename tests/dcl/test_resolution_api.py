"""The entity resolution API: review items, decisions, merge, split and a record's redirect; status
codes, roles and tenant isolation."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from autonomos.core.roles import Role
from dcl.models import MatchDecision, MatchReview
from dcl.resolution.review import ReviewPair, redirects_record, review_pairs_record
from tests.conftest import host_of
from tests.factories import UserFactory

from .resolution_support import contact_id, seed_contacts

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    from celery import current_app

    monkeypatch.setattr(current_app, "send_task", lambda name, **kw: None)


@pytest.fixture
def seeded(tenant_a):
    connection.set_tenant(tenant_a)
    sf, hs = seed_contacts(tenant_a)
    review_pairs_record("contact", [ReviewPair(left=(sf.pk, "003A"), right=(hs.pk, "c9"), probability=0.7,
                                               match_weight=1.2, waterfall=[{"comparison": "prior",
                                                                             "log2_bayes_factor": -3}])])
    ids = {"ann_sf": contact_id("003A"), "ann_hs": contact_id("c9"), "bob": contact_id("003B"),
           "item": MatchReview.objects.get().pk, "sf": sf.pk, "hs": hs.pk}
    connection.set_schema_to_public()
    return ids


def _client_of(tenant, role):
    from rest_framework.test import APIClient

    from tenants.auth import issue_tokens

    with schema_context(tenant.schema_name):
        user = UserFactory(username=f"{role.value}-er", role=role, unusable_password=True)
        token = issue_tokens(user, tenant).access_token
    client = APIClient(HTTP_HOST=host_of(tenant))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_review_items_are_listed_and_filtered(api_a, seeded):
    body = api_a.get("/api/dcl/matches/").json()
    assert body["count"] == 1
    item = body["results"][0]
    assert item["entity"] == "contact" and item["status"] == "pending"
    assert item["left"] == {"connection_id": seeded["sf"], "source_id": "003A"}
    assert item["waterfall"][0]["comparison"] == "prior"
    assert api_a.get("/api/dcl/matches/?entity=account").json()["count"] == 0
    assert api_a.get("/api/dcl/matches/?status=approved").json()["count"] == 0
    bad = api_a.get("/api/dcl/matches/?status=maybe")
    assert bad.status_code == 400 and "status is one of" in bad.json()["error"]["message"]
    assert api_a.get(f"/api/dcl/matches/{seeded['item']}/").json()["id"] == seeded["item"]
    assert api_a.get("/api/dcl/matches/999999/").status_code == 404


def test_approving_an_item_answers_the_decision_and_a_second_time_is_a_conflict(api_a, seeded):
    r = api_a.post(f"/api/dcl/matches/{seeded['item']}/approve/")
    assert r.status_code == 200, r.content
    assert r.json()["item"]["status"] == "approved" and r.json()["decision"]["kind"] == "must_link"
    again = api_a.post(f"/api/dcl/matches/{seeded['item']}/reject/")
    assert again.status_code == 409 and "not pending" in again.json()["error"]["message"]
    assert api_a.post("/api/dcl/matches/999999/approve/").status_code == 404


def test_a_viewer_reads_review_items_but_cannot_decide_and_an_operator_can(tenant_a, seeded):
    viewer, operator = _client_of(tenant_a, Role.VIEWER), _client_of(tenant_a, Role.OPERATOR)
    assert viewer.get("/api/dcl/matches/").status_code == 200
    assert viewer.post(f"/api/dcl/matches/{seeded['item']}/reject/").status_code == 403
    assert viewer.post("/api/dcl/entities/contact/merge/", {"unified_ids": [seeded["ann_sf"], seeded["ann_hs"]]},
                       format="json").status_code == 403
    assert operator.post(f"/api/dcl/matches/{seeded['item']}/reject/").status_code == 200


def test_another_tenant_neither_sees_nor_decides_these_items(api_b, seeded):
    assert api_b.get("/api/dcl/matches/").json()["count"] == 0
    assert api_b.get(f"/api/dcl/matches/{seeded['item']}/").status_code == 404
    assert api_b.post(f"/api/dcl/matches/{seeded['item']}/approve/").status_code == 404
    r = api_b.post("/api/dcl/entities/contact/merge/", {"unified_ids": [seeded["ann_sf"], seeded["ann_hs"]]},
                   format="json")
    assert r.status_code == 400 and "No contact" in r.json()["error"]["message"]
    with schema_context("alpha"):
        assert MatchReview.objects.get().status == "pending" and not MatchDecision.objects.exists()


def test_decisions_are_created_listed_replaced_and_deleted(api_a, seeded):
    body = {"entity": "contact", "kind": "cannot_link", "left": [seeded["sf"], "003A"],
            "right": {"connection_id": seeded["hs"], "source_id": "c9"}, "note": "two Anns"}
    r = api_a.post("/api/dcl/decisions/", body, format="json")
    assert r.status_code == 201, r.content
    first = r.json()
    assert (first["kind"], first["origin"], first["note"]) == ("cannot_link", "api", "two Anns")
    r = api_a.post("/api/dcl/decisions/", {**body, "kind": "must_link"}, format="json")
    assert r.status_code == 201 and r.json()["id"] == first["id"] and r.json()["kind"] == "must_link"
    listed = api_a.get("/api/dcl/decisions/?entity=contact&kind=must_link").json()
    assert [d["id"] for d in listed["results"]] == [first["id"]]
    assert api_a.get("/api/dcl/decisions/?kind=both").status_code == 400
    assert api_a.delete(f"/api/dcl/decisions/{first['id']}/").status_code == 204
    assert api_a.delete(f"/api/dcl/decisions/{first['id']}/").status_code == 404


@pytest.mark.parametrize("body, status", [
    ([1, 2], 400),
    ({"entity": "contact", "kind": "maybe", "left": [1, "a"], "right": [2, "b"]}, 400),
    ({"entity": "contact", "kind": "must_link", "left": "1", "right": [2, "b"]}, 400),
    ({"entity": "contact", "kind": "must_link", "left": [1, "a"], "right": [1, "a"]}, 400),
    ({"entity": "cost", "kind": "must_link", "left": [1, "a"], "right": [2, "b"]}, 400),
    ({"entity": "contact", "kind": "must_link", "left": [1, "a"], "right": [2, "b"], "note": 5}, 400),
    ({"entity": "contact", "kind": "must_link", "left": [1, "nope"], "right": [2, "gone"]}, 409),
])
def test_bad_decisions_are_refused_with_a_message(api_a, seeded, body, status):
    r = api_a.post("/api/dcl/decisions/", body, format="json")
    assert r.status_code == status, r.content
    assert r.json()["error"]["message"]


def test_merge_and_split_through_the_api(api_a, seeded):
    r = api_a.post("/api/dcl/entities/contact/merge/", {"unified_ids": [seeded["ann_sf"], seeded["ann_hs"]]},
                   format="json")
    assert r.status_code == 200, r.content
    assert [d["kind"] for d in r.json()["decisions"]] == ["must_link"]
    same = api_a.post("/api/dcl/entities/contact/merge/", {"unified_ids": [seeded["bob"], seeded["bob"]]},
                      format="json")
    assert same.status_code == 400 and "itself" in same.json()["error"]["message"]
    assert api_a.post("/api/dcl/entities/contact/merge/", {"unified_ids": "x"}, format="json").status_code == 400
    # Bob has one record: moving it moves all of them
    r = api_a.post(f"/api/dcl/entities/contact/{seeded['bob']}/split/",
                   {"records": [[seeded["sf"], "003B"]]}, format="json")
    assert r.status_code == 400 and "moves all" in r.json()["error"]["message"]
    r = api_a.post(f"/api/dcl/entities/contact/{seeded['bob']}/split/", {"records": [[1, "x"]] * 1001}, format="json")
    assert r.status_code == 400 and "At most 1000" in r.json()["error"]["message"]
    r = api_a.post("/api/dcl/entities/contact/con_nope/split/", {"records": [[1, "x"]]}, format="json")
    assert r.status_code == 400


def test_a_record_id_that_moved_answers_301_with_its_new_id(api_a, tenant_a, seeded):
    r = api_a.get(f"/api/dcl/views/contact/{seeded['bob']}/")
    assert r.status_code == 200 and r.json()["unified_id"] == seeded["bob"]
    assert r.json()["sources"][0]["source_id"] == "003B"
    with schema_context("alpha"):
        redirects_record("contact", {"con_gone": seeded["bob"]})
    r = api_a.get("/api/dcl/views/contact/con_gone/")
    assert r.status_code == 301 and r["Location"] == f"/api/dcl/views/contact/{seeded['bob']}/"
    assert api_a.get("/api/dcl/views/contact/con_never/").status_code == 404
    assert api_a.get("/api/dcl/views/nothing/con_never/").status_code == 404
