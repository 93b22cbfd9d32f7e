"""General behaviours found with the blind cases (tests/aam/cases_blind): each test names a class of
fault, not a case. A wrong automatic decision is the worst outcome, so most assert what is NOT auto."""

from aam.mapping import map_source


def col(name, type_="string", samples=()):
    return {"name": name, "type": type_, "samples": list(samples)}


def mapped(columns, object_name, **kwargs):
    result = map_source(columns=columns, object_name=object_name, use_llm=False, use_memory=False, **kwargs)
    return result, {m.source_field: m for m in result.mappings}


def test_two_nearly_equal_readings_of_a_column_are_left_to_a_human():
    # a bare `account_id` in a cost table is the billing account for some vendors, the sub account for others
    _, m = mapped(
        [
            col("account_id", samples=["e6a1c2d3-4b5f-4a6e-9c8d-7b6a5f4e3d2c"] * 3),
            col("usage_quantity", "number", [2.4, 0.75, 6.0]),
            col(
                "usage_start_time", "datetime", ["2024-03-01T00:00:00Z", "2024-03-01T01:00:00Z", "2024-03-02T00:00:00Z"]
            ),
        ],
        "billing_usage",
    )
    assert m["account_id"].canonical_field in ("billing_account_id", "sub_account_id")
    assert m["account_id"].decision == "review"


def test_a_column_that_narrowly_won_a_field_yields_it_to_a_column_that_needs_it():
    _, m = mapped(
        [
            col("account_id", samples=["e6a1c2d3-4b5f-4a6e-9c8d-7b6a5f4e3d2c"] * 3),
            col("workspace_id", samples=["6051921418418893", "1204893310576621", "6051921418418893"]),
            col("usage_quantity", "number", [2.4, 0.75, 6.0]),
        ],
        "billing_usage",
    )
    assert m["workspace_id"].canonical_field == "sub_account_id"
    assert m["account_id"].canonical_field == "billing_account_id"
    assert m["account_id"].decision != "auto" and m["workspace_id"].decision != "auto"


def test_a_link_column_holding_display_names_is_not_mapped_to_the_link():
    result, m = mapped(
        [
            col("Name", samples=["Acme Corp - 50 seats", "Globex expansion", "Initech renewal"]),
            col("Deal Stage", samples=["Proposal", "Negotiation", "Won"]),
            col("Deal Value", "integer", [24000, 86000, 12500]),
            col("Accounts", samples=["Acme Corp", "Globex", "Initech"]),
            col("Owner", samples=["Noa Levi", "Daniel Kim", "Noa Levi"]),
        ],
        "Deals",
    )
    assert result.entity == "opportunity"
    assert m["Accounts"].canonical_field is None
    assert m["Owner"].canonical_field is None


def test_the_same_id_in_every_sampled_record_cannot_confirm_a_per_record_link():
    _, m = mapped(
        [
            col("id", samples=["oppo_1a", "oppo_2b", "oppo_3c"]),
            col("organization_id", samples=["orga_bwwWG475zqWi"] * 3),
            col("value", "integer", [500000, 1250000, 99900]),
            col("date_created", "datetime", ["2023-11-06T22:41:45+00:00"] * 3),
        ],
        "opportunity",
    )
    assert m["organization_id"].decision != "auto"


def test_a_human_header_joining_two_names_of_the_same_field_is_that_field():
    _, m = mapped(
        [
            col("Company", samples=["Northwind Traders", "Contoso Pharma", "Fabrikam Foods"]),
            col("Industry / Sector", samples=["Wholesale", "Pharmaceuticals", "Food & Beverage"]),
            col("Notes / Comments", samples=["Renewal due Q3", "Wants SSO", "Lost to competitor"]),
            col("St./Prov.", samples=["WA", "ON", "MA"]),
            col("# of Staff", samples=["1,200", "85", "~40"]),
        ],
        "Customer Master",
    )
    assert m["Industry / Sector"].canonical_field == "industry"
    assert m["Notes / Comments"].canonical_field == "description"
    assert m["St./Prov."].canonical_field == "state"
    assert m["# of Staff"].canonical_field == "employee_count"
    assert m["Company"].canonical_field == "name" and m["Company"].decision == "review"


def test_a_plain_email_of_an_account_is_not_its_owners_email():
    _, m = mapped(
        [
            col("id", samples=["cus_PzQ1x8", "cus_Nffr9e", "cus_Q4bM7y"]),
            col("Name", samples=["Acme Robotics Inc.", "Northwind Traders", "Helix Biotech Ltd"]),
            col("Email", samples=["billing@acme.com", "ap@northwind.io", "finance@helix.co.uk"]),
            col("Phone", "integer", ["+14155550142", "+12065550100", "+441223555019"]),
        ],
        "customers",
    )
    assert m["Email"].canonical_field is None
    assert m["Phone"].canonical_field == "phone"


def test_a_known_word_with_prose_or_region_codes_behind_it_is_not_declared_absent():
    # `Memo` is a known word no synonym lists; `region.slug` holds codes no region list knows
    _, deal = mapped(
        [
            col("Title", samples=["Acme - ERP expansion", "Globex - WMS rollout", "Initech renewal"]),
            col("Projected Total", samples=["48,500.00", "126,000.00", "22,800.00"]),
            col("Memo", samples=["Phase 2 of the 2023 project", "Needs SOC2 report", "Budget frozen"]),
        ],
        "Opportunity Search Results",
        entity_hint="opportunity",
    )
    assert deal["Memo"].canonical_field == "description"
    _, droplet = mapped(
        [
            col("id", "integer", [3164444, 3164450, 402118877]),
            col("name", samples=["web-prod-01", "web-prod-02", "db-staging"]),
            col("status", samples=["active", "active", "off"]),
            col("region.slug", samples=["nyc3", "nyc3", "fra1"]),
        ],
        "droplets",
        entity_hint="cloud_resource",
    )
    assert droplet["region.slug"].canonical_field == "region_id"
    assert droplet["region.slug"].decision == "review"


def test_money_values_keep_an_open_money_field_from_being_declared_absent_unless_the_name_says_why():
    _, m = mapped(
        [
            col("Service", samples=["Amazon EC2", "Amazon S3", "AWS Lambda"]),
            col("Region", samples=["us-east-1", "eu-west-1", "us-east-1"]),
            col("Fee ($)", samples=["$12.50", "$300.00", "$48.25"]),
            col("Budget ($)", samples=["$13,000", "$8,000", "$500"]),
        ],
        "cloud spend",
        entity_hint="cost",
    )
    assert not (m["Fee ($)"].decision == "auto" and m["Fee ($)"].canonical_field is None)
    assert m["Budget ($)"].canonical_field is None and m["Budget ($)"].decision == "auto"


def test_a_table_with_no_recognizable_key_proposes_its_first_distinct_id_column_for_review_only():
    _, m = mapped(
        [
            col("Badge ID", samples=["EXPO24-0193", "EXPO24-0457", "EXPO24-1120"]),
            col("First", samples=["Priya", "Tom", "Ana"]),
            col("Last", samples=["Raman", "Becker", "Souza"]),
            col("E-mail", samples=["p@helix.co.uk", "t@medisys.de", "a@vitalab.com.br"]),
            col("Company ID", samples=["C-1", "C-2", "C-3"]),
        ],
        "badge scans",
        entity_hint="contact",
    )
    assert m["Badge ID"].canonical_field == "id" and m["Badge ID"].decision == "review"
    assert m["Company ID"].canonical_field == "account_id"
    _, links_only = mapped(
        [col("Owner ID", samples=["U1", "U2", "U3"]), col("First", samples=["Ana", "Bo", "Cy"])],
        "people",
        entity_hint="contact",
    )
    assert links_only["Owner ID"].canonical_field != "id"


def test_a_won_lost_open_status_stays_the_won_flag_while_a_stage_list_status_is_the_stage():
    _, outcome = mapped(
        [col("title", samples=["Acme", "Globex", "Initech"]), col("status", samples=["open", "won", "lost"])],
        "deals",
    )
    assert outcome["status"].canonical_field == "is_won" and outcome["status"].decision == "auto"
    _, stages = mapped(
        [
            col("Title", samples=["Acme", "Globex", "Initech"]),
            col("Status", samples=["Proposal", "In Discussion", "Closed Won", "Closed Lost"]),
        ],
        "opportunities",
    )
    assert stages["Status"].canonical_field == "stage" and stages["Status"].decision == "review"
