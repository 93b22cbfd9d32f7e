"""The mapping editor's API: GET the mapping, POST a change, POST undo; roles, tenants, bad input."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django_tenants.utils import schema_context

from aam.models import MappingChange
from aam.services import mapping_ensure
from aam.sync_lock import SyncLock
from autonomos.core.roles import Role
from connectors.models import Connection
from tests.conftest import host_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DEALS = {
    "name": "deals",
    "primary_key": "Deal ID",
    "fields": [
        {"name": "Deal ID", "type": "string", "samples": ["D-1", "D-2", "D-3"]},
        {"name": "Deal Name", "type": "string", "samples": ["Acme renewal", "Globex expansion", "Initech pilot"]},
        {"name": "Company", "type": "string", "samples": ["Acme Corp", "Globex", "Initech"]},
        {"name": "Stage", "type": "string", "samples": ["Prospecting", "Closed Won", "Negotiation"]},
        {"name": "Amount", "type": "number", "samples": ["12000", "55000.5", "7300"]},
    ],
}


@pytest.fixture
def conn_a(tenant_a):
    with schema_context(tenant_a.schema_name):
        conn = Connection.objects.create(name="Deals sheet", kind="filesource")
        mapping_ensure(connection=conn, source_object=DEALS)
    return conn


def url(conn, tail: str = "") -> str:
    return f"/api/connections/{conn.pk}/mapping/{tail}"


def change(client, conn, **body):
    return client.post(url(conn, "changes/"), body, format="json")


def _client_of(tenant, role):
    from rest_framework.test import APIClient

    from tenants.auth import issue_tokens

    with schema_context(tenant.schema_name):
        user = UserFactory(username=f"{role.value}-maptab", role=role, unusable_password=True)
        token = issue_tokens(user, tenant).access_token
    client = APIClient(HTTP_HOST=host_of(tenant))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_get_lists_every_column_with_its_state_reason_and_evidence(api_a, conn_a):
    response = api_a.get(url(conn_a))
    assert response.status_code == 200, response.content
    body = response.json()
    (obj,) = body["objects"]
    assert (obj["name"], obj["entity"], obj["version"], obj["primary_key"]) == ("deals", "opportunity", 1, "")
    columns = {c["source_field"]: c for c in obj["columns"]}
    assert list(columns) == [f["name"] for f in DEALS["fields"]]
    assert columns["Amount"]["state"] == "mapped" and columns["Amount"]["canonical_field"] == "amount"
    assert columns["Amount"]["reason"] and columns["Amount"]["evidence"] and columns["Amount"]["confidence"] > 0
    company = columns["Company"]
    assert company["state"] == "pending" and company["canonical_field"] == "account_id"
    assert company["hint"]["field"] == "name" and company["review_item_id"]
    assert "amount" in obj["fields"] and "id" not in obj["fields"]
    assert body["changes"] == [] and body["undo"] is None


def test_post_a_change_then_undo_it(api_a, conn_a):
    response = change(api_a, conn_a, source_object="deals", source_field="Stage", action="remap",
                      canonical_field="next_step", note="free text here")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["change"]["action"] == "remap" and body["change"]["username"] == "admin"
    assert body["change"]["reprocess"] is False  # never synced: nothing to read again
    stage = next(c for c in body["object"]["columns"] if c["source_field"] == "Stage")
    assert (stage["state"], stage["canonical_field"], stage["method"]) == ("mapped", "next_step", "human")
    assert body["object"]["version"] == 2
    listed = api_a.get(url(conn_a)).json()
    assert listed["undo"]["id"] == body["change"]["id"] and listed["changes"][0]["id"] == body["change"]["id"]

    undone = api_a.post(url(conn_a, "undo/"), {}, format="json")
    assert undone.status_code == 201, undone.content
    assert undone.json()["change"]["undoes"] == body["change"]["id"]
    stage = next(c for c in undone.json()["object"]["columns"] if c["source_field"] == "Stage")
    assert stage["canonical_field"] == "stage" and undone.json()["object"]["version"] == 3
    again = api_a.post(url(conn_a, "undo/"), {}, format="json")
    assert again.status_code == 400 and "no change to undo" in again.json()["error"]["message"]


def test_exclude_and_include(api_a, conn_a):
    assert change(api_a, conn_a, source_object="deals", source_field="Amount", action="exclude").status_code == 201
    obj = api_a.get(url(conn_a)).json()["objects"][0]
    amount = next(c for c in obj["columns"] if c["source_field"] == "Amount")
    assert amount["state"] == "excluded" and amount["canonical_field"] is None and obj["counts"]["excluded"] == 1
    back = change(api_a, conn_a, source_object="deals", source_field="Amount", action="include")
    assert back.status_code == 201
    amount = next(c for c in back.json()["object"]["columns"] if c["source_field"] == "Amount")
    assert amount["state"] == "unmapped"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"source_object": "deals", "source_field": "Nope", "action": "unmap"}, "has no column 'Nope'"),
        ({"source_object": "deals", "source_field": "Stage", "action": "map", "canonical_field": "industry"},
         "industry is a field of account, not of opportunity"),
        ({"source_object": "deals", "source_field": "Stage", "action": "map", "canonical_field": "account.name"},
         "account.name is a field of account"),
        ({"source_object": "deals", "source_field": "Stage", "action": "map", "canonical_field": "bogus"},
         "opportunity has no field 'bogus'"),
        ({"source_object": "accounts", "source_field": "Stage", "action": "unmap"}, "no object 'accounts'"),
        ({"source_object": "deals", "source_field": "Stage", "action": "map"}, "Say which canonical field"),
    ],
)
def test_bad_input_is_a_400_that_says_why(api_a, conn_a, body, message):
    response = change(api_a, conn_a, **body)
    assert response.status_code == 400, response.content
    assert message in response.json()["error"]["message"]
    with schema_context("alpha"):
        assert not MappingChange.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"source_object": "deals", "source_field": "Stage"},  # no action
        {"source_object": "deals", "source_field": "Stage", "action": "drop"},
        {"source_object": "deals", "source_field": ["Stage"], "action": "unmap"},
        {"source_object": "deals", "source_field": "St\x00age", "action": "unmap"},
        {"source_object": "d" * 300, "source_field": "Stage", "action": "unmap"},
        {"source_object": "deals", "source_field": "Stage", "action": "unmap", "note": "n" * 3000},
    ],
)
def test_malformed_bodies_are_a_400(api_a, conn_a, body):
    response = change(api_a, conn_a, **body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"


def test_a_body_that_is_not_an_object_is_a_400(api_a, conn_a):
    assert api_a.post(url(conn_a, "changes/"), [1, 2], format="json").status_code == 400
    assert api_a.post(url(conn_a, "changes/"), "{", content_type="application/json").status_code == 400


def test_a_viewer_reads_but_cannot_change(tenant_a, conn_a):
    viewer, operator = _client_of(tenant_a, Role.VIEWER), _client_of(tenant_a, Role.OPERATOR)
    assert viewer.get(url(conn_a)).status_code == 200
    body = {"source_object": "deals", "source_field": "Stage", "action": "unmap"}
    assert change(viewer, conn_a, **body).status_code == 403
    assert viewer.post(url(conn_a, "undo/"), {}, format="json").status_code == 403
    assert change(operator, conn_a, **body).status_code == 201
    assert operator.post(url(conn_a, "undo/"), {}, format="json").status_code == 201


def test_another_tenant_gets_a_404(api_b, conn_a):
    body = {"source_object": "deals", "source_field": "Stage", "action": "unmap"}
    assert api_b.get(url(conn_a)).status_code == 404
    assert change(api_b, conn_a, **body).status_code == 404
    assert api_b.post(url(conn_a, "undo/"), {}, format="json").status_code == 404
    with schema_context("alpha"):
        assert not MappingChange.objects.exists()


def test_an_unknown_or_absurd_connection_id_is_a_404(api_a):
    assert api_a.get("/api/connections/987654/mapping/").status_code == 404
    assert api_a.get(f"/api/connections/{10**20}/mapping/").status_code == 404
    assert api_a.post(f"/api/connections/{10**20}/mapping/undo/", {}, format="json").status_code == 404


def test_a_change_while_a_sync_runs_is_a_409(api_a, conn_a, tenant_a):
    db.set_tenant(tenant_a)
    with SyncLock(tenant_a, conn_a.pk):
        response = change(api_a, conn_a, source_object="deals", source_field="Stage", action="unmap")
    assert response.status_code == 409 and "sync" in response.json()["error"]["message"]
