"""The engine without a database: conventions, values, one-to-one, unmapped over wrong, entity inference."""

import pytest

from aam.mapping import map_source


def col(name, type_="string", samples=()):
    return {"name": name, "type": type_, "samples": list(samples)}


def by_field(result):
    return {m.source_field: m for m in result.mappings}


ACCOUNT_EXPORT = [
    col("AccountId", samples=["0015500000Xyy06AAB", "001q000000wW9BeAAK"]),
    col("Company_Name", samples=["Rick Thomas Company", "Blue Test"]),
    col("Web Site", samples=["www.rickthomasco.com", "https://bluetest.io"]),
    col("numberOfEmployees", "integer", [120, 250]),
    col("BillingCity", samples=["San Francisco", "Chicago"]),
    col("ShippingCity", samples=["Oakland", "Chicago"]),
    col("telephone1", samples=["(415) 555-0134", "+1 312 555 0199"]),
    col("telephone2", samples=["(415) 555-0135", "+1 312 555 0100"]),
    col("IsDeleted", "boolean", [False, True]),
    col("Rating", samples=["Hot", "Cold"]),
    col("TickerSymbol", samples=["RTCO", "BLUT"]),
    col("_fivetran_synced", "datetime", ["2024-03-05T10:00:00Z"]),
    col("CreatedDate", "datetime", ["2019-04-04T18:36:06.000+0000"]),
]


def test_a_crm_export_in_mixed_conventions_maps_with_high_confidence():
    result = map_source(columns=ACCOUNT_EXPORT, object_name="accounts_export", use_llm=False, use_memory=False)
    m = by_field(result)
    assert result.entity == "account"
    assert result.entity_confidence > 0.9
    expected = {
        "AccountId": "id",
        "Company_Name": "name",
        "Web Site": "website",
        "numberOfEmployees": "employee_count",
        "BillingCity": "city",
        "telephone1": "phone",
        "CreatedDate": "created_at",
    }
    for source, canonical in expected.items():
        assert m[source].canonical_field == canonical, m[source]
        assert m[source].decision == "auto"
        assert m[source].method == "heuristic"


def test_each_canonical_field_is_used_at_most_once_and_the_primary_variant_wins():
    result = map_source(columns=ACCOUNT_EXPORT, object_name="accounts_export", use_llm=False, use_memory=False)
    m = by_field(result)
    mapped = [p.canonical_field for p in result.mappings if p.canonical_field]
    assert len(mapped) == len(set(mapped))
    assert m["BillingCity"].canonical_field == "city" and m["ShippingCity"].canonical_field is None
    assert m["telephone1"].canonical_field == "phone" and m["telephone2"].canonical_field is None


@pytest.mark.parametrize("use_memory", [False, True])
def test_fields_without_a_true_counterpart_are_left_unmapped_rather_than_mapped_wrongly(use_memory):
    columns = [
        col("Id", samples=["006q000000HddohAAB", "006q000000HK8jdAAD"]),
        col("Amount", "number", [24120000.0, 200000.0]),
        col("ExpectedRevenue", "number", [2412000.0, 0.0]),
        col("weighted_value", "number", [9000, 0]),
        col("hs_forecast_amount", "number", ["9600", "11250"]),
        col("ConvertedAmount", "number", [100.0, 200.0]),
        col("TotalOpportunityQuantity", "number", [12.0, 1.0]),
        col("IsDeleted", "boolean", [False, True]),
        col("LastActivityDate", "date", ["2024-01-29", "2023-12-12"]),
        col("LastModifiedDate", "datetime", ["2024-02-01T09:30:00.000+0000"]),
        col("StageName", samples=["Closed Won", "Prospecting"]),
        col("CloseDate", "date", ["2018-12-19", "2018-11-21"]),
        col("FiscalYear", "integer", [2018, 2019]),
        col("_airbyte_extracted_at", "datetime", ["2024-03-05T10:00:00Z"]),
    ]
    result = map_source(
        columns=columns, object_name="Opportunity", source_kind="salesforce", use_llm=False, use_memory=use_memory
    )
    m = by_field(result)
    assert result.entity == "opportunity"
    assert m["Amount"].canonical_field == "amount"
    for name in (
        "ExpectedRevenue",
        "weighted_value",
        "hs_forecast_amount",
        "ConvertedAmount",
        "TotalOpportunityQuantity",
        "IsDeleted",
        "LastActivityDate",
        "FiscalYear",
        "_airbyte_extracted_at",
    ):
        assert m[name].canonical_field is None, m[name]
        assert m[name].decision in ("auto", "unmapped")
    assert m["LastModifiedDate"].canonical_field == "updated_at"


def test_a_confidently_unmapped_field_is_an_automatic_decision_with_no_canonical_field():
    result = map_source(columns=ACCOUNT_EXPORT, object_name="accounts_export", use_llm=False, use_memory=False)
    m = by_field(result)
    assert m["IsDeleted"].decision == "auto" and m["IsDeleted"].canonical_field is None
    assert m["Rating"].canonical_field is None


def test_values_alone_suggest_a_field_for_an_opaque_name_but_only_for_review():
    columns = [
        col("contact_ref", samples=["C-1", "C-2"]),
        col("first_name", samples=["Ana", "Li"]),
        col("last_name", samples=["Souza", "Wu"]),
        col("reach_me_at", samples=["ana@example.com", "li@example.org", "x@y.io"]),
    ]
    result = map_source(columns=columns, object_name="people", use_llm=False, use_memory=False)
    m = by_field(result)
    assert result.entity == "contact"
    assert m["reach_me_at"].canonical_field == "email"
    assert m["reach_me_at"].decision == "review"


@pytest.mark.parametrize(
    "object_name, columns, entity",
    [
        (
            None,
            [col("first_name", samples=["Ana"]), col("last_name", samples=["Souza"]), col("email", samples=["a@b.co"])],
            "contact",
        ),
        (
            "export_2024",
            [
                col("Id", samples=["006q000000HddohAAB", "006q000000HK8jdAAD"]),
                col("Name", samples=["Deal"]),
                col("Owner", samples=["0051G00000600MlQAI"]),
            ],
            "opportunity",
        ),
        ("companies", [col("name", samples=["Acme"]), col("city", samples=["Paris"])], "account"),
        (
            "bill",
            [
                col("line_item_unblended_cost", "number", [0.1]),
                col("product_region_code", samples=["us-east-1"]),
                col("line_item_usage_start_date", "datetime", ["2024-01-01T00:00:00Z"]),
            ],
            "cost",
        ),
        (
            "inventory",
            [
                col("instanceId", samples=["i-0b22a22eec53b9321"]),
                col("instanceType", samples=["t3.medium"]),
                col("state", samples=["running"]),
            ],
            "cloud_resource",
        ),
    ],
)
def test_the_entity_is_inferred_from_object_name_field_set_and_record_keys(object_name, columns, entity):
    result = map_source(columns=columns, object_name=object_name, use_llm=False, use_memory=False)
    assert result.entity == entity
    assert 0.0 < result.entity_confidence <= 1.0


def test_an_entity_hint_is_respected():
    columns = [col("name", samples=["Acme"]), col("city", samples=["Paris"])]
    result = map_source(columns=columns, object_name="companies", entity_hint="contact", use_llm=False)
    assert result.entity == "contact"
    assert result.entity_confidence == 1.0
    assert by_field(result)["city"].canonical_field == "city"


def test_a_table_that_fits_no_entity_maps_nothing():
    columns = [col("zzq", samples=["k1"]), col("wibble", "integer", [1, 2])]
    result = map_source(columns=columns, object_name="misc", use_llm=False, use_memory=False)
    assert result.entity is None
    assert all(m.canonical_field is None and m.decision == "unmapped" for m in result.mappings)


def test_odd_input_is_handled_and_duplicate_names_are_not_mapped_twice():
    columns = [
        col("email", samples=[None, "", {"nested": True}, float("nan"), "x" * 5000]),
        col("email", samples=["a@b.co"]),
        {"name": "First Name"},
        "Last Name",
        {"name": "phone", "type": "not-a-type", "samples": "555-0100"},
    ]
    result = map_source(columns=columns, object_name="contacts", use_llm=False)
    names = [m.source_field for m in result.mappings]
    assert names.count("email") == 2
    duplicate = [m for m in result.mappings if m.source_field == "email"][1]
    assert duplicate.canonical_field is None and "duplicate" in duplicate.explanation
    with pytest.raises(ValueError):
        map_source(columns=[{"name": ""}], use_llm=False)


def test_confidences_stay_in_unit_range_and_decisions_follow_the_threshold(settings):
    settings.AAM_AUTO_APPLY_THRESHOLD = 0.999
    result = map_source(columns=ACCOUNT_EXPORT, object_name="accounts_export", use_llm=False, use_memory=False)
    for m in result.mappings:
        assert 0.0 <= m.confidence <= 1.0
        assert m.decision in ("auto", "review", "unmapped")
        assert m.method in ("memory", "heuristic", "llm", "none")
    proposed = [m for m in result.mappings if m.canonical_field is not None]
    assert proposed and all(m.decision == "review" for m in proposed)  # nothing reaches 0.999
    settings.AAM_AUTO_APPLY_THRESHOLD = 0.85
    relaxed = map_source(columns=ACCOUNT_EXPORT, object_name="accounts_export", use_llm=False, use_memory=False)
    assert sum(m.decision == "auto" for m in relaxed.mappings) > 5


def test_the_seed_memory_knows_vendor_conventions_heuristics_cannot_guess():
    columns = [
        col("opportunityid", samples=["4bb4d1e6-2f1c-e511-80d3-3863bb347ba8"]),
        col("name", samples=["Will be ordering soon"]),
        col("statecode", "integer", [0, 1, 2]),
        col("stepname", samples=["1-Qualify", "2-Develop"]),
        col("estimatedvalue", "number", [85000.0]),
    ]
    with_memory = by_field(
        map_source(columns=columns, object_name="opportunity", source_kind="dynamics", use_llm=False)
    )
    assert with_memory["statecode"].canonical_field == "is_won"
    assert with_memory["statecode"].method == "memory"
    assert with_memory["stepname"].canonical_field == "stage"
    without = by_field(
        map_source(columns=columns, object_name="opportunity", source_kind="dynamics", use_llm=False, use_memory=False)
    )
    assert without["statecode"].canonical_field is None
    assert without["statecode"].decision == "unmapped"  # coded values: not sure enough to decide alone


def test_the_primary_key_of_a_discovered_object_maps_to_id():
    columns = [col("ref_no", samples=["A-1", "A-2"]), col("company", samples=["Acme"]), col("city", samples=["Oslo"])]
    result = map_source(columns=columns, object_name="clients", primary_key="ref_no", use_llm=False)
    assert by_field(result)["ref_no"].canonical_field == "id"
