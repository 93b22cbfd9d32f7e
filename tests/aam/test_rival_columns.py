"""Two columns of one object that fit the same canonical field.

Where memory knows the columns (a vendor's convention, a tenant's decision), it has already decided
between them: its preferred column is applied with the confidence memory gives it, and the others are
its equivalent alternatives, not a doubt. Where the engine only guesses, the tie stays with a human.
"""

import pytest

from aam.mapping import engine, map_source
from aam.mapping.memory import MemoryIndex, _entry, parse_seed, seed_index


def col(name, type_="string", samples=()):
    return {"name": name, "type": type_, "samples": list(samples)}


def mapped(columns, *, source, obj, **kwargs):
    result = map_source(columns=columns, object_name=obj, source_kind=source, use_llm=False, **kwargs)
    return {m.source_field: m for m in result.mappings}


STAMPS = ["2024-02-01T09:30:00.000+0000", "2024-03-11T17:02:41.000+0000", "2023-12-30T08:00:00.000+0000"]

SALESFORCE_ACCOUNT = [
    col("Id", samples=["0015500000Xyy06AAB", "001q000000wW9BeAAK"]),
    col("Name", samples=["Rick Thomas Company", "Blue Test"]),
    col("Website", samples=["https://www.rickthomasco.com", "https://bluetest.io"]),
    col("Industry", samples=["Retail", "Banking"]),
    col("CreatedDate", "datetime", STAMPS),
    col("LastModifiedDate", "datetime", STAMPS),
    col("SystemModstamp", "datetime", STAMPS),
    col("IsDeleted", "boolean", [False, True]),
]


def assert_alternative(proposal, of: str, field: str):
    assert proposal.canonical_field is None, proposal
    assert (proposal.decision, proposal.method) == ("auto", "memory"), proposal
    assert proposal.confidence >= 0.9
    assert f"{proposal.source_field} is an alternative of {of} for {field}" in proposal.explanation


@pytest.mark.parametrize("reverse", [False, True], ids=["export-order", "reversed"])
def test_salesforce_last_modified_date_is_applied_and_system_modstamp_is_its_alternative(reverse):
    columns = list(reversed(SALESFORCE_ACCOUNT)) if reverse else SALESFORCE_ACCOUNT
    m = mapped(columns, source="salesforce", obj="Account")
    winner = m["LastModifiedDate"]
    assert (winner.canonical_field, winner.decision) == ("updated_at", "auto"), winner
    assert winner.confidence >= 0.95
    assert "memory prefers it to SystemModstamp for updated_at" in winner.explanation
    assert_alternative(m["SystemModstamp"], of="LastModifiedDate", field="updated_at")


def test_hubspot_contacts_last_modified_date_is_applied_once():
    columns = [
        col("hs_object_id", "integer", [51, 101, 151]),
        col("firstname", samples=["Maria", "Brian"]),
        col("lastname", samples=["Johnson", "Halligan"]),
        col("email", samples=["maria@example.com", "bh@hubspot.com"]),
        col("createdate", "datetime", ["2024-01-03T10:00:00.000Z"]),
        col("lastmodifieddate", "datetime", ["2024-10-27T16:45:00.507Z", "2024-10-31T16:45:00.206Z"]),
        col("hs_lastmodifieddate", "datetime", ["2024-10-27T16:45:00.507Z", "2024-10-31T16:45:00.206Z"]),
    ]
    m = mapped(columns, source="hubspot", obj="contacts")
    winner = m["lastmodifieddate"]
    assert (winner.canonical_field, winner.decision) == ("updated_at", "auto") and winner.confidence >= 0.95
    assert_alternative(m["hs_lastmodifieddate"], of="lastmodifieddate", field="updated_at")


def test_a_name_similarity_guess_never_takes_a_field_from_the_column_the_seed_knows():
    # `domain` comes first and its name and values fit website as well as `website` does (both reach
    # the 1.0 ceiling), so column order used to decide; the seed knows `website`, not `domain`.
    columns = [
        col("hs_object_id", "integer", [5001, 5002]),
        col("name", samples=["Granite Media", "Woodgrove Capital"]),
        col("domain", samples=["granitemedia.co", "woodgrovecapital.com", "wingtip.com"]),
        col("website", samples=["https://www.granitemedia.co", "https://www.woodgrovecapital.com"]),
        col("industry", samples=["MEDIA", "FINANCIAL_SERVICES"]),
        col("city", samples=["Austin", "New York"]),
        col("hs_lastmodifieddate", "datetime", ["2024-10-27T16:45:00.507Z"]),
    ]
    m = mapped(columns, source="hubspot", obj="companies")
    website = m["website"]
    assert (website.canonical_field, website.decision) == ("website", "auto") and website.confidence >= 0.95
    domain = m["domain"]
    assert domain.canonical_field is None and domain.decision != "auto"
    assert "website goes to website (hubspot convention)" in domain.explanation


def test_aws_config_state_name_is_the_status_and_the_bare_state_a_guess_against_it():
    columns = [
        col("resourceId", samples=["i-0a1b2c3d4e5f60718", "vol-0f1e2d3c4b5a69788"]),
        col("resourceName", samples=["web-1", "data-vol"]),
        col("resourceType", samples=["AWS::EC2::Instance", "AWS::EC2::Volume"]),
        col("awsRegion", samples=["us-east-1", "eu-west-1"]),
        col("availabilityZone", samples=["us-east-1a", "eu-west-1b"]),
        col("resourceCreationTime", "datetime", ["2024-01-05T10:00:00Z"]),
        col("configurationItemStatus", samples=["OK", "ResourceDiscovered"]),
        col("configuration.instanceType", samples=["t3.medium", "m5.large"]),
        col("configuration.state.name", samples=["running", "stopped", "terminated"]),
        col("configuration.state", samples=["in-use", "available", "active"]),
    ]
    m = mapped(columns, source="aws_inventory", obj="resources")
    status = m["configuration.state.name"]
    assert (status.canonical_field, status.decision) == ("status", "auto") and status.confidence >= 0.9
    bare = m["configuration.state"]
    assert bare.canonical_field is None and bare.decision != "auto"
    assert "status goes to configuration.state.name" in bare.explanation


def test_dynamics_stage_is_the_pipeline_phase_and_the_stage_codes_are_its_alternatives():
    columns = [
        col("opportunityid", samples=["8a1f0c6e-2b7d-4c1e-9a53-1f0e6b2d7c11", "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9"]),
        col("name", samples=["50 Airpot XL Coffee Makers", "Renewal 2025"]),
        col("estimatedvalue", "number", [12000.0, 50000.0]),
        col("salesstage", "integer", ["0", "3", "2", "1"]),
        col("stepname", samples=["1-Qualify", "4-Close", "3-Propose", "2-Develop"]),
        col("salesstagecode", "integer", ["1", "1", "1"]),
        col("modifiedon", "datetime", ["2024-08-18T16:42:44Z"]),
    ]
    m = mapped(columns, source="dynamics", obj="opportunity")
    stage = m["stepname"]
    assert (stage.canonical_field, stage.decision) == ("stage", "auto") and stage.confidence >= 0.9
    assert_alternative(m["salesstage"], of="stepname", field="stage")
    assert_alternative(m["salesstagecode"], of="stepname", field="stage")


def test_the_seed_lists_a_vendors_own_field_before_its_alternatives():
    ranks = {
        (e.source_kind, e.object_name, e.field_name): e.rank
        for e in seed_index().entries
        if e.canonical_field in ("updated_at", "stage")
    }
    assert ranks[("salesforce", "Account", "LastModifiedDate")] == 0
    assert ranks[("salesforce", "Account", "SystemModstamp")] == 1
    assert ranks[("hubspot", "contacts", "lastmodifieddate")] == 0
    assert ranks[("hubspot", "contacts", "hs_lastmodifieddate")] == 1
    assert [ranks[("dynamics", "opportunity", f)] for f in ("stepname", "salesstage", "salesstagecode")] == [0, 1, 2]


TICKETS = [
    col("ticket_ref", samples=["T-1001", "T-1002", "T-1003"]),
    col("subject", samples=["Login fails", "Invoice wrong"]),
    col("updated_on", "datetime", STAMPS),
    col("last_touched", "datetime", STAMPS),
]


@pytest.mark.parametrize(("preferred", "alternative"), [("updated_on", "last_touched"), ("last_touched", "updated_on")])
def test_the_order_a_seed_lists_two_columns_of_one_field_in_is_the_preference(preferred, alternative):
    fields = {"ticket_ref": "id", "subject": "name", preferred: "updated_at", alternative: "updated_at"}
    tickets = {"entity": "account", "fields": fields}
    seed = MemoryIndex(parse_seed({"sources": {"acme_desk": {"objects": {"tickets": tickets}}}}))
    m = mapped(TICKETS, source="acme_desk", obj="tickets", entity_hint="account", seed=seed)
    assert (m[preferred].canonical_field, m[preferred].decision) == ("updated_at", "auto")
    assert_alternative(m[alternative], of=preferred, field="updated_at")


@pytest.mark.parametrize("use_memory", [False, True])
def test_two_columns_the_engine_only_guesses_at_stay_a_question_for_a_human(use_memory):
    # names the seed knows, but from other vendors: another vendor's memory does not settle this one's tie
    columns = [
        col("Account ID", samples=["AC-1001", "AC-1002", "AC-1003"]),
        col("Account Name", samples=["Acme", "Globex"]),
        col("modifiedon", "datetime", STAMPS),
        col("lastmodifieddate", "datetime", STAMPS),
    ]
    m = mapped(columns, source="acme_erp", obj="accounts", use_memory=use_memory)
    proposals = [m["modifiedon"], m["lastmodifieddate"]]
    winners = [p for p in proposals if p.canonical_field == "updated_at"]
    assert len(winners) == 1 and winners[0].decision == "review", proposals
    loser = next(p for p in proposals if p is not winners[0])
    assert loser.canonical_field is None and loser.decision == "unmapped"
    assert "alternative" not in loser.explanation


def tenant_memory(monkeypatch, *entries):
    index = MemoryIndex([_entry(*e, origin="tenant") for e in entries])
    monkeypatch.setattr(engine, "tenant_index", lambda tenant: index)


def test_a_tenants_decision_is_preferred_to_the_vendors_order(monkeypatch):
    tenant_memory(monkeypatch, ("salesforce", "Account", "account", "SystemModstamp", "updated_at"))
    m = mapped(SALESFORCE_ACCOUNT, source="salesforce", obj="Account", tenant=object())
    assert (m["SystemModstamp"].canonical_field, m["SystemModstamp"].decision) == ("updated_at", "auto")
    alternative = m["LastModifiedDate"]
    assert_alternative(alternative, of="SystemModstamp", field="updated_at")
    assert "SystemModstamp is this tenant's decision" in alternative.explanation


def test_two_columns_a_tenant_approved_for_one_field_stay_a_question_for_a_human(monkeypatch):
    tenant_memory(
        monkeypatch,
        ("erp", "accounts", "account", "changed_at", "updated_at"),
        ("erp", "accounts", "account", "touched_at", "updated_at"),
    )
    columns = [
        col("Account ID", samples=["AC-1001", "AC-1002", "AC-1003"]),
        col("Account Name", samples=["Acme", "Globex"]),
        col("changed_at", "datetime", STAMPS),
        col("touched_at", "datetime", STAMPS),
    ]
    m = mapped(columns, source="erp", obj="accounts", tenant=object())
    winners = [p for p in m.values() if p.canonical_field == "updated_at"]
    assert len(winners) == 1 and winners[0].decision == "review", m
