"""/api/dcl/views/<entity>/ filters with values at and beyond the edges of what a view can hold: a 400
`invalid_query` for what no row can hold (never a 500), a match for every value the API itself returns;
`__ne` keeps the rows where the field is empty; a decimal comma is refused instead of read as thousands."""

import pytest
from django.db import connection

from connectors.models import Connection
from dcl.services import views_materialize
from tests.pipeline.support import batches_for, opportunity_records, publish

pytestmark = pytest.mark.django_db

ACCOUNT_MAPPING = {
    "Id": "id",
    "Name": "name",
    "NumberOfEmployees": "employee_count",
    "AnnualRevenue": "annual_revenue",
    "CreatedDate": "created_at",
}
ACCOUNTS = [
    {
        "Id": "001A",
        "Name": "Huge",
        "NumberOfEmployees": "9000000000000000000",
        "AnnualRevenue": "1e20",
        "CreatedDate": "9999-12-31T23:59:59Z",
    },
    {
        "Id": "001B",
        "Name": "Small",
        "NumberOfEmployees": "12",
        "AnnualRevenue": "1,500",
        "CreatedDate": "2024-01-02T03:04:05Z",
    },
    {
        "Id": "001C",
        "Name": "Fraction",
        "NumberOfEmployees": "",
        "AnnualRevenue": "1.5",
        "CreatedDate": "0001-01-01T00:00:00Z",
    },
]


def _materialize(tenant):
    connection.set_tenant(tenant)
    conn = Connection.objects.create(name="SF", kind="salesforce")
    publish(
        tenant,
        conn.pk,
        batches_for(tenant, conn.pk, ACCOUNTS, entity="account", mapping=ACCOUNT_MAPPING, source_object="Account"),
    )
    opportunities = opportunity_records(6)
    for i, record in enumerate(opportunities):
        record["StageName"] = ("Prospecting", "Closed Won", "")[i % 3]  # two without a stage
    publish(tenant, conn.pk, batches_for(tenant, conn.pk, opportunities))
    views_materialize(tenant=tenant)
    connection.set_schema_to_public()


@pytest.fixture
def views(api_a, tenant_a):
    _materialize(tenant_a)
    return api_a


@pytest.mark.parametrize(
    "query,field",
    [
        ("employee_count=99999999999999999999", "employee_count"),
        ("employee_count__gt=9223372036854775808", "employee_count__gt"),
        ("source_count__gt=99999999999999999999", "source_count__gt"),
        ("annual_revenue__gt=1e38", "annual_revenue__gt"),
        ("annual_revenue__lt=1e28", "annual_revenue__lt"),
        ("annual_revenue__in=1,1e99999999999999999999", "annual_revenue__in"),
        ("created_at=9999999999999999", "created_at"),
        ("created_at__lt=253402300800000", "created_at__lt"),
        ("created_at__gt=9999-12-31T23:00:00-05:00", "created_at__gt"),
        ("created_at=123456789%C2%B2", "created_at"),
    ],
)
def test_a_filter_value_beyond_what_the_field_holds_is_a_400_not_a_500(views, query, field):
    response = views.get(f"/api/dcl/views/account/?{query}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_query" and field in error["details"]


def test_a_date_filter_beyond_year_9999_is_a_400(views):
    response = views.get("/api/dcl/views/opportunity/?close_date__lt=99999999999999999")
    assert response.status_code == 400
    assert "out of range" in response.json()["error"]["details"]["close_date__lt"]


def test_large_values_inside_the_range_are_answered(views):
    assert views.get("/api/dcl/views/account/?employee_count=1e18").json()["count"] == 0
    assert views.get("/api/dcl/views/account/?employee_count__gt=1e18").json()["count"] == 1
    assert views.get("/api/dcl/views/account/?annual_revenue__lt=9e27").json()["count"] == 3
    assert views.get("/api/dcl/views/account/?created_at__lt=253402300799000").json()["count"] == 2


def test_a_filter_on_a_value_the_api_returns_matches_its_row(views):
    rows = {r["id"]: r for r in views.get("/api/dcl/views/account/").json()["results"]}
    huge = rows["001A"]
    assert huge["annual_revenue"] == "100000000000000000000"
    for field in ("annual_revenue", "employee_count", "created_at", "unified_id"):
        page = views.get("/api/dcl/views/account/", {field: huge[field]}).json()
        assert [r["id"] for r in page["results"]] == ["001A"], field
    page = views.get("/api/dcl/views/account/", {"created_at": rows["001C"]["created_at"]}).json()
    assert [r["id"] for r in page["results"]] == ["001C"]


def test_ne_keeps_the_rows_where_the_field_is_empty(views):
    counts = {
        q: views.get(f"/api/dcl/views/opportunity/?{q}").json()["count"]
        for q in ("stage=Prospecting", "stage__ne=Prospecting", "stage__isnull=true")
    }
    assert counts == {"stage=Prospecting": 2, "stage__ne=Prospecting": 4, "stage__isnull=true": 2}
    assert views.get("/api/dcl/views/account/?employee_count__ne=12").json()["count"] == 2


def test_a_decimal_comma_in_a_filter_is_a_400_and_thousands_separators_still_read(views):
    response = views.get("/api/dcl/views/account/?annual_revenue=1,5")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_query" and "use a dot as decimal separator" in error["details"]["annual_revenue"]
    assert [r["id"] for r in views.get("/api/dcl/views/account/?annual_revenue=1,500").json()["results"]] == ["001B"]
    assert [r["id"] for r in views.get("/api/dcl/views/account/?annual_revenue=1.5").json()["results"]] == ["001C"]
    assert views.get("/api/dcl/views/account/?annual_revenue__gte=1,500.25").json()["count"] == 1


@pytest.mark.parametrize(
    "entity,query,count",
    [
        ("account", "source_count__in=1,3000000000", 3),
        ("account", "source_count__gt=3000000000", 0),
        ("account", "employee_count__in=12,9000000000000000000", 2),
        ("account", "annual_revenue__ne=1e20", 2),
        ("account", "created_at__ne=2024-01-02T03:04:05Z", 2),
        ("account", "created_at__in=2024-01-02T03:04:05Z,0001-01-01", 2),
        ("opportunity", "close_date__ne=2026-03-31", 0),
        ("opportunity", "is_won__ne=true", 6),
        ("opportunity", "amount__ne=10.5", 5),
    ],
)
def test_operators_answer_across_integer_widths_and_kinds(views, entity, query, count):
    response = views.get(f"/api/dcl/views/{entity}/?{query}")
    assert response.status_code == 200, response.content
    assert response.json()["count"] == count
