"""The value review page (/aam/values/): grouped by field and source with counts and samples, hostile
values escaped, free-text columns said so, decisions need operator or admin; the review queue and
the admin decide value items through the same service."""

from __future__ import annotations

import pytest
from django.db import connection

from aam.drift.review import review_decide
from aam.models import ColumnMetadata, ReviewItem, ValueMap, ValueMemory
from tests.conftest import host_of
from tests.factories import ConnectionRowFactory, UserFactory, ValueMapFactory

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('x')</script>"
LONG = "L" * 10_240


@pytest.fixture
def values(in_tenant_a):
    sf = ConnectionRowFactory(name="SF prod", kind="salesforce")
    hub = ConnectionRowFactory(name="HubSpot", kind="hubspot")
    hostile = ValueMapFactory(connection=sf, raw_key=SCRIPT, label=LONG, record_count=7)
    plain = ValueMapFactory(connection=sf, raw_key="Best Case", canonical="best_case", confidence=0.7)
    other = ValueMapFactory(connection=hub, entity="account", field="industry", column="industry", vendor="hubspot",
                            raw_key="COMPUTER_SOFTWARE", label="Computer Software", canonical="technology")
    ColumnMetadata.objects.create(connection=sf, source_object="Opportunity", column="Description__c",
                                  free_text=True, distinct_values=9000, note="9000 distinct values: free text")
    connection.set_schema_to_public()
    return {"hostile": hostile, "plain": plain, "other": other, "sf": sf, "hub": hub}


def test_values_are_grouped_by_field_and_source_with_counts_and_samples(values, web_a):
    body = web_a.get("/aam/values/").content.decode()
    assert body.count('class="card value-group"') == 2
    assert "SF prod" in body and "opportunity.forecast_category" in body
    assert "HubSpot" in body and "account.industry" in body
    assert "006A" in body and ">7<" in body
    assert "Description__c" in body and "free text" in body  # the free-text column says so
    # the enumeration's canonical values are offered (from the ontology)
    assert '<option value="best_case" selected>' in body and '<option value="omitted"' in body


def test_hostile_values_are_escaped(values, web_a):
    body = web_a.get("/aam/values/").content.decode()
    assert SCRIPT not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    assert LONG not in body  # a 10 KB label is cut for display (kept whole in the database)
    review = web_a.get("/aam/review/?kind=value&status=all").content.decode()
    assert SCRIPT not in review


def test_a_viewer_cannot_decide_an_operator_can(values, tenant_a):
    from django.test import Client
    from django_tenants.utils import schema_context

    clients = {}
    for name, role in (("vic", "viewer"), ("olga", "operator")):
        client = Client(HTTP_HOST=host_of(tenant_a))
        with schema_context(tenant_a.schema_name):
            client.force_login(UserFactory(username=name, role=role, unusable_password=True))
        clients[role] = client
    url = f"/aam/values/{values['plain'].pk}/decide/"
    assert clients["viewer"].post(url, {"action": "approve", "canonical": "best_case"}).status_code == 403
    response = clients["operator"].post(url, {"action": "approve", "canonical": "best_case"})
    assert response.status_code == 302
    connection.set_tenant(tenant_a)
    plain = ValueMap.objects.get(pk=values["plain"].pk)
    assert (plain.status, plain.canonical, plain.reviewed_by) == ("mapped", "best_case", "olga")
    assert ValueMemory.objects.get(vendor="salesforce", field="forecast_category", raw_key="Best Case").canonical \
        == "best_case"


def test_a_value_that_is_not_canonical_is_refused_with_a_message(values, web_a, tenant_a):
    url = f"/aam/values/{values['plain'].pk}/decide/"
    response = web_a.post(url, {"action": "approve", "canonical": "maybe"}, follow=True)
    assert response.status_code == 200
    assert "is not a value of opportunity.forecast_category" in response.content.decode()
    connection.set_tenant(tenant_a)
    assert ValueMap.objects.get(pk=values["plain"].pk).status == "pending"


def test_the_review_queue_decides_value_items_through_the_same_service(values, tenant_a):
    from aam.values.selectors import ValueColumn
    from aam.values.services import _review_item

    connection.set_tenant(tenant_a)
    vm = values["plain"]
    column = ValueColumn(vm.connection_id, "salesforce", vm.source_object, vm.entity, vm.field, vm.field, vm.column)
    item = _review_item(column, vm.connection, vm)
    vm.review_item = item
    vm.save(update_fields=["review_item"])
    review_decide(item=item, decision="approve", canonical_field="commit")
    vm.refresh_from_db()
    item.refresh_from_db()
    assert (vm.canonical, vm.status, item.status) == ("commit", "mapped", ReviewItem.Status.APPROVED)
    with pytest.raises(Exception, match="already"):
        review_decide(item=item, decision="reject")
