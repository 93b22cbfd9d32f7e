"""mapping_ensure / mapping_decide / mapping_active against the real database, inside a tenant."""

import pytest
from django.core.exceptions import ValidationError

from aam.models import FieldMapping, MappingMemory, ReviewItem
from aam.selectors import mapping_active, mapping_versions
from aam.services import mapping_decide, mapping_ensure
from autonomos.core.events import read_events

pytestmark = pytest.mark.django_db

ACCOUNT = {
    "name": "Account",
    "primary_key": "Id",
    "fields": [
        {"name": "Id", "type": "string", "samples": ["0015500000Xyy06AAB", "001q000000wW9BeAAK"]},
        {"name": "Name", "type": "string", "samples": ["Rick Thomas Company", "Blue Test"]},
        {"name": "BillingCity", "type": "string", "samples": ["San Francisco", "Chicago"]},
        {"name": "Domain Name", "type": "string", "samples": ["rickthomas.com", "bluetest.io"]},
        {"name": "Rating", "type": "string", "samples": ["Hot", "Cold"]},
        {"name": "Bezeichnung", "type": "string", "samples": ["Acme GmbH", "Globex AG"]},
    ],
}


def rows(connection, name="Account", version=None):
    qs = FieldMapping.objects.filter(connection=connection, source_object=name)
    return {r.source_field: r for r in (qs.filter(version=version) if version else qs)}


def test_first_mapping_is_stored_as_version_one_with_review_items_and_events(
    connection_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        active = mapping_ensure(connection=connection_a, source_object=ACCOUNT)
    assert active.entity == "account" and active.version == 1
    assert active.fields["Id"] == "id" and active.fields["Name"] == "name" and active.fields["BillingCity"] == "city"
    stored = rows(connection_a)
    assert set(stored) == {f["name"] for f in ACCOUNT["fields"]}
    assert stored["Domain Name"].status == FieldMapping.Status.PENDING
    assert stored["Domain Name"].canonical_field == "website"
    assert active.pending == {"Domain Name": "website"}
    assert stored["Rating"].status == FieldMapping.Status.ACTIVE and stored["Rating"].canonical_field is None
    item = ReviewItem.objects.get()
    assert item.kind == "mapping" and item.status == "pending" and item.connection == connection_a
    assert item.proposal["source_field"] == "Domain Name" and item.proposal["canonical_field"] == "website"
    assert item.evidence["samples"] == ["rickthomas.com", "bluetest.io"]
    assert item.risk in ("low", "medium", "high")
    events = {e["type"]: e["payload"] for e in read_events(_tenant())}
    assert events["mapping_progress"]["version"] == 1 and events["mapping_progress"]["review"] == 1
    assert events["review_required"]["review_item_ids"] == [item.pk]


def _tenant():
    from autonomos.core.tenancy import current_tenant

    return current_tenant()


def test_ensuring_the_same_fields_again_changes_nothing(connection_a):
    first = mapping_ensure(connection=connection_a, source_object=ACCOUNT)
    count = FieldMapping.objects.count()
    again = mapping_ensure(connection=connection_a, source_object=ACCOUNT)
    assert again == first
    assert FieldMapping.objects.count() == count
    assert ReviewItem.objects.count() == 1


def test_a_new_field_makes_a_new_version_that_keeps_human_decisions(connection_a, admin_user_a):
    mapping_ensure(connection=connection_a, source_object=ACCOUNT)
    mapping_decide(
        connection=connection_a,
        source_object="Account",
        source_field="Bezeichnung",
        approve=True,
        canonical_field="description",
        user=admin_user_a,
    )  # a deliberate, odd human choice
    grown = {
        **ACCOUNT,
        "fields": ACCOUNT["fields"][1:]
        + [{"name": "Industry", "type": "string", "samples": ["Technology", "Banking"]}],
    }
    active = mapping_ensure(connection=connection_a, source_object=grown)
    assert active.version == 3
    assert active.fields["Bezeichnung"] == "description"  # the engine never overwrites a human
    assert active.fields["Industry"] == "industry"
    assert "Id" not in active.fields and "Id" not in rows(connection_a, version=3)
    v1 = rows(connection_a, version=1)
    assert v1["Name"].status == FieldMapping.Status.SUPERSEDED  # was in force, is no more
    assert v1["Domain Name"].status == FieldMapping.Status.PENDING  # history reads as it was
    assert not FieldMapping.objects.filter(status="active").exclude(version=3).exists()
    assert [v["version"] for v in mapping_versions(connection=connection_a, source_object_name="Account")] == [3, 2, 1]


def test_approving_a_proposal_activates_it_feeds_memory_and_records_who_decided(
    connection_a, admin_user_a, django_capture_on_commit_callbacks
):
    mapping_ensure(connection=connection_a, source_object=ACCOUNT)
    item = ReviewItem.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        row = mapping_decide(review_item=item, approve=True, user=admin_user_a, note="looks right")
    assert row.version == 2 and row.status == "active" and row.method == "human" and row.confidence == 1.0
    assert mapping_active(connection=connection_a, source_object_name="Account").fields["Domain Name"] == "website"
    memory = MappingMemory.objects.get()
    assert (memory.decision, memory.canonical_entity, memory.canonical_field) == ("approved", "account", "website")
    assert memory.normalized_name == "domain name" and memory.value_signature == "domain"
    item.refresh_from_db()
    assert item.status == "approved" and item.decided_by == admin_user_a and item.decided_at and item.note
    assert any(
        e["type"] == "review_decided" and e["payload"]["review_item_id"] == item.pk for e in read_events(_tenant())
    )


def test_rejecting_a_proposal_leaves_the_field_unmapped_and_is_remembered(connection_a, admin_user_a):
    mapping_ensure(connection=connection_a, source_object=ACCOUNT)
    row = mapping_decide(
        connection=connection_a, source_object="Account", source_field="Domain Name", approve=False, user=admin_user_a
    )
    assert row.status == "rejected"
    active = mapping_active(connection=connection_a, source_object_name="Account")
    assert "Domain Name" not in active.fields and "Domain Name" in active.unmapped
    assert MappingMemory.objects.get().decision == "rejected"
    assert ReviewItem.objects.get().status == "rejected"


def test_a_correction_remembers_the_choice_and_rejects_the_proposal(connection_a, admin_user_a):
    mapping_ensure(connection=connection_a, source_object=ACCOUNT)
    mapping_decide(
        connection=connection_a,
        source_object="Account",
        source_field="Domain Name",
        approve=True,
        canonical_field="description",
        user=admin_user_a,
    )
    decisions = set(MappingMemory.objects.values_list("decision", "canonical_field"))
    assert decisions == {("approved", "description"), ("rejected", "website")}


def test_bad_decisions_are_refused_without_changing_anything(connection_a, admin_user_a):
    mapping_ensure(connection=connection_a, source_object=ACCOUNT)
    count = FieldMapping.objects.count()
    with pytest.raises(ValidationError, match="already mapped"):
        mapping_decide(
            connection=connection_a,
            source_object="Account",
            source_field="Bezeichnung",
            approve=True,
            canonical_field="name",
        )
    with pytest.raises(ValidationError, match="no field"):
        mapping_decide(
            connection=connection_a,
            source_object="Account",
            source_field="Bezeichnung",
            approve=True,
            canonical_field="favourite_colour",
        )
    with pytest.raises(ValidationError, match="has no mapping"):
        mapping_decide(connection=connection_a, source_object="Account", source_field="Nope", approve=True)
    assert FieldMapping.objects.count() == count
    item = ReviewItem.objects.get()
    mapping_decide(review_item=item, approve=True, user=admin_user_a)
    with pytest.raises(ValidationError, match="already approved"):
        mapping_decide(review_item=item, approve=False, user=admin_user_a)


def test_deciding_a_field_nobody_queued_still_leaves_an_audit_record(connection_a, admin_user_a):
    mapping_ensure(connection=connection_a, source_object=ACCOUNT)
    mapping_decide(
        connection=connection_a,
        source_object="Account",
        source_field="Rating",
        approve=True,
        canonical_field="account_type",
        user=admin_user_a,
    )
    audit = ReviewItem.objects.exclude(status="pending").get()
    assert audit.status == "approved" and audit.proposal["decided_canonical_field"] == "account_type"


def test_an_object_without_fields_is_refused(connection_a):
    with pytest.raises(ValidationError):
        mapping_ensure(connection=connection_a, source_object={"name": "Empty", "fields": []})


def test_mapping_active_is_none_for_an_unmapped_object(connection_a):
    assert mapping_active(connection=connection_a, source_object_name="Nothing") is None


def test_an_object_that_fits_no_entity_is_stored_with_every_field_unmapped(connection_a):
    odd = {
        "name": "misc",
        "fields": [{"name": "zzq", "samples": ["k1"]}, {"name": "wibble", "type": "integer", "samples": [1, 2]}],
    }
    active = mapping_ensure(connection=connection_a, source_object=odd)
    assert active.entity is None and active.fields == {} and sorted(active.unmapped) == ["wibble", "zzq"]


def test_blank_or_over_long_field_names_stay_unmapped_and_the_rest_is_mapped(connection_a):
    source = {
        **ACCOUNT,
        "fields": ACCOUNT["fields"] + [{"name": "x" * 600, "samples": ["a"]}, {"name": "  ", "samples": ["b"]}],
    }
    active = mapping_ensure(connection=connection_a, source_object=source)
    assert active.fields["Name"] == "name"
    assert not FieldMapping.objects.filter(source_field__startswith="xxxx").exists()
