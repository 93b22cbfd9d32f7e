"""Review queue, AAM monitor and ontology over the real mapping engine.

The auto-apply threshold is raised to 1.0 so the engine's proposals wait for a person.
"""

from __future__ import annotations

import io

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

CSV = (b"Id,Name,Website,Industry,AnnualRevenue\n"
       b"001A,Acme Corporation,https://acme.example,Manufacturing,12500000\n"
       b"001B,Globex Ltd,https://globex.example,Technology,8800000\n")


@pytest.fixture
def mapped(tenant_a, settings):
    """A CSV connection whose Account object went through the mapping engine."""
    from aam.services import mapping_ensure
    from connectors.services import connection_create, connection_discover, connection_file_upload

    settings.AAM_AUTO_APPLY_THRESHOLD = 1.0
    connection.set_tenant(tenant_a)
    try:
        conn = connection_create(name="CRM export", kind="filesource", config={"source_system": "salesforce"})
        connection_file_upload(connection=conn, filename="Account.csv", content=io.BytesIO(CSV), size=len(CSV))
        obj = next(o for o in connection_discover(connection=conn) if o.name.lower() == "account")
        mapping = mapping_ensure(connection=conn, source_object=obj)
        return conn, mapping
    finally:
        connection.set_schema_to_public()


def _in(tenant, fn):
    connection.set_tenant(tenant)
    try:
        return fn()
    finally:
        connection.set_schema_to_public()


def _pending(tenant):
    from aam.models import ReviewItem

    return _in(tenant, lambda: list(ReviewItem.objects.filter(kind="mapping", status="pending").order_by("id")))


def test_review_queue_lists_the_engines_proposals_with_their_evidence(web_a, tenant_a, mapped):
    items = _pending(tenant_a)
    assert items, "with a threshold of 1.0 every proposal waits for review"
    html = web_a.get("/aam/review/?kind=mapping").content.decode()
    for item in items[:3]:
        assert f'data-review-item="{item.pk}"' in html
        assert item.title.split(" → ")[0] in html
    assert "https://acme.example" in html  # sample values are the evidence a person reads
    assert "Approve" in html and "Map to" in html


def test_approving_a_proposal_applies_the_mapping_and_the_ontology_shows_it(web_a, tenant_a, mapped):
    from aam.models import FieldMapping

    item = next(i for i in _pending(tenant_a) if i.proposal["source_field"] == "Website")
    response = web_a.post(f"/aam/review/{item.pk}/decide/", {"decision": "approved", "next": "/aam/review/"})
    assert response.status_code == 302
    item = _in(tenant_a, lambda: type(item).objects.get(pk=item.pk))
    assert item.status == "approved" and item.decided_by_id is not None
    row = _in(tenant_a, lambda: FieldMapping.objects.get(connection=mapped[0], source_field="Website", status="active"))
    assert row.method == "human" and row.canonical_field == item.proposal["canonical_field"]
    page = web_a.get(f"/aam/ontology/?entity={row.canonical_entity}").content.decode()
    section = page[page.index(f'id="field-{row.canonical_field}"'):]
    assert "Account.Website" in section[: section.index("</tr>")]


def test_a_reviewer_can_map_to_another_field_than_proposed(web_a, tenant_a, mapped):
    from aam.models import FieldMapping

    item = next(i for i in _pending(tenant_a) if i.proposal["source_field"] == "Industry")
    web_a.post(f"/aam/review/{item.pk}/decide/", {"decision": "approved", "canonical_field": "description"})
    row = _in(tenant_a, lambda: FieldMapping.objects.get(connection=mapped[0], source_field="Industry",
                                                         status="active"))
    assert row.canonical_field == "description"


def test_rejecting_leaves_the_field_unmapped(web_a, tenant_a, mapped):
    from aam.models import FieldMapping

    item = next(i for i in _pending(tenant_a) if i.proposal["source_field"] == "Name")
    web_a.post(f"/aam/review/{item.pk}/decide/", {"decision": "rejected", "note": "not the legal name"})
    item = _in(tenant_a, lambda: type(item).objects.get(pk=item.pk))
    assert item.status == "rejected" and item.note == "not the legal name"
    assert not _in(tenant_a, lambda: FieldMapping.objects.filter(connection=mapped[0], source_field="Name",
                                                                  status="active").exclude(canonical_field=None).exists())


def test_deciding_twice_says_why_instead_of_failing(web_a, tenant_a, mapped):
    item = _pending(tenant_a)[0]
    web_a.post(f"/aam/review/{item.pk}/decide/", {"decision": "approved"})
    response = web_a.post(f"/aam/review/{item.pk}/decide/", {"decision": "rejected"}, follow=True)
    assert response.status_code == 200
    assert "Not recorded" in response.content.decode() and "already approved" in response.content.decode()


def test_review_filters_by_kind_and_risk(web_a, tenant_a, mapped):
    items = _pending(tenant_a)
    risk = items[0].risk
    other = {"low": "high", "medium": "high", "high": "low"}[risk]
    shown = web_a.get(f"/aam/review/?kind=mapping&risk={risk}").content.decode()
    assert f'data-review-item="{items[0].pk}"' in shown
    hidden = web_a.get(f"/aam/review/?kind=mapping&risk={other}").content.decode()
    assert all(f'data-review-item="{i.pk}"' not in hidden for i in items if i.risk == risk)
    assert f'data-review-item="{items[0].pk}"' not in web_a.get("/aam/review/?kind=drift").content.decode()


def test_another_tenants_review_item_is_404(web_b, tenant_a, mapped):
    item = _pending(tenant_a)[0]
    assert web_b.get(f"/aam/review/{item.pk}/").status_code == 404  # beta has no review items at all
    assert web_b.post(f"/aam/review/{item.pk}/decide/", {"decision": "approved"}).status_code == 404
    assert _in(tenant_a, lambda: type(item).objects.get(pk=item.pk)).status == "pending"


def test_monitor_shows_the_mapping_version_of_each_object(web_a, mapped):
    html = web_a.get("/aam/").content.decode()
    table = html[html.index('id="mapping-versions"'):]
    assert "CRM export" in table and "Account" in table
    assert "in review" in table


def test_bulk_approval_decides_each_confident_item_through_the_service(web_a, tenant_a, mapped):
    from aam.models import FieldMapping

    items = _pending(tenant_a)
    confident = [i for i in items if i.confidence >= 0.95]
    assert len(confident) > 1
    page = web_a.get("/aam/review/?kind=mapping").content.decode()
    assert f"Approve these {len(confident)}" in page
    response = web_a.post("/aam/review/bulk/", {"item": [i.pk for i in confident], "next": "/aam/review/"})
    assert response.status_code == 302
    ids = [c.pk for c in confident]
    decided = _in(tenant_a, lambda: {i.status for i in type(items[0]).objects.filter(pk__in=ids)})
    assert decided == {"approved"}
    humans = _in(tenant_a, lambda: FieldMapping.objects.filter(connection=mapped[0], status="active",
                                                               method="human").count())
    assert humans == len(confident)


def test_flagging_goes_through_the_review_service_and_is_logged(web_a, tenant_a, mapped):
    item = _pending(tenant_a)[0]
    web_a.post(f"/aam/review/{item.pk}/decide/", {"decision": "flagged", "note": "ask the CRM owner"})
    assert _in(tenant_a, lambda: type(item).objects.get(pk=item.pk)).status == "flagged"
    html = web_a.get(f"/aam/review/{item.pk}/").content.decode()
    log = html[html.index("Decision log"):]
    assert "flagged" in log and "ask the CRM owner" in log and "admin" in log


def test_a_renamed_column_shows_as_drift_on_the_monitor(web_a, tenant_a, mapped):
    from aam.drift.services import drift_detect
    from connectors.services import connection_file_upload

    conn = mapped[0]
    renamed = CSV.replace(b"Website", b"Web_Site")

    def drift():
        drift_detect(connection=conn)  # the baseline: the schema as first seen
        connection_file_upload(connection=conn, filename="Account.csv", content=io.BytesIO(renamed),
                               size=len(renamed))
        return drift_detect(connection=conn)

    _in(tenant_a, drift)
    html = web_a.get("/aam/").content.decode()
    table = html[html.index('id="drift"'):html.index('id="repairs"')]
    assert "CRM export" in table and "Website" in table and "Web_Site" in table
    assert "renamed" in table


def test_a_drift_repair_waits_in_review_and_approving_it_applies_it(web_a, tenant_a, mapped):
    from aam.drift.services import drift_detect
    from aam.models import DriftEvent, ReviewItem
    from connectors.services import connection_file_upload

    conn = mapped[0]
    renamed = CSV.replace(b"Website", b"Web_Site")

    def drift():
        type(conn).objects.filter(pk=conn.pk).update(drift_policy="review")
        conn.refresh_from_db()
        drift_detect(connection=conn)
        connection_file_upload(connection=conn, filename="Account.csv", content=io.BytesIO(renamed),
                               size=len(renamed))
        drift_detect(connection=conn)
        return ReviewItem.objects.get(kind="drift", status="pending")

    item = _in(tenant_a, drift)
    html = web_a.get("/aam/review/?kind=drift").content.decode()
    card = html[html.index(f'data-review-item="{item.pk}"'):]
    assert "Proposed repair" in card and "Web_Site" in card and "Why a person decides" in card
    response = web_a.post(f"/aam/review/{item.pk}/decide/", {"decision": "approved", "next": "/aam/review/?kind=drift"})
    assert response.status_code == 302
    assert _in(tenant_a, lambda: ReviewItem.objects.get(pk=item.pk).status) == "approved"
    assert _in(tenant_a, lambda: DriftEvent.objects.get(review_item_id=item.pk).status) == "approved"
