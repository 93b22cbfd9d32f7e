"""/api/aam/ontology/ and /api/aam/mappings/: content, filters, errors and tenant isolation."""

import pytest
from django.db import connection as db
from rest_framework.test import APIClient

from aam.ontology import get_ontology
from aam.services import mapping_decide, mapping_ensure
from connectors.models import Connection
from tests.conftest import host_of

from .conftest import make_connection

pytestmark = pytest.mark.django_db

SOURCE = {
    "name": "Account",
    "fields": [
        {"name": "Id", "type": "string", "samples": ["0015500000Xyy06AAB"]},
        {"name": "Name", "type": "string", "samples": ["Acme"]},
        {"name": "Domain Name", "type": "string", "samples": ["acme.com", "globex.com"]},
        {"name": "Rating", "type": "string", "samples": ["Hot"]},
    ],
}


def mapped_connection(tenant, name="Salesforce"):
    conn = make_connection(tenant, name=name)
    mapping_ensure(connection=conn, source_object=SOURCE)
    db.set_schema_to_public()
    return conn


def connection_of_b_unknown_to_a(tenant_a, tenant_b):
    """A connection of tenant B whose id does not exist in tenant A (ids repeat across schemas)."""
    while True:
        conn = mapped_connection(tenant_b, name=f"B {Connection.__name__} {id(object())}")
        db.set_tenant(tenant_a)
        clash = Connection.objects.filter(pk=conn.pk).exists()
        db.set_schema_to_public()
        if not clash:
            return conn


def test_the_ontology_endpoint_serves_every_entity_with_typed_fields(api_a):
    response = api_a.get("/api/aam/ontology/")
    assert response.status_code == 200
    body = response.json()
    assert set(body["entities"]) == {"account", "contact", "opportunity", "cloud_resource", "cost", "quota"}
    amount = next(f for f in body["entities"]["opportunity"]["fields"] if f["name"] == "amount")
    assert amount["type"] == "decimal" and amount["description"] and "deal value" in amount["synonyms"]


def test_the_ontology_endpoint_serves_the_value_sets_and_the_derived_fields(api_a):
    body = api_a.get("/api/aam/ontology/").json()
    ontology = get_ontology()
    assert set(body["value_sets"]) == set(ontology.value_sets)
    for key, vs in ontology.value_sets.items():
        assert body["value_sets"][key] == {"kind": vs.kind, "values": list(vs.values), "description": vs.description}
    assert body["value_sets"]["opportunity.stage_category"]["kind"] == "enum"
    assert body["value_sets"]["opportunity.probability"]["values"] == [0, 1]
    opportunity = body["entities"]["opportunity"]
    forecast = next(f for f in opportunity["fields"] if f["name"] == "forecast_category")
    assert forecast["value_set"] == body["value_sets"]["opportunity.forecast_category"]
    assert "value_set" not in next(f for f in opportunity["fields"] if f["name"] == "name")
    derived = {f["name"]: f for f in opportunity["derived"]}
    assert set(derived) == {"status", "stage_category"}
    assert derived["status"]["derived_from"] == "stage"
    assert derived["status"]["value_set"]["values"] == ["open", "won", "lost"]


def test_endpoints_refuse_anonymous_requests_with_a_json_error(tenant_a):
    client = APIClient(HTTP_HOST=host_of(tenant_a))
    for url in ("/api/aam/ontology/", "/api/aam/mappings/"):
        response = client.get(url)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


def test_the_mappings_list_shows_the_current_mapping_and_its_history(api_a, tenant_a):
    conn = mapped_connection(tenant_a)
    db.set_tenant(tenant_a)
    mapping_decide(connection=conn, source_object="Account", source_field="Domain Name", approve=True)
    db.set_schema_to_public()
    response = api_a.get("/api/aam/mappings/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    item = body["results"][0]
    assert item["connection"] == conn.pk and item["source_object"] == "Account" and item["entity"] == "account"
    assert item["version"] == 2 and item["latest_version"] == 2
    assert item["active"] == {"Id": "id", "Name": "name", "Domain Name": "website"}
    assert [v["version"] for v in item["versions"]] == [2, 1]
    fields = {f["source_field"]: f for f in item["fields"]}
    assert fields["Domain Name"]["method"] == "human" and fields["Rating"]["canonical_field"] is None
    assert "secrets" not in str(body)


def test_the_list_filters_by_connection_and_object(api_a, tenant_a):
    first = mapped_connection(tenant_a, "one")
    mapped_connection(tenant_a, "two")
    assert api_a.get("/api/aam/mappings/").json()["count"] == 2
    only = api_a.get(f"/api/aam/mappings/?connection={first.pk}").json()
    assert [r["connection"] for r in only["results"]] == [first.pk]
    assert api_a.get("/api/aam/mappings/?source_object=Nope").json()["count"] == 0


@pytest.mark.parametrize("query", ["connection=abc", "connection=-3", "connection=99999999999999999999999"])
def test_a_bad_filter_is_a_clear_400(api_a, query):
    response = api_a.get(f"/api/aam/mappings/?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and "connection" in error["details"]


def test_the_detail_serves_any_version_and_404s_on_unknown_ones(api_a, tenant_a):
    conn = mapped_connection(tenant_a)
    db.set_tenant(tenant_a)
    mapping_decide(connection=conn, source_object="Account", source_field="Domain Name", approve=False)
    db.set_schema_to_public()
    latest = api_a.get(f"/api/aam/mappings/{conn.pk}/Account/").json()
    assert latest["version"] == 2 and "Domain Name" not in latest["active"] and latest["pending"] == {}
    first = api_a.get(f"/api/aam/mappings/{conn.pk}/Account/?version=1").json()
    assert first["version"] == 1 and first["pending"] == {"Domain Name": "website"}
    assert api_a.get(f"/api/aam/mappings/{conn.pk}/Account/?version=9").status_code == 404
    assert api_a.get(f"/api/aam/mappings/{conn.pk}/Nothing/").status_code == 404
    assert api_a.get(f"/api/aam/mappings/{conn.pk}/Account/?version=x").status_code == 400


def test_another_tenants_connection_is_not_found(api_a, tenant_a, tenant_b):
    other = connection_of_b_unknown_to_a(tenant_a, tenant_b)
    assert api_a.get(f"/api/aam/mappings/?connection={other.pk}").status_code == 404
    assert api_a.get(f"/api/aam/mappings/{other.pk}/Account/").status_code == 404
    assert api_a.get("/api/aam/mappings/").json()["count"] == 0


def test_a_token_of_one_tenant_is_refused_on_another_tenants_host(api_a, tenant_b):
    for url in ("/api/aam/ontology/", "/api/aam/mappings/"):
        response = api_a.get(url, HTTP_HOST=host_of(tenant_b))
        assert response.status_code == 401


def test_the_admin_lists_mappings_memory_and_review_items(web_a, tenant_a):
    mapped_connection(tenant_a)
    for model in ("fieldmapping", "mappingmemory", "reviewitem"):
        response = web_a.get(f"/admin/aam/{model}/")
        assert response.status_code == 200, model
    assert "Domain Name" in web_a.get("/admin/aam/reviewitem/").content.decode()
