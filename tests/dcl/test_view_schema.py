"""The OpenAPI description of /api/dcl/views/<entity>/ rows is built from the ontology when the schema is
built: every canonical field with its JSON type, the enum of every enum value set, the derived fields;
rows the API returns conform to it and a value outside the vocabulary does not."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from django.db import connection
from drf_spectacular.generators import SchemaGenerator

import dcl.api.schema as view_schema
from aam.ontology import ONTOLOGY_PATH, get_ontology, parse_ontology
from connectors.models import Connection
from dcl.services import views_materialize
from tests.pipeline.support import batches_for, publish

ROWS_PATH = "/api/dcl/views/{entity}/"


def _build() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture(scope="module")
def spec():
    return _build()


def _resolve(spec: dict, node: dict) -> dict:
    ref = node.get("$ref")
    if ref is None:
        return node
    return spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def _enum_of(spec: dict, prop: dict) -> list | None:
    """The enum a property allows (drf-spectacular moves enums into components: oneOf [Enum, NullEnum])."""
    if "enum" in prop:
        return prop["enum"]
    for option in prop.get("oneOf", []):
        values = _resolve(spec, option).get("enum")
        if values and values != [None]:
            return values
    return None


def _json_schema(node):
    """OpenAPI 3.0 → JSON Schema: `nullable: true` becomes a "null" type."""
    if isinstance(node, list):
        return [_json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") and "type" in node:
        out["type"] = [node["type"], "null"]
    return out


def _row_validator(spec: dict, entity: str) -> jsonschema.Draft202012Validator:
    root = {
        "$ref": f"#/components/schemas/{view_schema.row_component_name(entity)}",
        "components": _json_schema(spec["components"]),
    }
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_the_path_names_the_ontology_entities_and_a_page_holds_their_rows(spec):
    operation = spec["paths"][ROWS_PATH]["get"]
    entity = next(p for p in operation["parameters"] if p["name"] == "entity")
    assert entity["schema"]["enum"] == get_ontology().entity_names()
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"count", "next", "previous", "results"} <= set(page["properties"])
    refs = [r["$ref"].rsplit("/", 1)[-1] for r in page["properties"]["results"]["items"]["anyOf"]]
    assert refs == [view_schema.row_component_name(e) for e in get_ontology().entity_names()]


def test_every_canonical_field_is_documented_with_its_type_and_every_enum_value_set_with_its_values(spec):
    schemas = spec["components"]["schemas"]
    checked_enums = 0
    for name, entity in get_ontology().entities.items():
        props = schemas[view_schema.row_component_name(name)]["properties"]
        assert set(entity.view_field_names()) <= set(props)
        for f in (*entity.fields.values(), *entity.derived.values()):
            prop = props[f.name]
            assert prop.get("nullable") is True, f.qualified_name
            if f.value_set is None:
                assert _enum_of(spec, prop) is None, f.qualified_name
                continue
            assert prop["x-value-set"] == {"key": f.qualified_name, "kind": f.value_set.kind}
            assert f"{f.name}_source" in props
            if f.value_set.is_enum:
                assert _enum_of(spec, prop) == list(f.value_set.values), f.qualified_name
                checked_enums += 1
            else:
                assert _enum_of(spec, prop) is None, f.qualified_name
    assert checked_enums == sum(vs.is_enum for vs in get_ontology().value_sets.values())
    opportunity = schemas["OpportunityViewRow"]["properties"]
    assert opportunity["amount"]["type"] == "string" and opportunity["amount"]["format"] == "decimal"
    assert opportunity["close_date"]["format"] == "date"
    assert opportunity["is_won"]["type"] == "boolean"
    assert "Derived from `stage`" in opportunity["stage_category"]["description"]


def test_the_enums_are_read_from_the_ontology_when_the_schema_is_built(monkeypatch):
    data = json.loads(ONTOLOGY_PATH.read_text())
    changed = copy.deepcopy(data)
    changed["value_sets"]["opportunity.forecast_category"]["values"].append("upside")
    changed["value_sets"]["account.industry"]["kind"] = "iso3166-1"  # no longer an enum
    changed["value_sets"]["account.industry"]["values"] = []
    monkeypatch.setattr(view_schema, "get_ontology", lambda: parse_ontology(changed))
    spec = _build()
    props = spec["components"]["schemas"]["OpportunityViewRow"]["properties"]
    assert _enum_of(spec, props["forecast_category"])[-1] == "upside"
    industry = spec["components"]["schemas"]["AccountViewRow"]["properties"]["industry"]
    assert _enum_of(spec, industry) is None and industry["x-value-set"]["kind"] == "iso3166-1"


def test_a_value_outside_the_vocabulary_does_not_conform_and_null_does(spec):
    validator = _row_validator(spec, "opportunity")
    validator.validate({"unified_id": "opp_1", "forecast_category": "commit", "stage_category": None})
    validator.validate({"unified_id": "opp_1", "forecast_category": None, "forecast_category_source": "100000001"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"unified_id": "opp_1", "forecast_category": "100000001"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"unified_id": "opp_1", "status": "Closed Won"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"unified_id": "opp_1", "amount": 10.5})  # money is an exact decimal string
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"forecast_category": "commit"})  # every row has its unified id


OPPORTUNITY_MAPPING = {
    "Id": "id",
    "Name": "name",
    "StageName": "stage",
    "Amount": "amount",
    "CurrencyIsoCode": "currency",
    "Probability": "probability",
    "CloseDate": "close_date",
    "IsWon": "is_won",
    "ForecastCategory": "forecast_category",
    "Type": "opportunity_type",
    "LastModifiedDate": "updated_at",
}
OPPORTUNITIES = [
    {
        "Id": f"006{i:015d}",
        "Name": f"Deal {i}",
        "StageName": "Closed Won" if i % 2 else "Prospecting",
        "Amount": f"{i * 100}.25",
        "CurrencyIsoCode": "EUR",
        "Probability": "0.5",
        "CloseDate": "2026-03-31",
        "IsWon": "true" if i % 2 else "false",
        "ForecastCategory": "closed" if i % 2 else "",
        "Type": "new_business",
        "LastModifiedDate": "2026-01-02T03:04:05.000+0000",
    }
    for i in range(4)
]


@pytest.mark.django_db
def test_the_rows_the_api_returns_conform_to_their_entitys_row_schema(spec, api_a, tenant_a):
    connection.set_tenant(tenant_a)
    conn = Connection.objects.create(name="SF", kind="salesforce")
    publish(tenant_a, conn.pk, batches_for(tenant_a, conn.pk, OPPORTUNITIES, mapping=OPPORTUNITY_MAPPING))
    views_materialize(tenant=tenant_a)
    connection.set_schema_to_public()
    response = api_a.get("/api/dcl/views/opportunity/?page_size=10")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == len(OPPORTUNITIES)
    validator = _row_validator(spec, "opportunity")
    for row in rows:
        validator.validate(row)
    assert {r["amount"] for r in rows} == {"0.25", "100.25", "200.25", "300.25"}
