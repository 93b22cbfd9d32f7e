import json

import pytest

from aam.ontology import FIELD_TYPES, VALUE_SET_KINDS, OntologyError, get_ontology, load_ontology, parse_ontology

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
    "pricing_unit billed_cost effective_cost list_cost contracted_cost billing_currency sku_id tags "
    # FOCUS 1.2 (docs/adr/0030-finops-focus-commitments.md)
    "billing_account_name billing_account_type sub_account_name sub_account_type invoice_id invoice_issuer_name "
    "publisher_name region_name service_subcategory sku_meter sku_price_id sku_price_details list_unit_price "
    "contracted_unit_price pricing_category pricing_currency pricing_currency_contracted_unit_price "
    "pricing_currency_effective_cost pricing_currency_list_unit_price charge_class charge_frequency "
    "commitment_discount_id commitment_discount_name commitment_discount_category commitment_discount_type "
    "commitment_discount_status commitment_discount_quantity commitment_discount_unit capacity_reservation_id "
    "capacity_reservation_status",
    # issue #20: sales quotas per owner and period (ADR 0029)
    "quota": "id owner_id period_start period_end amount currency",
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


def _with_values(value_sets=None, derived=None) -> dict:
    """A small valid document with value sets and a derived field, to break one part at a time."""
    doc = {
        "entities": {
            "deal": {
                "fields": {
                    "id": {"type": "string"},
                    "stage": {"type": "string"},
                    "probability": {"type": "number"},
                    "currency": {"type": "string"},
                },
                "derived": derived if derived is not None else {
                    "status": {"type": "string", "derived_from": "stage"}
                },
            }
        },
        "value_sets": value_sets if value_sets is not None else {
            "deal.status": {"kind": "enum", "values": ["open", "won", "lost"], "description": "Outcome."},
            "deal.probability": {"kind": "number", "values": [0, 1]},
            "deal.currency": {"kind": "iso4217"},
        },
    }
    return doc


def test_value_sets_and_derived_fields_are_parsed_and_attached_to_their_fields():
    o = parse_ontology(_with_values())
    deal = o.entity("deal")
    assert o.value_set("deal", "status").values == ("open", "won", "lost")
    assert o.value_set("deal", "status").is_enum and not o.value_set("deal", "currency").is_enum
    assert o.value_set("deal", "stage") is None
    assert deal.derived["status"].derived_from == "stage"
    assert deal.derived["status"].value_set is o.value_sets["deal.status"]
    assert deal.field_names() == ["id", "stage", "probability", "currency"]  # derived fields are not mapped onto
    assert deal.view_field_names() == ["id", "stage", "probability", "currency", "status"]
    assert [f.name for f in deal.value_fields()] == ["probability", "currency", "status"]


def test_every_value_set_of_the_shipped_ontology_names_a_field_and_enums_list_their_values():
    o = get_ontology()
    assert o.value_sets
    for key, vs in o.value_sets.items():
        entity, _, name = key.partition(".")
        assert name in o.entity(entity).view_field_names(), key
        assert vs.kind in VALUE_SET_KINDS
        assert vs.description
        if vs.is_enum:
            assert vs.values and len(set(vs.values)) == len(vs.values), key
    for entity in o.entities.values():
        for f in entity.derived.values():
            assert f.derived_from in entity.fields, f.qualified_name


@pytest.mark.parametrize(
    "value_sets, message",
    [
        ({"deal.status": {"kind": "picklist", "values": ["open"]}}, "kind must be one of"),
        ({"deal.status": {"values": ["open"]}}, "kind must be one of"),
        ({"deal.status": "enum"}, "kind must be one of"),
        ({"deal.status": {"kind": "enum"}}, "an enum lists its values"),
        ({"deal.status": {"kind": "enum", "values": []}}, "an enum lists its values"),
        ({"deal.status": {"kind": "enum", "values": ["open", ""]}}, "an enum lists its values"),
        ({"deal.status": {"kind": "enum", "values": ["open", 1]}}, "an enum lists its values"),
        ({"deal.status": {"kind": "enum", "values": ["open", "open"]}}, "repeated values"),
        ({"deal.status": {"kind": "enum", "values": "open"}}, "values must be a list"),
        ({"deal.probability": {"kind": "number", "values": [0]}}, "two bounds"),
        ({"deal.probability": {"kind": "number", "values": [0, "1"]}}, "two bounds"),
        ({"deal.probability": {"kind": "number", "values": [False, True]}}, "two bounds"),
        ({"deal.colour": {"kind": "enum", "values": ["red"]}}, "names no field"),
        ({"planet.status": {"kind": "enum", "values": ["open"]}}, "names no field"),
        ({"status": {"kind": "enum", "values": ["open"]}}, "names no field"),
    ],
)
def test_an_invalid_value_set_is_refused(value_sets, message):
    with pytest.raises(OntologyError, match=message):
        parse_ontology(_with_values(value_sets=value_sets))


def test_value_sets_must_be_an_object_keyed_entity_field():
    doc = _with_values()
    doc["value_sets"] = [{"kind": "enum", "values": ["open"]}]
    with pytest.raises(OntologyError, match="keyed entity.field"):
        parse_ontology(doc)


@pytest.mark.parametrize(
    "derived, message",
    [
        ({"status": {"type": "string", "derived_from": "phase"}}, "derived_from must name a field"),
        ({"status": {"type": "string"}}, "derived_from must name a field"),
        ({"status": {"type": "string", "derived_from": "status"}}, "derived_from must name a field"),
        ({"stage": {"type": "string", "derived_from": "id"}}, "both a field and a derived field"),
        ({"status": {"type": "enum", "derived_from": "stage"}}, "type"),
    ],
)
def test_an_invalid_derived_field_is_refused(derived, message):
    with pytest.raises(OntologyError, match=message):
        parse_ontology(_with_values(derived=derived))


def test_derived_must_be_an_object():
    with pytest.raises(OntologyError, match="'derived' must be an object"):
        parse_ontology(_with_values(derived=["status"]))
