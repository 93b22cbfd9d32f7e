"""Views, record, lineage, operations and home pages over a really synced and materialized source."""

from __future__ import annotations

import io

import pytest
from django.db import connection
from django.test import Client

from tests.conftest import PASSWORD, host_of

# The marker makes pytest-django create the test database; the data must be committed (the DCL
# consumer runs in a thread with its own connection), so the per-test transaction is switched off
# below and `committed_db` cleans up instead.
pytestmark = pytest.mark.django_db


@pytest.fixture
def _django_db_helper(django_db_setup, django_db_blocker):
    yield

CSV = "\n".join([
    "Id,Name,Website,Industry,BillingCountry,AnnualRevenue,NumberOfEmployees",
    "001A,Acme Corporation,https://acme.example,Manufacturing,USA,12500000,420",
    "001B,Globex Ltd,https://globex.example,Technology,United Kingdom,8800000,130",
    "001C,Initech,https://initech.example,Software,USA,2300000,45",
    "001D,Umbrella Group,https://umbrella.example,Pharmaceuticals,USA,99000000,5100",
    "001E,Stark Industries,https://stark.example,Aerospace,USA,450000000,12000",
]).encode() + b"\n"


@pytest.fixture
def synced(committed_tenants):
    """alpha with one CSV connection synced through the real pipeline (committed: the consumer is a thread)."""
    from connectors.services import connection_create, connection_file_upload
    from dcl.pipeline import pipeline_run

    tenant = committed_tenants[0]
    connection.set_tenant(tenant)
    try:
        conn = connection_create(name="CRM export", kind="filesource", config={"source_system": "salesforce"})
        connection_file_upload(connection=conn, filename="Account.csv", content=io.BytesIO(CSV), size=len(CSV))
        pipeline_run(tenant=tenant, connection=conn, trigger="test")
    finally:
        connection.set_schema_to_public()
    client = Client(HTTP_HOST=host_of(tenant))
    connection.set_tenant(tenant)
    assert client.login(username="admin", password=PASSWORD)
    connection.set_schema_to_public()
    return client, conn


def test_views_page_lists_the_materialized_view_with_its_row_count(synced):
    web, _ = synced
    html = web.get("/dcl/views/").content.decode()
    assert 'data-view="account"' in html
    card = html[html.index('data-view="account"'):]
    assert '<div class="stat">5</div>' in card[:400]


def test_a_view_pages_filters_and_sorts(synced):
    web, _ = synced
    html = web.get("/dcl/views/account/").content.decode()
    assert html.count('<td class="cell-clip"><a href="/dcl/views/account/') == 5
    assert "of 5" in html
    only = web.get("/dcl/views/account/?field=name&op=icontains&value=globex").content.decode()
    assert "Globex Ltd" in only and "Acme Corporation" not in only
    desc = web.get("/dcl/views/account/?sort=-name").content.decode()
    assert desc.index("Umbrella Group") < desc.index("Stark Industries") < desc.index("Acme Corporation")
    paged = web.get("/dcl/views/account/?sort=name&size=25&page=2").content.decode()
    assert "This view is empty" in paged or "No rows" in paged


def test_a_filter_of_the_wrong_type_explains_itself(synced):
    web, _ = synced
    response = web.get("/dcl/views/account/?field=annual_revenue&op=gte&value=lots")
    assert response.status_code == 400
    assert "annual_revenue" in response.content.decode() and 'class="notice amber"' in response.content.decode()


@pytest.mark.parametrize("value", ["1e400", "99999999999999999999999999999", "-1e30"])
def test_a_filter_value_out_of_range_explains_itself(synced, value):
    web, _ = synced
    response = web.get(f"/dcl/views/account/?field=annual_revenue&op=lte&value={value}")
    assert response.status_code == 400
    html = response.content.decode()
    assert "out of range" in html and 'class="notice amber"' in html


def test_a_merged_record_shows_its_source_records(synced):
    web, conn = synced
    html = web.get("/dcl/views/account/?field=name&value=Initech").content.decode()
    link = html[html.index('href="/dcl/views/account/') + 6:]
    link = link[: link.index('"')]
    record = web.get(link)
    assert record.status_code == 200
    body = record.content.decode()
    assert "Initech" in body and "CRM export" in body and "001C" in body


def test_lineage_page_draws_the_graph_from_the_graph_api(synced):
    web, _ = synced
    assert 'data-graph-url="/api/dcl/graph/"' in web.get("/dcl/lineage/").content.decode()
    graph = web.get("/api/dcl/graph/").json()
    assert any(n["id"] == "view:account" for n in graph["nodes"])


def test_operations_shows_the_connections_stream(synced):
    web, conn = synced
    html = web.get("/dcl/operations/").content.decode()
    row = html[html.index(f'data-ops-row="{conn.pk}"'):]
    row = row[: row.index("</tr>")]
    assert "all acknowledged and trimmed" in row and "last added" in row
    assert "badge-green" in row  # no lag: the consumer read every batch


def test_home_counts_the_unified_records(synced):
    web, _ = synced
    html = web.get("/").content.decode()
    assert '<div class="stat" id="records-total">5</div>' in html
