import pytest

from aam.mapping.normalize import parse_name


@pytest.mark.parametrize(
    "raw, tokens",
    [
        # camelCase, PascalCase, snake_case, spaces, kebab
        ("billingPostalCode", ("billing", "postal", "code")),
        ("BillingPostalCode", ("billing", "postal", "code")),
        ("billing_postal_code", ("billing", "postal", "code")),
        ("Billing Postal Code", ("billing", "postal", "code")),
        ("billing-postal-code", ("billing", "postal", "code")),
        ("IPAddress", ("ip", "address")),
        # run-together lowercase names (Dynamics / HubSpot style)
        ("numberofemployees", ("number", "employee")),
        ("address1_stateorprovince", ("address", "state", "province")),
        ("hs_lastmodifieddate", ("last", "updated", "date")),
        ("estimatedclosedate", ("estimated", "close", "date")),
        ("websiteurl", ("website", "url")),
        # abbreviations, plurals, equivalents, typos
        ("deal_amt", ("deal", "amount")),
        ("qty_ordered", ("quantity", "ordered")),
        ("Cust Addr", ("customer", "address")),
        ("Telephones", ("phone",)),
        ("adress_city", ("address", "city")),
        ("E-mail", ("email",)),
        # human headers
        ("# of Employees", ("number", "employee")),
        ("Annual Rev ($)", ("annual", "revenue")),
        ("St./Prov.", ("province",)),
        ("workspace_id", ("workspace", "id")),
        ("region.slug", ("region", "code")),
        # other European languages, accents and ligatures folded
        ("Straße", ("street",)),
        ("Téléphone", ("phone",)),
        ("Vorname", ("first", "name")),
        ("PLZ", ("postal", "code")),
        ("Código Postal", ("code", "postal")),
        ("Achternaam", ("last", "name")),
    ],
)
def test_names_in_every_convention_become_the_same_canonical_tokens(raw, tokens):
    assert parse_name(raw).tokens == tokens


@pytest.mark.parametrize(
    "raw, tokens, context, flag",
    [
        ("Annual_Revenue__c", ("annual", "revenue"), (), "custom"),
        ("acme__Region__c", ("region",), (), "custom"),
        ("_parentaccountid_value", ("parent", "account", "id"), (), "lookup"),
        ("lineItem/UsageAccountId", ("usage", "account", "id"), ("line", "item"), None),
        ("pricing/unit", ("unit",), ("pricing",), None),
        ("product/region", ("region",), ("product",), None),
        ("resourceTags/user:CostCenter", ("cost", "center"), ("resource", "tag", "user"), "tag"),
        ("configuration.state.name", ("state", "name"), ("configuration",), "nested"),
        ("configuration.instanceType", ("instance", "type"), ("configuration",), "nested"),
        ("hs_deal_stage_probability", ("deal", "stage", "probability"), (), None),
        ("hubspot_owner_id", ("owner", "id"), (), None),
        ("msdyn_forecastcategory", ("forecast", "category"), (), None),
        ("Annual Rev ($)", ("annual", "revenue"), (), "money"),
    ],
)
def test_vendor_decorations_are_understood(raw, tokens, context, flag):
    parts = parse_name(raw)
    assert parts.tokens == tokens
    assert parts.context == context
    if flag:
        assert flag in parts.flags


def test_trailing_numbers_mark_primary_and_secondary_variants():
    assert "primary" in parse_name("telephone1").flags
    assert "secondary" in parse_name("telephone2").flags
    assert "secondary" in parse_name("address2_city").flags
    assert parse_name("address1_line1").key != parse_name("address1_line2").key


def test_short_codes_glued_to_numbers_stay_one_word():
    assert parse_name("ec2InstanceId").tokens == ("ec2", "instance", "id")


@pytest.mark.parametrize(
    "raw",
    [
        "IsDeleted",
        "_fivetran_synced",
        "_airbyte_extracted_at",
        "_sdc_batched_at",
        "versionnumber",
        "SystemModstamp__x",
        "_createdby_value",
        "@odata.etag",
    ],
)
def test_internal_system_fields_are_flagged(raw):
    if raw == "SystemModstamp__x":  # a custom suffix alone does not make a system field
        assert "system" not in parse_name(raw).flags
    else:
        assert "system" in parse_name(raw).flags


def test_a_count_column_is_recognised():
    assert "count" in parse_name("num_associated_contacts").flags
    assert "count" in parse_name("NumberOfEmployees").flags
