"""Entity resolution's human side: review items, decisions, merge and split, id redirects."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from autonomos.core.errors import Conflict, InvalidInput, NotFound
from dcl.models import MatchDecision, MatchReview, UnifiedIdRedirect
from dcl.resolution import decisions
from dcl.resolution.decisions import Constraint, constraints, decide_review, decision_create, merge, split
from dcl.resolution.records import redirect_target
from dcl.resolution.review import ReviewPair, redirects_record, review_pairs_record
from dcl.services import stream_consume
from tests.pipeline.support import delete_batches, publish

from .resolution_support import contact_id, seed_contacts

pytestmark = pytest.mark.django_db

WATERFALL = [
    {"comparison": "prior", "level": "", "bayes_factor": 0.01, "log2_bayes_factor": -6.64, "left": None, "right": None},
    {"comparison": "first_name", "level": "exact", "bayes_factor": 40.0, "log2_bayes_factor": 5.32,
     "left": "Ann", "right": "Ann"},
    {"comparison": "email", "level": "different", "bayes_factor": 0.25, "log2_bayes_factor": -2.0,
     "left": "ann@acme.com", "right": "ann.lee@acme.com"},
]


@pytest.fixture
def queued(monkeypatch):
    """The tasks the services send (by name), instead of sending them to the broker."""
    from celery import current_app

    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **kw: sent.append((name, kw)))
    return sent


@pytest.fixture
def contacts(in_tenant_a):
    sf, hs = seed_contacts(in_tenant_a)
    # the engine already proposed Ann Lee's pair; the tests below feed review_pairs_record themselves
    assert MatchReview.objects.filter(left_source_id="003A", right_source_id="c9").exists()
    MatchReview.objects.all().delete()
    return sf, hs


@pytest.fixture
def admin(in_tenant_a):
    return get_user_model().objects.get(username="admin")


def _pair(sf, hs, p=0.7, **kw) -> ReviewPair:
    return ReviewPair(left=(hs.pk, "c9"), right=(sf.pk, "003A"), probability=p, match_weight=1.2,
                      waterfall=WATERFALL, **kw)


def test_a_review_pair_is_stored_in_one_order_with_its_waterfall_swapped_to_match(contacts):
    sf, hs = contacts
    counts = review_pairs_record("contact", [_pair(sf, hs, left_unified_id="u-hs", right_unified_id="u-sf")])
    assert counts == {"created": 1, "updated": 0, "obsoleted": 0}
    item = MatchReview.objects.get()
    assert (item.left, item.right) == ((sf.pk, "003A"), (hs.pk, "c9"))  # sf was created first: smaller id
    assert (item.left_unified_id, item.right_unified_id) == ("u-sf", "u-hs")
    email = next(r for r in item.waterfall if r["comparison"] == "email")
    assert (email["left"], email["right"]) == ("ann.lee@acme.com", "ann@acme.com")
    assert item.status == "pending"


def test_a_rerun_updates_pending_items_obsoletes_the_gone_and_leaves_decided_ones(contacts, admin, queued):
    sf, hs = contacts
    other = ReviewPair(left=(sf.pk, "003A"), right=(sf.pk, "003B"), probability=0.6, match_weight=0.5)
    review_pairs_record("contact", [_pair(sf, hs), other])
    decided = MatchReview.objects.get(right_source_id="003B")
    decide_review(decided.pk, approve=False, user=admin)

    counts = review_pairs_record("contact", [_pair(sf, hs, p=0.8), other])
    assert counts == {"created": 0, "updated": 1, "obsoleted": 0}
    assert MatchReview.objects.get(right_source_id="c9").probability == pytest.approx(0.8)
    assert MatchReview.objects.get(pk=decided.pk).status == "rejected"  # never re-opened

    counts = review_pairs_record("contact", [])
    assert counts == {"created": 0, "updated": 0, "obsoleted": 1}
    assert MatchReview.objects.get(right_source_id="c9").status == "obsolete"
    assert MatchReview.objects.get(pk=decided.pk).status == "rejected"

    # proposed again: pending again
    assert review_pairs_record("contact", [_pair(sf, hs)])["updated"] == 1
    assert MatchReview.objects.get(right_source_id="c9").status == "pending"


def test_a_pair_people_already_decided_is_not_opened_for_review(contacts, admin, queued):
    sf, hs = contacts
    decision_create(entity="contact", kind="cannot_link", left=[sf.pk, "003A"], right=[hs.pk, "c9"], user=admin)
    assert review_pairs_record("contact", [_pair(sf, hs)])["created"] == 0
    assert not MatchReview.objects.exists()


def test_approving_a_review_item_persists_a_must_link_and_queues_the_entitys_materialization(
        contacts, admin, queued, django_capture_on_commit_callbacks):
    sf, hs = contacts
    review_pairs_record("contact", [_pair(sf, hs)])
    item = MatchReview.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        decision = decide_review(item.pk, approve=True, user=admin)
    assert decision.kind == "must_link" and decision.origin == "review" and decision.review_id == item.pk
    item.refresh_from_db()
    assert (item.status, item.decided_by) == ("approved", "admin") and item.decided_at is not None
    assert constraints("contact") == [Constraint("must_link", (sf.pk, "003A"), (hs.pk, "c9"))]
    assert queued == [("dcl.views_materialize", {"args": [["contact"]], "headers": {"_schema_name": "alpha"}})]


def test_a_decided_or_obsolete_item_cannot_be_decided_again(contacts, admin, queued):
    sf, hs = contacts
    review_pairs_record("contact", [_pair(sf, hs)])
    item = MatchReview.objects.get()
    decide_review(item.pk, approve=False, user=admin)
    with pytest.raises(Conflict, match="rejected by admin"):
        decide_review(item.pk, approve=True, user=admin)
    assert MatchDecision.objects.get().kind == "cannot_link"
    with pytest.raises(NotFound):
        decide_review(999999, approve=True, user=admin)
    with pytest.raises(NotFound):
        decide_review("junk", approve=True, user=admin)


def test_a_newer_decision_on_the_same_pair_replaces_the_older(contacts, admin, queued):
    sf, hs = contacts
    decision_create(entity="contact", kind="cannot_link", left=[hs.pk, "c9"], right=[sf.pk, "003A"], user=admin)
    decision_create(entity="contact", kind="must_link", left=[sf.pk, "003A"], right=[hs.pk, "c9"], user=admin,
                    note="same person")
    decision = MatchDecision.objects.get()
    assert (decision.kind, decision.note) == ("must_link", "same person")
    assert constraints("contact") == [Constraint("must_link", (sf.pk, "003A"), (hs.pk, "c9"))]


def test_a_decision_on_a_record_deleted_since_is_a_conflict_and_writes_nothing(
        in_tenant_a, contacts, admin, queued, django_capture_on_commit_callbacks):
    sf, hs = contacts
    review_pairs_record("contact", [_pair(sf, hs)])
    item = MatchReview.objects.get()
    publish(in_tenant_a, hs.pk, delete_batches(in_tenant_a, hs.pk, ["c9"], generation=2, entity="contact",
                                                source_object="contacts"))
    stream_consume(tenant=in_tenant_a, until_idle=True, idle_seconds=0)  # deleted in the store, view not yet redone
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(Conflict, match="no longer exist"):
            decide_review(item.pk, approve=True, user=admin)
        with pytest.raises(Conflict):
            merge("contact", [contact_id("003A"), contact_id("c9")], user=admin)
    assert not MatchDecision.objects.exists()
    assert MatchReview.objects.get().status == "pending"
    assert queued == []


def test_when_the_store_is_being_written_the_views_lineage_answers(contacts, admin, queued, monkeypatch):
    from dcl import store
    from dcl.resolution import records

    def busy(*a, **kw):
        raise store.WriterBusy("busy")

    monkeypatch.setattr(records, "_live_in_store", busy)
    sf, hs = contacts
    assert records.records_missing("contact", [(sf.pk, "003A"), (hs.pk, "nope")]) == [(hs.pk, "nope")]


def test_merge_links_the_first_records_and_replaces_a_contradicting_cannot_link(contacts, admin, queued):
    sf, hs = contacts
    decision_create(entity="contact", kind="cannot_link", left=[sf.pk, "003A"], right=[hs.pk, "c9"], user=admin)
    ann_sf, ann_hs = contact_id("003A"), contact_id("c9")
    made = merge("contact", [ann_sf, ann_hs], user=admin)
    assert [(d.kind, d.origin) for d in made] == [("must_link", "merge")]
    assert constraints("contact") == [Constraint("must_link", (sf.pk, "003A"), (hs.pk, "c9"))]


@pytest.mark.parametrize("ids, message", [
    (["same", "same"], "itself"),
    (["con_unknown", None], "non-empty text"),
    (["con_unknown", "con_other"], "No contact with the id"),
    (["only-one"], "at least two"),
    ("not-a-list", "at least two"),
])
def test_merge_refuses_bad_ids_with_a_message(contacts, admin, queued, ids, message):
    with pytest.raises(InvalidInput, match=message):
        merge("contact", ids, user=admin)
    assert not MatchDecision.objects.exists()


def test_merge_and_split_apply_only_to_merged_entities(contacts, admin):
    with pytest.raises(InvalidInput, match="not merged"):
        merge("cost", ["a", "b"], user=admin)
    with pytest.raises(InvalidInput, match="not merged"):
        split("cloud_resource", "a", [[1, "x"]], user=admin)


def test_merging_an_id_with_the_id_it_redirects_to_is_merging_it_with_itself(contacts, admin):
    ann = contact_id("003A")
    redirects_record("contact", {"con_old": ann})
    with pytest.raises(InvalidInput, match="itself"):
        merge("contact", [ann, "con_old"], user=admin)


def _merged_contact(in_tenant, sf, hs):
    """One contact with two sources: the two Anns under one e-mail."""
    from dcl.services import views_materialize

    from .resolution_support import contact, land_contacts

    land_contacts(in_tenant, hs, [contact("c9", "Ann", "Lee", "ann@acme.com", "2025-03-01T00:00:00Z")],
                  source_object="contacts")
    views_materialize(tenant=in_tenant)
    uid = contact_id("c9")
    assert uid == contact_id("003A")
    return uid


def test_split_writes_cannot_links_across_and_keeps_each_side_together(in_tenant_a, contacts, admin, queued):
    sf, hs = contacts
    uid = _merged_contact(in_tenant_a, sf, hs)
    made = split("contact", uid, [f"{hs.pk}:c9"], user=admin)
    assert [(d.kind, d.origin) for d in made] == [("cannot_link", "split")]
    assert constraints("contact") == [Constraint("cannot_link", (sf.pk, "003A"), (hs.pk, "c9"))]


@pytest.mark.parametrize("records, message", [
    ([], "Pick the source records"),
    ("x", "Pick the source records"),
    ([[1, "nope"]], "not a source record"),
    ([["1", "x"]], "positive integer"),
    ([[True, "x"]], "positive integer"),
    ([[1, ""]], "non-empty text"),
    ([{"connection_id": 1}], "non-empty text"),
    (["no-colon"], "not a record"),
    ([[1, "x"]] * 1001, "At most 1000"),
])
def test_split_refuses_bad_records_with_a_message(in_tenant_a, contacts, admin, queued, records, message):
    sf, hs = contacts
    uid = _merged_contact(in_tenant_a, sf, hs)
    with pytest.raises(InvalidInput, match=message):
        split("contact", uid, records, user=admin)
    assert not MatchDecision.objects.exists()


def test_a_split_that_moves_every_record_is_refused(in_tenant_a, contacts, admin, queued):
    sf, hs = contacts
    uid = _merged_contact(in_tenant_a, sf, hs)
    with pytest.raises(InvalidInput, match="moves all"):
        split("contact", uid, [[sf.pk, "003A"], [hs.pk, "c9"]], user=admin)
    with pytest.raises(InvalidInput, match="No contact"):
        split("contact", "con_nope", [[sf.pk, "003A"]], user=admin)


def test_the_split_pair_cap_refuses_before_writing(in_tenant_a, contacts, admin, queued, monkeypatch):
    sf, hs = contacts
    uid = _merged_contact(in_tenant_a, sf, hs)
    monkeypatch.setattr(decisions, "MAX_SPLIT_PAIRS", 0)
    with pytest.raises(InvalidInput, match="would write 1 decisions"):
        split("contact", uid, [[hs.pk, "c9"]], user=admin)


def test_redirect_chains_collapse_and_a_revived_id_loses_its_redirect(in_tenant_a):
    redirects_record("contact", {"a": "b"})
    redirects_record("contact", {"b": "c"})
    assert dict(UnifiedIdRedirect.objects.values_list("old_id", "new_id")) == {"a": "c", "b": "c"}
    assert redirect_target("contact", "a") == "c"
    redirects_record("contact", {"x": "a"})  # a names an entity again
    assert dict(UnifiedIdRedirect.objects.values_list("old_id", "new_id")) == {"b": "c", "x": "a"}
    assert redirect_target("contact", "nothing") is None
    assert redirect_target("account", "b") is None


def test_decisions_reviews_and_redirects_are_exported_with_the_tenants_data(in_tenant_a, contacts, admin, queued,
                                                                           tmp_path):
    import json
    import zipfile

    from tenants.offboarding import tenant_export

    sf, hs = contacts
    review_pairs_record("contact", [_pair(sf, hs)])
    decide_review(MatchReview.objects.get().pk, approve=False, user=admin)
    redirects_record("contact", {"con_old": contact_id("003A")})
    result = tenant_export(tenant=in_tenant_a, out=tmp_path / "alpha.zip")
    with zipfile.ZipFile(result.path) as zf:
        decisions_rows = [json.loads(line) for line in zf.read("dcl/match_decisions.jsonl").splitlines()]
        reviews = [json.loads(line) for line in zf.read("dcl/match_reviews.jsonl").splitlines()]
        redirects = [json.loads(line) for line in zf.read("dcl/unified_id_redirects.jsonl").splitlines()]
    assert [(d["kind"], d["left_source_id"], d["right_source_id"], d["created_by"]) for d in decisions_rows] == [
        ("cannot_link", "003A", "c9", "admin")]
    assert [(r["status"], r["waterfall"][1]["comparison"]) for r in reviews] == [("rejected", "first_name")]
    assert [r["old_id"] for r in redirects] == ["con_old"]
