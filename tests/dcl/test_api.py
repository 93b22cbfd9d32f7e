"""/api/dcl/: the catalog, view rows with paging/filtering/sorting/search, the lineage graph."""

import pytest
from django.db import connection

from connectors.models import Connection
from dcl.services import views_materialize
from tests.conftest import host_of
from tests.pipeline.support import batches_for, opportunity_records, publish

pytestmark = pytest.mark.django_db


def _materialize(tenant, n=30):
    connection.set_tenant(tenant)
    conn = Connection.objects.create(name="SF", kind="salesforce")
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, opportunity_records(n)))
    views_materialize(tenant=tenant)
    connection.set_schema_to_public()


def test_catalog_lists_materialized_views_with_row_counts(api_a, tenant_a):
    _materialize(tenant_a)
    body = api_a.get("/api/dcl/views/").json()
    assert [(v["entity"], v["row_count"]) for v in body["results"]] == [("opportunity", 30)]
    assert body["results"][0]["materialized_at"]


def test_view_rows_page_filter_range_sort_and_search(api_a, tenant_a):
    _materialize(tenant_a)
    page = api_a.get("/api/dcl/views/opportunity/?page_size=5&ordering=-amount").json()
    assert page["count"] == 30 and len(page["results"]) == 5
    assert [r["amount"] for r in page["results"]][:2] == ["290.5", "280.5"]
    assert page["results"][0]["sources"][0]["connection_kind"] == "salesforce"
    second = api_a.get("/api/dcl/views/opportunity/?page_size=5&ordering=-amount&page=2").json()
    assert not {r["unified_id"] for r in page["results"]} & {r["unified_id"] for r in second["results"]}
    ranged = api_a.get("/api/dcl/views/opportunity/?amount__gte=100&amount__lt=150&ordering=amount").json()
    assert [r["amount"][:5] for r in ranged["results"]] == ["100.5", "110.5", "120.5", "130.5", "140.5"]
    assert api_a.get("/api/dcl/views/opportunity/?search=Deal 2&page_size=100").json()["count"] == 11
    assert api_a.get("/api/dcl/views/opportunity/?stage=Prospecting").json()["count"] == 30
    assert api_a.get("/api/dcl/views/opportunity/?is_won=true").json()["count"] == 0


@pytest.mark.parametrize(
    "query,problem",
    [
        ("colour=red", "colour"),
        ("amount__gte=lots", "amount__gte"),
        ("ordering=-colour", "ordering"),
        ("close_date=31-31-2024", "close_date"),
        ("amount__between=1", "amount__between"),
    ],
)
def test_bad_filters_are_a_clear_400(api_a, tenant_a, query, problem):
    _materialize(tenant_a, n=3)
    response = api_a.get(f"/api/dcl/views/opportunity/?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_query" and problem in error["details"]


def test_a_view_that_is_not_materialized_is_404(api_a):
    response = api_a.get("/api/dcl/views/opportunity/")
    assert response.status_code == 404 and "error" in response.json()


def test_another_tenants_view_is_invisible_and_its_token_is_refused(api_a, api_b, tenant_b):
    _materialize(tenant_b, n=4)
    assert api_a.get("/api/dcl/views/opportunity/").status_code == 404
    assert api_a.get("/api/dcl/views/").json()["results"] == []
    assert api_b.get("/api/dcl/views/opportunity/").json()["count"] == 4
    api_a.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    response = api_a.get("/api/dcl/views/opportunity/", HTTP_HOST=host_of(tenant_b))
    assert response.status_code == 401


def test_lineage_graph_links_views_to_their_agents(api_a, tenant_a):
    _materialize(tenant_a, n=2)
    graph = api_a.get("/api/dcl/graph/").json()
    ids = {n["id"] for n in graph["nodes"]}
    assert {"view:opportunity", "agent:revops", "canonical:opportunity.amount"} <= ids
    assert {"source": "view:opportunity", "target": "agent:revops", "kind": "feeds"} in graph["edges"]
    assert {"source": "canonical:opportunity.amount", "target": "view:opportunity", "kind": "column_of"} in graph[
        "edges"
    ]


def test_a_rematerialized_view_is_served_fresh_not_from_the_page_cache(api_a, tenant_a):
    _materialize(tenant_a, n=3)
    assert api_a.get("/api/dcl/views/opportunity/").json()["count"] == 3
    connection.set_tenant(tenant_a)
    conn = Connection.objects.get(name="SF")
    publish(tenant_a, conn.pk, batches_for(tenant_a, conn.pk, opportunity_records(2, start=100)))
    views_materialize(tenant=tenant_a)
    connection.set_schema_to_public()
    assert api_a.get("/api/dcl/views/opportunity/").json()["count"] == 5
