"""Unmapped columns that look like a related entity's field become review items (aam/editor/meaningful.py,
aam/editor/review.py), when the mapping is first stored and, for older mappings, once at the next sync."""

from __future__ import annotations

import pytest

from aam.drift.review import review_decide
from aam.editor.meaningful import column_hints, related_entities
from aam.mapping.types import Column
from aam.models import FieldMapping, ReviewItem
from aam.ontology import get_ontology
from aam.selectors import mapping_active, mapping_latest_version
from aam.services import mapping_ensure
from connectors.models import Connection

pytestmark = pytest.mark.django_db

DEALS = {
    "name": "deals",
    "fields": [
        {"name": "Deal ID", "type": "string", "samples": ["D-1", "D-2", "D-3"]},
        {"name": "Deal Name", "type": "string", "samples": ["Acme renewal", "Globex expansion", "Initech pilot"]},
        {"name": "Company", "type": "string", "samples": ["Acme Corp", "Globex", "Initech"]},
        {"name": "Stage", "type": "string", "samples": ["Prospecting", "Closed Won", "Negotiation"]},
    ],
}


@pytest.fixture
def conn(in_tenant_a):
    return Connection.objects.create(name="Deals sheet", kind="filesource")


def test_related_entities_follow_the_reference_fields():
    ontology = get_ontology()
    assert set(related_entities(ontology, "opportunity")) == {"account", "contact"}
    assert related_entities(ontology, "contact") == ["account"]
    assert related_entities(ontology, "account") == [] and related_entities(ontology, "cost") == []


def test_hints_name_the_related_field_and_propose_the_open_reference():
    columns = [Column("Company", "string", ("Acme Corp", "Globex", "Initech")),
               Column("Industry", "string", ("Retail", "Banking", "Software")),
               Column("Notes", "string", ("call back", "x", "y")),
               Column("Lucky Number", "integer", (7, 3, 9))]
    hints = column_hints(entity="opportunity", columns=columns, taken={"name", "stage"})
    assert (hints["Company"]["entity"], hints["Company"]["field"], hints["Company"]["proposal"]) == (
        "account", "name", "account_id")
    assert hints["Industry"]["field"] == "industry" and hints["Industry"]["proposal"] is None
    assert hints["Notes"] == {} and hints["Lucky Number"] == {}  # opportunity has a description of its own
    fed = column_hints(entity="opportunity", columns=columns[:1], taken={"account_id"})
    assert fed["Company"]["proposal"] is None and "fed by another column" in fed["Company"]["why"]


def test_a_new_mapping_proposes_the_account_for_company(conn):
    active = mapping_ensure(connection=conn, source_object=DEALS)
    assert active.pending == {"Company": "account_id"} and active.version == 1
    item = ReviewItem.objects.get(kind="mapping", status="pending")
    assert item.proposal["source_field"] == "Company" and item.risk == "high"
    assert mapping_ensure(connection=conn, source_object=DEALS).version == 1  # the same fields: nothing new
    assert ReviewItem.objects.count() == 1


def test_an_older_mapping_is_looked_at_once_at_the_next_sync(conn, admin_user_a):
    mapping_ensure(connection=conn, source_object=DEALS)
    # As a mapping stored before the editor existed: Company unmapped, nothing looked at, no item.
    ReviewItem.objects.all().delete()
    FieldMapping.objects.filter(source_field="Company").update(
        canonical_field=None, status="active", method="none", confidence=0.64)
    FieldMapping.objects.update(hint=None)
    assert "Company" in mapping_active(connection=conn, source_object_name="deals").unmapped

    active = mapping_ensure(connection=conn, source_object=DEALS)
    assert active.version == 2 and active.pending == {"Company": "account_id"}
    assert FieldMapping.objects.get(version=2, source_field="Company").hint["field"] == "name"
    item = ReviewItem.objects.get(kind="mapping", status="pending")
    assert mapping_ensure(connection=conn, source_object=DEALS).version == 2  # looked at once
    assert ReviewItem.objects.count() == 1

    review_decide(item=item, decision="reject", user=admin_user_a)
    assert mapping_ensure(connection=conn, source_object=DEALS).fields.get("Company") is None
    assert ReviewItem.objects.filter(status="pending").count() == 0  # a decided column is not asked again
    assert mapping_latest_version(connection=conn, source_object_name="deals") == 3


def test_a_cost_export_gets_no_hints_and_no_items(conn):
    cost = {"name": "cur", "fields": [
        {"name": "lineItem/UnblendedCost", "type": "number", "samples": ["1.5", "2.25", "0.1"]},
        {"name": "Company", "type": "string", "samples": ["Acme Corp", "Globex", "Initech"]},
        {"name": "product/ProductName", "type": "string", "samples": ["Amazon EC2", "Amazon S3", "AWS Lambda"]},
    ]}
    mapping_ensure(connection=conn, source_object=cost)
    assert not ReviewItem.objects.filter(proposal__looks_like__isnull=False).exists()
    assert all(h in (None, {}) for h in FieldMapping.objects.values_list("hint", flat=True))
