"""The tenant's mapping memory: approvals are applied next time, rejections are never proposed again,
and one tenant's decisions never reach another tenant."""

import pytest
from django.db import connection as db

from aam.mapping import map_source
from aam.mapping.memory import MemoryIndex, parse_seed, seed_data, seed_index
from aam.mapping.normalize import parse_name
from aam.services import mapping_decide, mapping_ensure

from .conftest import make_connection

pytestmark = pytest.mark.django_db

KUNDEN = {
    "name": "Kunden",
    "fields": [
        {"name": "Kundennummer", "type": "string", "samples": ["K-1001", "K-1002"]},
        {"name": "Bezeichnung", "type": "string", "samples": ["Acme GmbH", "Globex AG"]},
        {"name": "City", "type": "string", "samples": ["Berlin", "Wien"]},
        {"name": "Website", "type": "string", "samples": ["acme.de", "globex.at"]},
    ],
}


def by_field(result):
    return {m.source_field: m for m in result.mappings}


def test_an_approved_decision_is_applied_automatically_next_time(connection_a, admin_user_a, tenant_a):
    first = mapping_ensure(connection=connection_a, source_object=KUNDEN)
    assert "Bezeichnung" not in first.fields
    mapping_decide(
        connection=connection_a,
        source_object="Kunden",
        source_field="Bezeichnung",
        approve=True,
        canonical_field="name",
        user=admin_user_a,
    )
    other = make_connection(tenant_a, name="ERP export", kind="filesource")
    second = mapping_ensure(connection=other, source_object={**KUNDEN, "name": "kunden_2024"})
    assert second.fields["Bezeichnung"] == "name"
    proposal = by_field(
        map_source(columns=KUNDEN["fields"], object_name="kunden_2024", tenant=tenant_a, use_llm=False)
    )["Bezeichnung"]
    assert (proposal.decision, proposal.method) == ("auto", "memory")
    assert "this tenant's decision" in proposal.explanation


def test_a_similar_name_with_the_same_values_is_recalled_too(connection_a, admin_user_a, tenant_a):
    mapping_ensure(connection=connection_a, source_object=KUNDEN)
    mapping_decide(
        connection=connection_a,
        source_object="Kunden",
        source_field="Bezeichnung",
        approve=True,
        canonical_field="name",
        user=admin_user_a,
    )
    columns = [{"name": "bezeichnung_2", "type": "string", "samples": ["Initech GmbH"]}] + KUNDEN["fields"][2:]
    proposal = by_field(map_source(columns=columns, object_name="lieferanten", tenant=tenant_a, use_llm=False))[
        "bezeichnung_2"
    ]
    assert proposal.canonical_field == "name" and proposal.method == "memory"


def test_a_rejected_proposal_is_not_proposed_again(connection_a, admin_user_a, tenant_a):
    source = {
        "name": "Account",
        "fields": [
            {"name": "Id", "type": "string", "samples": ["0015500000Xyy06AAB"]},
            {"name": "Name", "type": "string", "samples": ["Acme"]},
            {"name": "Domain Name", "type": "string", "samples": ["acme.com", "globex.com"]},
        ],
    }
    first = mapping_ensure(connection=connection_a, source_object=source)
    assert first.pending == {"Domain Name": "website"}
    mapping_decide(
        connection=connection_a, source_object="Account", source_field="Domain Name", approve=False, user=admin_user_a
    )
    again = by_field(
        map_source(
            columns=source["fields"], object_name="Account", source_kind="salesforce", tenant=tenant_a, use_llm=False
        )
    )["Domain Name"]
    assert again.canonical_field != "website"
    assert again.decision in ("auto", "unmapped")


def test_one_tenants_decisions_never_reach_another_tenant(connection_a, admin_user_a, tenant_a, tenant_b):
    db.set_tenant(tenant_a)  # fetching tenant_b switched the connection to the public schema
    mapping_ensure(connection=connection_a, source_object=KUNDEN)
    mapping_decide(
        connection=connection_a,
        source_object="Kunden",
        source_field="Bezeichnung",
        approve=True,
        canonical_field="name",
        user=admin_user_a,
    )
    db.set_tenant(tenant_b)
    in_b = by_field(map_source(columns=KUNDEN["fields"], object_name="kunden_2024", tenant=tenant_b, use_llm=False))[
        "Bezeichnung"
    ]
    assert in_b.canonical_field is None
    db.set_tenant(tenant_a)
    in_a = by_field(map_source(columns=KUNDEN["fields"], object_name="kunden_2024", tenant=tenant_a, use_llm=False))[
        "Bezeichnung"
    ]
    assert in_a.canonical_field == "name"


def test_the_seed_set_is_vendor_knowledge_with_known_unmapped_fields():
    entries = parse_seed(seed_data())
    assert len(entries) > 500
    assert {e.source_kind for e in entries} >= {"salesforce", "hubspot", "dynamics", "aws_cur", "aws_config"}
    assert any(e.field_name == "IsDeleted" and e.canonical_field is None for e in entries)
    assert seed_index() is seed_index()


def test_retrieval_finds_similar_names_by_trigram_similarity():
    index = MemoryIndex(
        parse_seed(
            {
                "sources": {
                    "x": {
                        "objects": {
                            "deals": {
                                "entity": "opportunity",
                                "fields": {"deal_close_date": "close_date", "owner_email": "owner_id"},
                            }
                        }
                    }
                }
            }
        )
    )
    keys = dict(index.similar_keys("deal close dat"))  # a truncated export header
    assert "deal close date" in keys and keys["deal close date"] > 0.78
    assert "owner email" not in keys
    hits = seed_index().search(parse_name("Billing City Name"))
    assert any(entry.canonical_field == "city" for entry, _ in hits)
