"""Driver.value_metadata: the vendors' own value lists, fetched from the local servers that speak their APIs."""

from __future__ import annotations

import logging

import pytest

from connectors.kinds.dynamics.testserver import OPTION_SETS, FakeDynamics, make_opportunities
from connectors.kinds.hubspot.testserver import DEFAULT_PIPELINES, FakeHubSpot, make_companies, make_deals
from connectors.kinds.salesforce.testserver import (
    PICKLISTS,
    STAGES,
    FakeSalesforce,
    make_accounts,
)
from connectors.kinds.salesforce.testserver import (
    make_opportunities as sf_opportunities,
)
from connectors.registry import build_driver

HOSTILE = ["<script>alert('x')</script>", "x" * 10_240, "nul\x00byte", "Ünïcødé ✓ \u202e"]


def driver(kind, fake):
    return build_driver(kind, fake.config(), fake.secrets(), sleep=lambda s: None)


def values(entry: dict) -> list:
    return [e["value"] for e in entry.get("options") or entry.get("stages")]


def labels(entry: dict) -> list:
    return [e["label"] for e in entry.get("options") or entry.get("stages")]


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "connectors.metadata" and r.levelno >= logging.WARNING]


# --- the base ------------------------------------------------------------------------------------


def test_kinds_without_value_lists_answer_an_empty_dict(csv_dir):
    (csv_dir / "deals.csv").write_text("id,stage\n1,Closed Won\n")
    drv = build_driver("filesource", {"folder": str(csv_dir)}, {})
    assert drv.value_metadata("deals") == {}


# --- Salesforce ----------------------------------------------------------------------------------


@pytest.fixture
def sf():
    objects = {"Account": make_accounts(10, picklists=True), "Opportunity": sf_opportunities(20)}
    with FakeSalesforce(objects=objects) as fake:
        yield fake


def test_salesforce_gives_describe_picklists_and_the_org_opportunity_stages(sf):
    drv = driver("salesforce", sf)
    account = drv.value_metadata("Account")
    assert set(account) == {"Industry", "Type"}  # only picklists; Name, BillingCity... have no value list
    assert len(account["Industry"]["options"]) == 32
    assert {"value": "Food & Beverage", "label": "Food & Beverage"} in account["Industry"]["options"]

    opportunity = drv.value_metadata("Opportunity")
    assert set(opportunity) == {"StageName", "Type", "LeadSource", "ForecastCategoryName", "CurrencyIsoCode"}
    stages = {s["value"]: s for s in opportunity["StageName"]["stages"]}
    assert list(stages) == [api for api, *_ in STAGES]
    assert stages["Closed Won"] == {
        "value": "Closed Won",
        "label": "Closed Won",
        "probability": 1.0,
        "is_closed": True,
        "is_won": True,
        "forecast_category": "Closed",
    }
    assert stages["Closed Lost"]["is_won"] is False and stages["Closed Lost"]["forecast_category"] == "Omitted"
    assert stages["Proposal/Price Quote"]["probability"] == 0.75 and stages["Prospecting"]["is_closed"] is False
    # active values first, the retired currency after them (old records may still hold it)
    assert values(opportunity["CurrencyIsoCode"]) == ["USD", "EUR", "GBP", "DEM"]
    assert opportunity["CurrencyIsoCode"]["options"][1] == {"value": "EUR", "label": "Euro"}
    assert values(opportunity["ForecastCategoryName"]) == [
        v for v, _, _ in PICKLISTS["Opportunity"]["ForecastCategoryName"]
    ]


def test_salesforce_metadata_agrees_with_the_records_it_describes(sf):
    drv = driver("salesforce", sf)
    records = [r for page in drv.read("Opportunity") for r in page.records]
    metadata = drv.value_metadata("Opportunity")
    for column, entry in metadata.items():
        seen = {r[column] for r in records if r.get(column) is not None}
        assert seen and seen <= set(values(entry)), column


def test_salesforce_fetches_once_per_object_and_reuses_the_describe_of_the_read(sf):
    drv = driver("salesforce", sf)
    list(drv.read("Opportunity"))
    before = len(sf.requests)
    drv.value_metadata("Opportunity")
    drv.value_metadata("Opportunity")
    drv.value_metadata("Account")
    new = [r.path for r in sf.requests[before:]]
    assert sum("/describe" in p for p in new) == 1  # Account's; Opportunity's describe came with the read
    assert sum(p.endswith("/query") for p in new) == 1  # OpportunityStage, once
    assert any("OpportunityStage" in r.query.get("q", "") for r in sf.requests[before:])


def test_salesforce_without_access_to_opportunity_stages_keeps_the_stage_picklist(sf, caplog):
    sf.fail(403, path="/query", body=[{"errorCode": "INSUFFICIENT_ACCESS", "message": "no access"}])
    opportunity = driver("salesforce", sf).value_metadata("Opportunity")
    assert "stages" not in opportunity["StageName"]
    assert values(opportunity["StageName"]) == [api for api, *_ in STAGES]
    assert any("OpportunityStage unavailable" in m for m in warnings(caplog))


def test_salesforce_failing_describe_gives_an_empty_dict_a_log_line_and_no_second_attempt(sf, caplog, settings):
    settings.CONNECTORS_HTTP_MAX_RETRIES = 1
    sf.fail(503, path="/describe", times=10)
    drv = driver("salesforce", sf)
    assert drv.value_metadata("Account") == {}
    asked = sf.count("/describe")
    assert drv.value_metadata("Account") == {}
    assert sf.count("/describe") == asked == 2  # one attempt and one retry, then remembered for the sync
    [message] = warnings(caplog)
    assert "value metadata of 'Account' unavailable" in message and "503" in message


def test_salesforce_bad_credentials_do_not_raise_from_value_metadata(sf, caplog):
    drv = build_driver("salesforce", sf.config(), sf.secrets(client_secret="wrong"), sleep=lambda s: None)
    assert drv.value_metadata("Account") == {}
    assert "PermanentError" in warnings(caplog)[0]


def test_salesforce_hostile_labels_come_back_as_data(sf):
    sf.picklists = {"Account": {"Industry": [(f"v{i}", label, True) for i, label in enumerate(HOSTILE)]}}
    sf.stages[0]["MasterLabel"] = HOSTILE[0]
    drv = driver("salesforce", sf)
    assert labels(drv.value_metadata("Account")["Industry"]) == HOSTILE
    assert drv.value_metadata("Opportunity")["StageName"]["stages"][0]["label"] == HOSTILE[0]


# --- HubSpot -------------------------------------------------------------------------------------


RENEWALS = {
    "id": "12345678",
    "label": "Renewals",
    "stages": [
        ("96581472", "Renewal identified", "0.3", "false"),
        ("96581474", "Renewed", "1.0", "true"),
        ("96581475", "Churned", "0.0", "true"),
        ("96581476", "Parked", "0.5", "true"),  # closed, neither won nor lost by its probability
    ],
}


@pytest.fixture
def hs():
    with FakeHubSpot(
        objects={"deals": make_deals(14), "companies": make_companies(3)}, pipelines=[*DEFAULT_PIPELINES, RENEWALS]
    ) as fake:
        yield fake


def test_hubspot_gives_every_pipeline_stage_with_probability_and_closed_flags(hs):
    deals = driver("hubspot", hs).value_metadata("deals")
    stages = {s["value"]: s for s in deals["dealstage"]["stages"]}
    assert list(stages)[:7] == [
        "appointmentscheduled",
        "qualifiedtobuy",
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
        "closedwon",
        "closedlost",
    ]
    assert stages["appointmentscheduled"] == {
        "value": "appointmentscheduled",
        "label": "Appointment Scheduled",
        "probability": 0.2,
        "is_closed": False,
        "is_won": False,
    }
    assert stages["closedwon"]["is_won"] is True and stages["closedlost"]["is_won"] is False
    assert stages["96581474"]["label"] == "Renewed" and stages["96581474"]["is_won"] is True
    assert stages["96581476"]["is_closed"] is True and "is_won" not in stages["96581476"]
    assert deals["pipeline"]["options"] == [
        {"value": "default", "label": "Sales Pipeline"},
        {"value": "12345678", "label": "Renewals"},
    ]
    assert deals["dealtype"]["options"][0] == {"value": "newbusiness", "label": "New Business"}
    assert "hubspot_owner_id" not in deals  # references to other objects are ids, not a value list


def test_hubspot_company_properties_give_their_options_and_records_carry_those_labels(hs):
    hs.objects["companies"][0] |= {"industry": "COMPUTER_SOFTWARE", "type": "PROSPECT"}
    drv = driver("hubspot", hs)
    companies = drv.value_metadata("companies")
    assert {"value": "COMPUTER_SOFTWARE", "label": "Computer Software"} in companies["industry"]["options"]
    assert {"value": "PROSPECT", "label": "Prospect"} in companies["type"]["options"]
    deals = [r for page in drv.read("deals") for r in page.records]
    stage_labels = set(labels(drv.value_metadata("deals")["dealstage"]))
    assert {d["dealstage"] for d in deals} <= stage_labels  # records carry the labels the metadata names
    assert hs.count("/crm/v3/pipelines/deals") == 1


def test_hubspot_failing_pipelines_api_keeps_the_stage_options_and_logs(hs, caplog, settings):
    settings.CONNECTORS_HTTP_MAX_RETRIES = 0
    hs.fail(500, path="/crm/v3/pipelines/deals")
    deals = driver("hubspot", hs).value_metadata("deals")
    assert "stages" not in deals["dealstage"]
    assert {"value": "closedwon", "label": "Closed Won"} in deals["dealstage"]["options"]
    assert any("pipelines are unavailable" in m for m in warnings(caplog))


def test_hubspot_failing_properties_api_gives_an_empty_dict(hs, caplog):
    hs.fail(403, path="/crm/v3/properties/deals")
    assert driver("hubspot", hs).value_metadata("deals") == {}
    assert "permission denied" in warnings(caplog)[0]


def test_hubspot_hostile_labels_come_back_as_data():
    pipeline = {"id": "p", "label": HOSTILE[0], "stages": [(f"s{i}", t, "0.5", "false") for i, t in enumerate(HOSTILE)]}
    with FakeHubSpot(objects={"deals": make_deals(2)}, pipelines=[pipeline]) as fake:
        deals = driver("hubspot", fake).value_metadata("deals")
    assert labels(deals["dealstage"]) == HOSTILE
    assert deals["pipeline"]["options"] == [{"value": "p", "label": HOSTILE[0]}]


# --- Dynamics 365 --------------------------------------------------------------------------------


@pytest.fixture
def dyn():
    with FakeDynamics(opportunities=make_opportunities(12)) as fake:
        yield fake


def test_dynamics_gives_option_sets_with_integer_values_and_user_labels(dyn):
    drv = driver("dynamics", dyn)
    account = drv.value_metadata("account")
    assert set(account) == {"industrycode", "statecode"}  # the option-set attributes the entity has
    industry = {o["value"]: o["label"] for o in account["industrycode"]["options"]}
    assert len(industry) == 33 and industry[9] == "Design, Direction and Creative Management"
    assert industry[33] == "Wholesale"
    opportunity = drv.value_metadata("opportunity")
    assert opportunity["statecode"]["options"] == [
        {"value": 0, "label": "Open"},
        {"value": 1, "label": "Won"},
        {"value": 2, "label": "Lost"},
    ]
    assert values(opportunity["statuscode"]) == [1, 2, 3, 4, 5]
    assert labels(opportunity["salesstage"]) == ["Qualify", "Develop", "Propose", "Close"]
    assert {"value": 100000003, "label": "Committed"} in opportunity["msdyn_forecastcategory"]["options"]
    casts = {r.path.rsplit(".", 1)[-1] for r in dyn.requests if "AttributeMetadata" in r.path}
    assert casts == {
        "PicklistAttributeMetadata",
        "MultiSelectPicklistAttributeMetadata",
        "StateAttributeMetadata",
        "StatusAttributeMetadata",
    }
    assert all(r.query.get("$expand") == "OptionSet" for r in dyn.requests if "AttributeMetadata" in r.path)


def test_dynamics_records_carry_the_labels_of_the_options_the_metadata_lists(dyn):
    drv = driver("dynamics", dyn)
    records = [r for page in drv.read("opportunity") for r in page.records]
    metadata = drv.value_metadata("opportunity")
    for column in ("statecode", "statuscode", "salesstage", "msdyn_forecastcategory"):
        assert {r[column] for r in records} <= set(labels(metadata[column])), column
    assert {r["statecode"] for r in records} == {"Open", "Won", "Lost"}


def test_dynamics_one_failing_metadata_type_leaves_the_others(dyn, caplog, settings):
    settings.CONNECTORS_HTTP_MAX_RETRIES = 0
    dyn.fail(500, path="StatusAttributeMetadata")
    opportunity = driver("dynamics", dyn).value_metadata("opportunity")
    assert "statuscode" not in opportunity and "statecode" in opportunity and "salesstage" in opportunity
    assert any("StatusAttributeMetadata of 'opportunity' unavailable" in m for m in warnings(caplog))


def test_dynamics_unknown_entity_gives_an_empty_dict(dyn):
    assert driver("dynamics", dyn).value_metadata("invoice") == {}


def test_dynamics_hostile_labels_come_back_as_data():
    option_sets = {"account": {"industrycode": [(i + 1, label, None) for i, label in enumerate(HOSTILE)]}}
    with FakeDynamics(option_sets=option_sets) as fake:
        industry = driver("dynamics", fake).value_metadata("account")["industrycode"]
    assert labels(industry) == HOSTILE and values(industry) == [1, 2, 3, 4]


def test_dynamics_option_sets_of_the_fake_are_the_ones_records_use():
    used = {r["industrycode"] for r in FakeDynamics().entities["account"]["records"]}
    assert used <= {v for v, _, _ in OPTION_SETS["account"]["industrycode"]}
