"""Entity resolution through the real path: contacts from two CRMs, materialized into `dcl_view_contact`."""

import json

import pytest
from django.db import connection

from dcl import store
from dcl.models import MatchDecision, MatchReview
from dcl.selectors import view_rows
from dcl.services import views_materialize
from tests.dcl.resolution_support import contact, contact_id, land_contacts, seed_contacts

pytestmark = pytest.mark.django_db

PEOPLE = [
    ("Ann", "Lee"), ("Bob", "Ray"), ("Carla", "Mendes"), ("Dmitri", "Volkov"), ("Emeka", "Obi"),
    ("Fatima", "Khan"), ("Goran", "Petrov"), ("Hana", "Sato"), ("Ivan", "Horvat"), ("Jana", "Novak"),
    ("Kofi", "Mensah"), ("Lena", "Berg"), ("Marco", "Rossi"), ("Nora", "Quinn"), ("Omar", "Haddad"),
    ("Priya", "Nair"), ("Quentin", "Blake"), ("Rosa", "Diaz"), ("Sven", "Larsen"), ("Tara", "Walsh"),
]


def _people(tenant):
    """SF holds 20 people; HubSpot holds 8 of them again under other e-mails, two with a typo in the
    name, plus two people SF does not have."""
    from connectors.models import Connection

    sf = Connection.objects.create(name="SF", kind="salesforce")
    hs = Connection.objects.create(name="HS", kind="hubspot")
    land_contacts(tenant, sf, [contact(f"003{i:02}", f, last, f"{f.lower()}.{last.lower()}@corp{i}.com")
                               for i, (f, last) in enumerate(PEOPLE)])
    again = [(0, "Ann", "Lee"), (2, "Carla", "Mendes"), (3, "Dmitri", "Volkow"), (5, "Fatima", "Khan"),
             (8, "Ivan", "Horvat"), (11, "Lena", "Berg"), (14, "Omar", "Hadad"), (19, "Tara", "Walsh")]
    records = [contact(f"hs{i}", f, last, f"{f[0].lower()}{last.lower()}@mail{i}.net", "2025-03-01T00:00:00Z")
               for i, f, last in again]
    records += [contact("hs90", "Zoe", "Adams", "zoe@adams.io"), contact("hs91", "Yusuf", "Demir", "yd@demir.tr")]
    land_contacts(tenant, hs, records, source_object="contacts")
    views_materialize(tenant=tenant)
    return sf, hs


def test_same_name_other_email_is_reviewed_not_merged_in_a_small_tenant(in_tenant_a):
    """Twenty-odd people: too few to learn from, so the model keeps its priors. The same name under
    another e-mail is a question for a person (a review item with its waterfall), not a silent merge;
    the same e-mail merges, as it always did."""
    _people(in_tenant_a)
    rows = view_rows(entity="contact", limit=100)
    assert len(rows) == 30 and not [r for r in rows if r["source_count"] > 1]
    pending = MatchReview.objects.filter(entity="contact", status=MatchReview.Status.PENDING)
    names = {(r.left_source_id, r.right_source_id) for r in pending}
    assert {("00300", "hs0"), ("00305", "hs5"), ("00303", "hs3")} <= names
    item = pending.get(left_source_id="00300", right_source_id="hs0")
    steps = {w["comparison"]: w for w in item.waterfall}
    assert steps["first_name_last_name"]["log2_bayes_factor"] > 0 > steps["email"]["log2_bayes_factor"]
    assert steps["prior"]["log2_bayes_factor"] < 0
    assert 0 < item.probability < 0.5


def test_a_decision_merges_and_lineage_shows_the_probability(in_tenant_a):
    sf, hs = _people(in_tenant_a)
    land_contacts(in_tenant_a, sf, [contact("003X", "Nora", "Quinn", "nora.quinn@corp13.com", "2025-05-01T00:00:00Z")])
    views_materialize(tenant=in_tenant_a)
    merged = [r for r in view_rows(entity="contact", limit=100) if r["source_count"] > 1]
    assert len(merged) == 1 and {s["source_id"] for s in merged[0]["sources"]} == {"00313", "003X"}
    assert all(s["probability"] >= 0.5 for s in merged[0]["sources"])
    kept = merged[0]["unified_id"]
    # a person approves Ann Lee's pair: one entity, with the probability 1.0 of a decision
    item = MatchReview.objects.get(entity="contact", left_source_id="00300", right_source_id="hs0")
    from dcl.resolution.decisions import decide_review

    decide_review(item.pk, approve=True, user=None)
    views_materialize(tenant=in_tenant_a)
    ann = contact_id("hs0")
    assert ann == contact_id("00300")
    row = next(r for r in view_rows(entity="contact", limit=100) if r["unified_id"] == ann)
    assert {s["probability"] for s in row["sources"]} == {1.0}
    assert contact_id("003X") == kept  # the other entity kept its id
    assert MatchDecision.objects.filter(entity="contact", kind="must_link").count() == 1


def test_first_resolution_keeps_the_ids_the_rules_gave(in_tenant_a, settings):
    """A tenant whose contacts were merged by e-mail before entity resolution keeps its ids."""
    settings.DCL_ER = False
    sf, hs = seed_contacts(in_tenant_a)
    before = {s["source_id"]: r["unified_id"] for r in view_rows(entity="contact") for s in r["sources"]}
    settings.DCL_ER = True
    land_contacts(in_tenant_a, sf, [contact("003B", "Bob", "Ray", "bob@initech.io", "2025-06-01T00:00:00Z")])
    views_materialize(tenant=in_tenant_a)
    after = {s["source_id"]: r["unified_id"] for r in view_rows(entity="contact") for s in r["sources"]}
    assert after == before
    with store.read_only(in_tenant_a) as con:
        assert con.execute("SELECT count(DISTINCT unified_id) FROM _er_contact").fetchone()[0] == 3
    assert connection.schema_name == in_tenant_a.schema_name
    assert json.dumps(after)


def test_a_retraining_runs_as_its_own_materialization(in_tenant_a, monkeypatch, django_capture_on_commit_callbacks):
    """The queued retraining (`views_materialize(retrain=[...])`) retrains and re-clusters although no
    record changed, and leaves the view as it was when nothing moved."""
    from dcl.resolution import engine

    _people(in_tenant_a)
    before = sorted((r["unified_id"], r["source_count"]) for r in view_rows(entity="contact", limit=100))
    report: dict = {}
    views_materialize(tenant=in_tenant_a, retrain=["contact"], report=report)
    assert report["contact"]["reason"] == "entity resolution retrained"
    assert report["contact"]["resolution"]["model_version"] == 2
    assert sorted((r["unified_id"], r["source_count"]) for r in view_rows(entity="contact", limit=100)) == before
    sent = []
    monkeypatch.setattr("celery.current_app.send_task", lambda name, **kw: sent.append((name, kw)))
    monkeypatch.setattr(engine, "RETRAIN_GROWTH", 1.0)
    from connectors.models import Connection

    land_contacts(in_tenant_a, Connection.objects.get(name="SF"), [contact("003Z", "Ugo", "Ferri", "ugo@ferri.it")])
    with django_capture_on_commit_callbacks(execute=True):  # queued once what the run wrote is committed
        views_materialize(tenant=in_tenant_a)
    assert sent == [("dcl.views_materialize", {"kwargs": {"entities": ["contact"], "retrain": ["contact"]},
                                                "headers": {"_schema_name": in_tenant_a.schema_name}})]


def test_the_record_page_says_why_its_records_are_one(in_tenant_a, web_a):
    """Each merged record's strongest link: the model's, with its waterfall scored again from the stored
    model, or a person's decision (certain)."""
    from dcl.resolution.records import record_explanations

    connection.set_tenant(in_tenant_a)  # web_a leaves the connection on the public schema
    sf, hs = _people(in_tenant_a)
    land_contacts(in_tenant_a, hs, [contact("hs13", "Nora", "Quinn", "nora.quinn@corp13.com", "2025-05-01T00:00:00Z")],
                  source_object="contacts")
    views_materialize(tenant=in_tenant_a)
    nora = contact_id("hs13")
    row = next(r for r in view_rows(entity="contact", limit=100) if r["unified_id"] == nora)
    [why] = record_explanations(entity="contact", records=[(s["connection_id"], s["source_id"])
                                                           for s in row["sources"]])
    assert why["kind"] == "model" and why["probability"] >= 0.5
    steps = {w["comparison"]: w for w in why["waterfall"]}
    assert steps["email"]["log2_bayes_factor"] > 10  # the same address
    assert steps["email"]["left"] == steps["email"]["right"] == "nora.quinn@corp13.com"
    page = web_a.get(f"/dcl/views/contact/{nora}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="record-why"' in html and 'id="why-1"' in html and "match probability" in html
    connection.set_tenant(in_tenant_a)  # the request ended on the public schema
    # a person's merge: linked for certain
    item = MatchReview.objects.get(entity="contact", left_source_id="00300", right_source_id="hs0")
    from dcl.resolution.decisions import decide_review

    decide_review(item.pk, approve=True, user=None)
    views_materialize(tenant=in_tenant_a)
    ann = next(r for r in view_rows(entity="contact", limit=100) if r["unified_id"] == contact_id("hs0"))
    [certain] = record_explanations(entity="contact", records=[(s["connection_id"], s["source_id"])
                                                               for s in ann["sources"]])
    assert certain["kind"] == "certain" and certain["probability"] == 1.0 and certain["waterfall"] == []


def test_the_tenants_own_domain_links_nobody(in_tenant_a):
    """A sales rep's own address pasted into two customers' records (the tenant's domain: its members'
    e-mail domain) is not evidence that they are one person; the same address at a customer's domain is."""
    from django.contrib.auth import get_user_model

    from connectors.models import Connection
    from tenants.members.services import member_set_role

    rep = get_user_model().objects.create_user("rep-own-domain", email="Rep@OurCo.io", password="x-Pass-2026!")
    member_set_role(user=rep, role="operator")
    sf = Connection.objects.create(name="SF", kind="salesforce")
    hs = Connection.objects.create(name="HS", kind="hubspot")
    land_contacts(in_tenant_a, sf, [contact("003A", "Ann", "Lee", "rep@ourco.io"),
                                    contact("003C", "Carl", "Diaz", "carl@acme.com")])
    land_contacts(in_tenant_a, hs, [contact("c1", "Bruno", "Tanaka", "rep@ourco.io", "2025-03-01T00:00:00Z"),
                                    contact("c2", "Carlos", "Diaz", "carl@acme.com", "2025-03-01T00:00:00Z")],
                  source_object="contacts")
    views_materialize(tenant=in_tenant_a)
    assert contact_id("003A") != contact_id("c1")
    assert contact_id("003C") == contact_id("c2")
    with store.read_only(in_tenant_a) as con:
        assert con.execute("SELECT count(*) FROM _er_feat_contact WHERE email = 'rep@ourco.io'").fetchone()[0] == 0
