"""/api/dcl/history/: an entity's versions and the view as of a time; tenant isolation, roles and bad
input (docs/adr/0020-history.md). The versions are written directly: how they are recorded is
tests/dcl/test_history.py's business."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django_tenants.utils import schema_context
from rest_framework.test import APIClient

from autonomos.core.roles import Role
from dcl.models import OpportunityHistory
from tests.conftest import host_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _version(uid, version, valid_from, valid_to=None, **values):
    base = {"stage": "Prospecting", "stage_source": "Prospecting", "amount": Decimal("10.5"), "currency": "USD",
            "close_date": "2026-06-30", "owner_id": "005A"}
    return OpportunityHistory(unified_id=uid, version=version, valid_from=valid_from, valid_to=valid_to,
                              **{**base, **values})


def _seed(tenant):
    """opp_a: Prospecting at T0, Closed Won at T1. opp_b: from T0, deleted at T2. opp_c: from T1."""
    connection.set_tenant(tenant)
    OpportunityHistory.objects.bulk_create([
        _version("opp_a", 1, T0, T1),
        _version("opp_a", 2, T1, stage="Closed Won", stage_source="Closed Won", status="won", amount=Decimal("12")),
        _version("opp_b", 1, T0, T2, amount=Decimal("1000.0000000001")),
        _version("opp_b", 2, T2, deleted=True, amount=Decimal("1000.0000000001")),
        _version("opp_c", 1, T1, owner_id="005C"),
    ])
    connection.set_schema_to_public()


def test_an_entitys_versions_newest_first(api_a, tenant_a):
    _seed(tenant_a)
    body = api_a.get("/api/dcl/history/opportunity/opp_a/").json()
    assert body["count"] == 2
    newest, oldest = body["results"]
    assert (newest["version"], newest["stage"], newest["status"], newest["amount"], newest["valid_to"]) == (
        2, "Closed Won", "won", "12", None)
    assert (oldest["version"], oldest["stage"], oldest["valid_to"]) == (1, "Prospecting", newest["valid_from"])
    assert set(newest) >= {"unified_id", "valid_from", "deleted", "source_updated_at", "stage_source",
                           "stage_category", "currency", "close_date", "forecast_category", "probability", "owner_id"}
    page = api_a.get("/api/dcl/history/opportunity/opp_a/?page_size=1&page=2").json()
    assert [r["version"] for r in page["results"]] == [1] and page["previous"]
    deleted = api_a.get("/api/dcl/history/opportunity/opp_b/").json()["results"][0]
    assert deleted["deleted"] is True and deleted["amount"] == "1000.0000000001"  # exact, as a string


def test_the_view_as_of_a_past_date(api_a, tenant_a):
    _seed(tenant_a)

    def as_of(value):
        response = api_a.get("/api/dcl/history/opportunity/", {"as_of": value})
        assert response.status_code == 200, response.content
        return {r["unified_id"]: (r["stage"], r["amount"]) for r in response.json()["results"]}

    assert as_of("2026-01-01") == {}
    b = ("Prospecting", "1000.0000000001")
    assert as_of("2026-01-10T09:00:00Z") == {"opp_a": ("Prospecting", "10.5"), "opp_b": b}
    assert as_of("2026-02-01") == as_of("2026-01-10T09:00:00Z")
    # a version's end is exclusive: at T1 opp_a is already Closed Won
    assert as_of("2026-02-10T10:00:00+01:00") == {"opp_a": ("Closed Won", "12"), "opp_b": b,
                                                 "opp_c": ("Prospecting", "10.5")}
    assert as_of("2026-02-10T08:59:59") == as_of("2026-02-01")  # no offset: UTC
    assert as_of("2026-03-10") == as_of("2026-02-10T09:00:00Z")  # midnight UTC, before the delete at 09:00
    assert set(as_of("2030-01-01")) == {"opp_a", "opp_c"}  # opp_b was deleted
    row = api_a.get("/api/dcl/history/opportunity/?as_of=2030-01-01").json()["results"][0]
    assert set(row) == {"unified_id", "stage", "stage_source", "status", "stage_category", "amount", "currency",
                        "close_date", "forecast_category", "probability", "owner_id"}


def test_history_is_tenant_isolated(api_a, api_b, tenant_a):
    _seed(tenant_a)
    assert api_a.get("/api/dcl/history/opportunity/opp_a/").status_code == 200
    assert api_b.get("/api/dcl/history/opportunity/opp_a/").status_code == 404
    body = api_b.get("/api/dcl/history/opportunity/?as_of=2030-01-01").json()
    assert body["count"] == 0 and body["results"] == []
    # alpha's token on beta's host is refused
    other = APIClient(HTTP_HOST=host_of(api_b.tenant))
    other.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    assert other.get("/api/dcl/history/opportunity/opp_a/").status_code == 401


def test_a_viewer_reads_history_and_an_anonymous_caller_does_not(tenant_a):
    _seed(tenant_a)
    from tenants.auth import issue_tokens

    with schema_context(tenant_a.schema_name):
        viewer = UserFactory(username="history-viewer", role=Role.VIEWER, unusable_password=True)
        token = issue_tokens(viewer, tenant_a).access_token
    client = APIClient(HTTP_HOST=host_of(tenant_a))
    assert client.get("/api/dcl/history/opportunity/opp_a/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/dcl/history/opportunity/opp_a/").status_code == 200
    assert client.get("/api/dcl/history/opportunity/?as_of=2026-02-01").json()["count"] == 2


@pytest.mark.parametrize("query,hint", [
    ("", "required"),
    ("as_of=", "required"),
    ("as_of=yesterday", "not an ISO 8601"),
    ("as_of=2026-02-30", "not an ISO 8601"),
    ("as_of=2026-13-01T00:00:00Z", "not an ISO 8601"),
    ("as_of=2026-01-01T10:00:00+02:00", "%2B"),  # an unencoded '+' arrives as a space
    ("as_of=0001-01-01T00:00:00%2B01:00", "not an ISO 8601"),  # before year 1 in UTC
    ("as_of=%00", "not an ISO 8601"),
])
def test_a_bad_as_of_is_a_clear_400(api_a, tenant_a, query, hint):
    response = api_a.get(f"/api/dcl/history/opportunity/?{query}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and hint in error["message"] and "as_of" in error["details"]


@pytest.mark.parametrize("url", [
    "/api/dcl/history/opportunity/opp_nothing/",
    "/api/dcl/history/opportunity/opp%00a/",
    "/api/dcl/history/opportunity/" + "x" * 5000 + "/",
    "/api/dcl/history/contact/opp_a/",  # an entity without history
    "/api/dcl/history/contact/?as_of=2026-01-01",
    "/api/dcl/history/contact/?as_of=nonsense",  # the unknown entity first
    "/api/dcl/history/opportunity/opp_a/?page=99",
])
def test_unknown_entities_and_ids_are_404(api_a, tenant_a, url):
    _seed(tenant_a)
    response = api_a.get(url)
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] in {"not_found"}


def test_page_sizes_are_bounded(api_a, tenant_a):
    connection.set_tenant(tenant_a)
    OpportunityHistory.objects.bulk_create([_version(f"opp_{i:05d}", 1, T0) for i in range(1005)])
    connection.set_schema_to_public()
    url = "/api/dcl/history/opportunity/?as_of=2026-02-01"
    huge = api_a.get(f"{url}&page_size=1000000000000000000000").json()
    assert huge["count"] == 1005 and len(huge["results"]) == 1000 and huge["next"]  # at most 1000 a page
    assert [r["unified_id"] for r in huge["results"][:2]] == ["opp_00000", "opp_00001"]
    for odd in ("0", "-5", "abc"):  # not a page size: the default (50)
        assert len(api_a.get(f"{url}&page_size={odd}").json()["results"]) == 50
    assert api_a.get(f"{url}&page=abc").status_code == 404


def test_the_schema_documents_both_operations_and_every_tracked_column():
    from drf_spectacular.generators import SchemaGenerator

    from dcl.history import tracked_columns

    spec = SchemaGenerator().get_schema(request=None, public=True)
    as_of = spec["paths"]["/api/dcl/history/{entity}/"]["get"]
    versions = spec["paths"]["/api/dcl/history/{entity}/{unified_id}/"]["get"]
    assert {p["name"]: p.get("required", False) for p in as_of["parameters"]}["as_of"] is True
    assert {"200", "400", "404"} <= set(as_of["responses"]) and {"200", "404"} <= set(versions["responses"])
    for entity, component in (("opportunity", "Opportunity"), ("account", "Account")):
        row = spec["components"]["schemas"][f"{component}AsOfRow"]["properties"]
        version = spec["components"]["schemas"][f"{component}HistoryVersion"]["properties"]
        assert set(row) == {"unified_id", *tracked_columns(entity)}
        assert set(version) == {"unified_id", "version", "valid_from", "valid_to", "deleted", "source_updated_at",
                                *tracked_columns(entity)}
    # the view's row schema keeps its enum component names
    assert "OpportunityViewRowStatusEnum" in spec["components"]["schemas"]
