import json

import pytest

from aam.ontology import FIELD_TYPES, OntologyError, get_ontology, load_ontology, parse_ontology

DESIGN = {
    "account": "id name website industry employee_count annual_revenue phone street city state postal_code country "
    "owner_id parent_account_id account_type description created_at updated_at",
    "contact": "id account_id first_name last_name email phone mobile_phone title department lead_source owner_id "
    "street city state postal_code country description created_at updated_at",
    "opportunity": "id account_id contact_id name stage amount currency probability close_date is_closed is_won "
    "opportunity_type lead_source owner_id forecast_category next_step pipeline description created_at "
    "updated_at",
    "cloud_resource": "id name provider_name sub_account_id service_name resource_type region_id availability_zone "
    "status instance_type owner tags created_at",
    "cost": "billing_account_id sub_account_id provider_name service_name service_category resource_id resource_name "
    "resource_type region_id availability_zone charge_period_start charge_period_end billing_period_start "
    "billing_period_end charge_category charge_description consumed_quantity consumed_unit pricing_quantity "
    "pricing_unit billed_cost effective_cost list_cost contracted_cost billing_currency sku_id tags",
}


def test_ontology_file_holds_exactly_the_entities_and_fields_of_the_design():
    ontology = get_ontology()
    assert set(ontology.entities) == set(DESIGN)
    for entity, names in DESIGN.items():
        assert ontology.entity(entity).field_names() == names.split()


def test_every_field_has_an_allowed_type_a_description_and_synonym_lists():
    for entity in get_ontology().entities.values():
        for f in entity.fields.values():
            assert f.type in FIELD_TYPES
            assert f.description
            assert isinstance(f.synonyms, tuple)


def test_money_and_time_fields_have_the_right_types():
    o = get_ontology()
    assert o.field("opportunity", "amount").type == "decimal"
    assert o.field("cost", "billed_cost").type == "decimal"
    assert o.field("account", "employee_count").type == "integer"
    assert o.field("opportunity", "close_date").type == "date"
    assert o.field("cost", "charge_period_start").type == "datetime"
    assert o.field("cost", "tags").type == "json"
    assert o.field("opportunity", "is_won").type == "boolean"


def test_the_ontology_is_loaded_once():
    assert get_ontology() is get_ontology()


def test_custom_fields_merge_into_a_new_ontology_and_leave_the_base_untouched():
    base = get_ontology()
    extended = base.with_custom_fields(
        [
            {
                "entity": "account",
                "name": "tier",
                "type": "string",
                "description": "Customer tier",
                "synonyms": ["tier", "customer tier"],
            }
        ]
    )
    assert extended.field("account", "tier").custom is True
    assert extended.field("account", "tier").synonyms == ("tier", "customer tier")
    assert not base.defines_field("account", "tier")
    assert extended.field("account", "name") == base.field("account", "name")


@pytest.mark.parametrize(
    "custom, message",
    [
        ({"entity": "account", "name": "name", "type": "string"}, "already exists"),
        ({"entity": "planet", "name": "tier", "type": "string"}, "unknown entity"),
        ({"entity": "account", "name": "Bad Name", "type": "string"}, "invalid field name"),
        ({"entity": "account", "name": "tier", "type": "text"}, "type"),
        ({"entity": "account", "name": "tier", "type": "string", "synonyms": "tier"}, "list"),
    ],
)
def test_an_invalid_custom_field_is_refused(custom, message):
    with pytest.raises(OntologyError, match=message):
        get_ontology().with_custom_fields([custom])


def test_a_malformed_ontology_document_is_refused(tmp_path):
    with pytest.raises(OntologyError):
        parse_ontology({"entities": {"account": {"fields": {"id": {"type": "uuid"}}}}})
    with pytest.raises(OntologyError):
        parse_ontology({"entities": {}})
    broken = tmp_path / "o.json"
    broken.write_text("{not json")
    with pytest.raises(OntologyError, match="cannot read"):
        load_ontology(broken)
    good = tmp_path / "ok.json"
    good.write_text(json.dumps({"entities": {"thing": {"fields": {"id": {"type": "string"}}}}}))
    assert load_ontology(good).field("thing", "id").type == "string"
