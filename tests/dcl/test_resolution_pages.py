"""Entity resolution pages: matches to review, one pair with its waterfall, merge and split on a
record page, an old id's redirect, the dashboard's count."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from autonomos.core.roles import Role
from dcl.models import MatchDecision, MatchReview
from dcl.resolution.chart import waterfall_chart
from dcl.resolution.review import ReviewPair, redirects_record, review_pairs_record
from dcl.services import stream_consume
from tests.conftest import host_of
from tests.factories import UserFactory
from tests.pipeline.support import delete_batches, publish

from .resolution_support import contact_id, seed_contacts

pytestmark = pytest.mark.django_db

WATERFALL = [
    {"comparison": "prior", "level": "", "bayes_factor": 0.01, "log2_bayes_factor": -6.64},
    {"comparison": "first_name", "level": "exact", "bayes_factor": 40.0, "log2_bayes_factor": 5.32,
     "left": "Ann", "right": "Ann"},
    {"comparison": "last_name", "level": "exact", "bayes_factor": 30.0, "log2_bayes_factor": 4.9,
     "left": "Lee", "right": "Lee"},
    {"comparison": "email", "level": "different", "bayes_factor": 0.25, "log2_bayes_factor": -2.0,
     "left": "ann@acme.com", "right": "ann.lee@acme.com"},
]


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    from celery import current_app

    sent = []
    monkeypatch.setattr(current_app, "send_task", lambda name, **kw: sent.append(name))
    return sent


@pytest.fixture
def seeded(tenant_a):
    connection.set_tenant(tenant_a)
    sf, hs = seed_contacts(tenant_a)
    review_pairs_record("contact", [ReviewPair(left=(sf.pk, "003A"), right=(hs.pk, "c9"), probability=0.7,
                                               match_weight=1.58, waterfall=WATERFALL)])
    ids = {"ann_sf": contact_id("003A"), "ann_hs": contact_id("c9"), "bob": contact_id("003B"),
           "item": MatchReview.objects.get().pk, "sf": sf.pk, "hs": hs.pk}
    connection.set_schema_to_public()
    return ids


def _web(tenant, role):
    from django.test import Client

    client = Client(HTTP_HOST=host_of(tenant))
    with schema_context(tenant.schema_name):
        client.force_login(UserFactory(username=f"{role.value}-pages", role=role, unusable_password=True))
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_the_waterfall_runs_from_the_prior_to_the_final_weight():
    chart = waterfall_chart(WATERFALL, 1.58)
    bars = chart["bars"]
    assert [b["kind"] for b in bars] == ["down", "up", "up", "down", "total"]
    assert bars[-1]["weight"] == "+1.58" and bars[1]["values"] == "Ann / Ann"
    # each step starts where the one before it ended: the prior ends left of zero, first_name starts there
    assert bars[0]["x"] == bars[1]["x"] and bars[0]["x"] < chart["zero_x"]
    assert all(0 <= b["x"] and b["x"] + b["w"] <= chart["width"] for b in bars)
    assert waterfall_chart([], None)["bars"][0]["kind"] == "total"
    assert waterfall_chart([{"log2_bayes_factor": "nan"}, "junk"], "x")["total"] == "+0.00"


def test_the_matches_page_lists_pending_pairs_per_entity(web_a, seeded):
    r = web_a.get("/dcl/matches/")
    assert r.status_code == 200
    html = r.content.decode()
    assert f'data-match="{seeded["item"]}"' in html and 'data-count="contact">1<' in html
    assert "70%" in html
    assert 'Matches to review <span class="badge badge-amber nav-count">1</span>' in html
    empty = web_a.get("/dcl/matches/?entity=account").content.decode()  # an entity with nothing: all of them
    assert f'data-match="{seeded["item"]}"' in empty


def test_a_pair_shows_both_records_side_by_side_and_its_waterfall(web_a, seeded):
    r = web_a.get(f"/dcl/matches/{seeded['item']}/")
    assert r.status_code == 200
    html = r.content.decode()
    email = re.search(r'<tr data-field="email">(.*?)</tr>', html, re.S).group(1)
    assert "ann@acme.com" in email and "lee.a@otherco.org" in email and 'class="differs"' in email
    assert html.count('class="wf-row') == 5 and 'data-comparison="first_name · exact"' in html
    assert "<script" not in html.split('id="waterfall"')[1].split("</svg>")[0]
    assert "Approve: the same contact" in html
    assert web_a.get("/dcl/matches/999999/").status_code == 404


def test_approving_on_the_page_records_the_decision_and_moves_on(web_a, seeded, queued,
                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        r = web_a.post(f"/dcl/matches/{seeded['item']}/decide/", {"decision": "approve"}, follow=True)
    assert r.status_code == 200
    assert any("the same contacts" in m for m in _messages(r))
    with schema_context("alpha"):
        assert MatchReview.objects.get().status == "approved"
        assert MatchDecision.objects.get().kind == "must_link"
    assert queued == ["dcl.views_materialize"]
    again = web_a.post(f"/dcl/matches/{seeded['item']}/decide/", {"decision": "reject"}, follow=True)
    assert any("not pending" in m for m in _messages(again))
    junk = web_a.post(f"/dcl/matches/{seeded['item']}/decide/", {"decision": "maybe"}, follow=True)
    assert any("Approve or Reject" in m for m in _messages(junk))


def test_a_viewer_sees_the_pair_but_cannot_decide(tenant_a, seeded):
    viewer = _web(tenant_a, Role.VIEWER)
    html = viewer.get(f"/dcl/matches/{seeded['item']}/").content.decode()
    assert "Approve: the same" not in html and "Operators decide" in html
    assert viewer.post(f"/dcl/matches/{seeded['item']}/decide/", {"decision": "approve"}).status_code == 403
    with schema_context("alpha"):
        assert MatchReview.objects.get().status == "pending"


def test_deciding_on_a_record_deleted_since_says_so_and_merges_nothing(tenant_a, web_a, seeded, queued,
                                                                        django_capture_on_commit_callbacks):
    publish(tenant_a, seeded["hs"], delete_batches(tenant_a, seeded["hs"], ["c9"], generation=2, entity="contact",
                                                    source_object="contacts"))
    stream_consume(tenant=tenant_a, until_idle=True, idle_seconds=0)
    connection.set_schema_to_public()
    with django_capture_on_commit_callbacks(execute=True):
        r = web_a.post(f"/dcl/matches/{seeded['item']}/decide/", {"decision": "approve"}, follow=True)
    assert any("no longer exist" in m and "nothing was changed" in m for m in _messages(r))
    with schema_context("alpha"):
        assert MatchReview.objects.get().status == "pending" and not MatchDecision.objects.exists()
    assert queued == []


def test_a_contact_page_offers_merge_and_a_merged_one_split(web_a, seeded):
    html = web_a.get(f"/dcl/views/contact/{seeded['bob']}/").content.decode()
    assert 'id="record-merge"' in html
    assert 'id="record-split"' not in html  # one source record: nothing to split
    r = web_a.post(f"/dcl/views/contact/{seeded['ann_sf']}/merge/", {"other": seeded["ann_hs"]}, follow=True)
    assert any("Merge recorded" in m for m in _messages(r))
    r = web_a.post(f"/dcl/views/contact/{seeded['bob']}/merge/", {"other": seeded["bob"]}, follow=True)
    assert any("cannot be merged with itself" in m for m in _messages(r))
    r = web_a.post(f"/dcl/views/contact/{seeded['bob']}/merge/", {"other": "con_nobody"}, follow=True)
    assert any("No contact with the id con_nobody" in m for m in _messages(r))
    r = web_a.post(f"/dcl/views/contact/{seeded['bob']}/split/", {"record": [f"{seeded['sf']}:003B"]}, follow=True)
    assert any("moves all" in m for m in _messages(r))
    with schema_context("alpha"):
        assert [d.kind for d in MatchDecision.objects.all()] == ["must_link"]


def test_an_opportunity_page_offers_merge_and_split(web_a, tenant_a):
    """Deals are resolved too (across systems; a person may merge two of one system's)."""
    from tests.pipeline.support import land_and_materialize, opportunity_records

    land_and_materialize(tenant_a, opportunity_records(1))
    with schema_context("alpha"):
        from dcl.selectors import view_rows

        uid = view_rows(entity="opportunity")[0]["unified_id"]
    html = web_a.get(f"/dcl/views/opportunity/{uid}/").content.decode()
    assert 'id="record-resolve"' in html


def test_a_viewer_sees_no_merge_form_and_cannot_post_one(tenant_a, seeded):
    viewer = _web(tenant_a, Role.VIEWER)
    assert 'id="record-merge"' not in viewer.get(f"/dcl/views/contact/{seeded['bob']}/").content.decode()
    r = viewer.post(f"/dcl/views/contact/{seeded['ann_sf']}/merge/", {"other": seeded["ann_hs"]})
    assert r.status_code == 403


def test_an_old_id_redirects_to_its_new_record_page(web_a, seeded):
    with schema_context("alpha"):
        redirects_record("contact", {"con_gone": seeded["bob"]})
    r = web_a.get("/dcl/views/contact/con_gone/")
    assert r.status_code == 301 and r["Location"] == f"/dcl/views/contact/{seeded['bob']}/"
    assert web_a.get("/dcl/views/contact/con_never/").status_code == 404


def test_join_probabilities_show_when_the_lineage_carries_them(web_a, seeded, monkeypatch):
    import dcl.views
    from dcl import selectors

    real = selectors.record_sources

    def with_probability(*, entity, record):
        sources = [{**s, "probability": 0.93} for s in record["sources"]]
        return real(entity=entity, record={**record, "sources": sources})

    plain = web_a.get(f"/dcl/views/contact/{seeded['bob']}/").content.decode()
    assert "Join probability" not in plain
    monkeypatch.setattr(dcl.views, "record_sources", with_probability)
    html = web_a.get(f"/dcl/views/contact/{seeded['bob']}/").content.decode()
    assert "Join probability" in html and re.search(r"data-probability>93%<", html)


def test_the_dashboard_counts_the_matches_to_review(web_a, seeded):
    html = web_a.get("/").content.decode()
    assert re.search(r'id="matches-open">1<', html)
