"""Entity resolution of deals (issue #19): a company that moved from Salesforce to HubSpot has its old
deals in both; the unified opportunity view shows each deal once — its freshest record, under a stable
id, with both records' lineage — and stays change-proportional (docs/adr/0028-entity-resolution.md)."""

import re

import pytest

from connectors.models import Connection
from dcl import store
from dcl.models import MatchReview, UnifiedIdRedirect
from dcl.selectors import view_all
from dcl.services import views_materialize
from tests.dcl.test_incremental import _account, _accounts, _rows
from tests.pipeline.support import batches_for, delete_batches, publish

pytestmark = pytest.mark.django_db

PRODUCTS = ["Platform License", "Analytics Add-on", "Premium Support", "Data Migration", "Enterprise Expansion",
            "Renewal", "Pilot", "Training Package"]
# SF deals that HubSpot holds again, and how the copy differs: the same, its name typed otherwise, its
# amount rounded, its close date moved a few days
COPIES = {0: "same", 3: "upper", 5: "same", 9: "spacing", 14: "amount", 22: "same", 30: "date", 37: "same"}


def _deal(i: int, *, account: str, name: str, amount: float, close: str, at: str, prefix: str = "006") -> dict:
    return {"Id": f"{prefix}{i:05d}", "AccountId": account, "Name": name, "StageName": "Prospecting",
            "Amount": f"{amount:.2f}", "CloseDate": close, "IsWon": "false", "LastModifiedDate": at}


def _sf_deal(i: int, at: str = "2025-06-01T00:00:00Z", amount: float | None = None) -> dict:
    day = 1 + (i * 13) % 28
    return _deal(i, account=f"001{i % 7:015d}", name=f"Company {i % 7} - {PRODUCTS[i % 8]}",
                 amount=amount if amount is not None else 1000 + (i * 7919) % 50000,
                 close=f"2026-{1 + i % 12:02d}-{day:02d}", at=at)


def _copy(i: int, how: str) -> dict:
    sf = _sf_deal(i)
    name, amount, close = sf["Name"], float(sf["Amount"]), sf["CloseDate"]
    if how == "upper":
        name = name.upper()
    elif how == "spacing":
        name = name.replace(" - ", " – ").replace("  ", " ")
    elif how == "amount":
        amount = round(amount * 1.004)
    elif how == "date":
        close = close[:-2] + f"{min(int(close[-2:]) + 4, 28):02d}"
    return _deal(i, account=f"hsA{i % 7}", name=name, amount=amount, close=close, at="2026-01-15T00:00:00Z",
                 prefix="hs")


def _hs_accounts() -> list[dict]:
    return [dict(_account(j), Id=f"hsA{j}") for j in range(7)]


@pytest.fixture
def two_crms(in_tenant_a):
    """SF with 7 accounts and 40 deals (materialized alone first: one system, no resolution); then HubSpot
    with the same 7 companies, 8 of SF's deals again, 3 of its own and one deal that only looks like one
    of SF's (the same name at the same company, another amount and a date months apart)."""
    tenant = in_tenant_a
    sf = Connection.objects.create(name="SF", kind="salesforce")
    _accounts(tenant, sf, [_account(j) for j in range(7)])
    publish(tenant, sf.pk, batches_for(tenant, sf.pk, [_sf_deal(i) for i in range(40)]))
    report: dict = {}
    views_materialize(tenant=tenant, report=report)
    assert "resolution" not in report["opportunity"]  # one system: its deals are distinct
    assert len(view_all(entity="opportunity")) == 40
    hs = Connection.objects.create(name="HS", kind="hubspot")
    _accounts(tenant, hs, _hs_accounts())
    deals = [_copy(i, how) for i, how in COPIES.items()]
    deals += [_deal(100 + k, account=f"hsA{k}", name=f"Company {k} - New Logo {k}", amount=5000 + k,
                    close="2026-09-30", at="2026-01-10T00:00:00Z", prefix="hs") for k in range(3)]
    lookalike = _sf_deal(13)
    deals.append(_deal(200, account="hsA6", name=lookalike["Name"], amount=float(lookalike["Amount"]) * 3 + 7,
                       close="2027-11-20", at="2026-01-10T00:00:00Z", prefix="hs"))
    publish(tenant, hs.pk, batches_for(tenant, hs.pk, deals, source_object="deals"))
    report = {}
    views_materialize(tenant=tenant, report=report)
    return tenant, sf, hs, report


def _without_probabilities(rows: list[dict]) -> list[dict]:
    for row in rows:
        for source in row["sources"]:
            source.pop("probability", None)
    return rows


def _by_source(rows) -> dict[str, dict]:
    return {s["source_id"]: r for r in rows for s in r["sources"]}


def test_a_deal_in_two_systems_is_one_row_with_both_records(two_crms):
    tenant, sf, hs, report = two_crms
    assert report["opportunity"]["mode"] == "full"  # resolution began: the view's shape of rows changed
    assert report["opportunity"]["resolution"]["merged_records"] == 16
    rows = view_all(entity="opportunity")
    assert len(rows) == 40 + 12 - 8
    by_source = _by_source(rows)
    for i in COPIES:
        row = by_source[f"006{i:05d}"]
        assert row is by_source[f"hs{i:05d}"] and row["source_count"] == 2
        assert {(s["connection_id"], s["source_id"]) for s in row["sources"]} == {(sf.pk, f"006{i:05d}"),
                                                                                (hs.pk, f"hs{i:05d}")}
        assert all(s["probability"] >= 0.9 for s in row["sources"])
        # the freshest record's values: HubSpot's copy was edited last
        assert row["id"] == f"hs{i:05d}" and row["name"] == _copy(i, COPIES[i])["Name"]
    assert float(by_source["00600014"]["amount"]) == round((1000 + (14 * 7919) % 50000) * 1.004)
    # the lookalike (same name and company, another amount, a date months later) stays a deal of its own
    assert by_source["hs00200"] is not by_source["00600013"] and by_source["hs00200"]["source_count"] == 1
    # SF's deals kept the ids they had before resolution began (the older record's id wins)
    with store.read_only(tenant) as con:
        own = dict(con.execute(f"""SELECT _source_id, 'opp_' || substr(md5(_connection_id || ':' || _source_id), 1, 20)
                                   FROM src_opportunity WHERE _connection_id = {sf.pk}""").fetchall())
    for i in COPIES:
        assert by_source[f"006{i:05d}"]["unified_id"] == own[f"006{i:05d}"]
    # the copies' own ids point at the deal they are part of
    assert UnifiedIdRedirect.objects.filter(entity="opportunity").count() == 8
    assert not MatchReview.objects.filter(entity="opportunity", status=MatchReview.Status.PENDING,
                                          left_source_id="00600013").exists()


def test_changes_to_clustered_deals_publish_only_their_clusters_and_equal_a_rebuild(two_crms):
    tenant, sf, hs, _ = two_crms
    # SF's record of a merged deal edited now: it becomes the freshest, its amount is the row's
    publish(tenant, sf.pk, batches_for(tenant, sf.pk, [_sf_deal(0, at="2026-02-01T00:00:00Z", amount=77777)],
                                       generation=1))
    # a HubSpot copy deleted: the SF deal is alone again, under its own id
    publish(tenant, hs.pk, delete_batches(tenant, hs.pk, ["hs00005"], generation=1, source_object="deals"))
    # another SF deal copied to HubSpot now, and an unmerged deal edited
    publish(tenant, hs.pk, batches_for(tenant, hs.pk, [_copy(11, "same")], source_object="deals", generation=1))
    publish(tenant, sf.pk, batches_for(tenant, sf.pk, [_sf_deal(20, at="2026-02-01T00:00:00Z", amount=42)],
                                       generation=1))
    report: dict = {}
    views_materialize(tenant=tenant, report=report)
    assert report["opportunity"]["mode"] == "delta"
    # the clusters of deals 0, 5 and 11 (two records each) and deal 20
    assert report["opportunity"]["dirty"] == 7 and report["opportunity"]["written"] == 4
    rows = view_all(entity="opportunity")
    by_source = _by_source(rows)
    assert float(by_source["00600000"]["amount"]) == 77777 and by_source["00600000"]["source_count"] == 2
    assert by_source["00600005"]["source_count"] == 1 and "hs00005" not in by_source
    assert by_source["00600011"] is by_source["hs00011"]
    assert len(rows) == 44
    # a whole rebuild (which retrains the model, so the probabilities may move in their last digits)
    # gives the same rows
    kept = _without_probabilities(_rows("opportunity"))
    views_materialize(tenant=tenant, full=True)
    assert kept == _without_probabilities(_rows("opportunity"))


def test_one_system_again_ends_resolution_and_people_can_still_merge(two_crms):
    tenant, sf, hs, _ = two_crms
    from dcl.services import connection_records_remove

    connection_records_remove(tenant=tenant, connection_id=hs.pk)
    rows = view_all(entity="opportunity")
    assert len(rows) == 40 and {r["source_count"] for r in rows} == {1}
    with store.read_only(tenant) as con:
        assert "_er_opportunity" not in store.existing_tables(con)
    # two deals of one system a person says are one: a must-link is honoured although the model never
    # compares a system's deals with each other
    from dcl.resolution.decisions import merge

    a, b = (r["unified_id"] for r in rows[:2])
    merge("opportunity", [a, b], user=None)
    views_materialize(tenant=tenant)
    rows = view_all(entity="opportunity")
    assert len(rows) == 39 and [r["source_count"] for r in rows if r["unified_id"] == a] == [2]


def test_a_copy_joins_its_original_not_a_look_alike_in_the_same_system(two_crms):
    """A system's deals are distinct: when a copy links strongly to two of one system's deals (the
    original and a look-alike: same name and amount, closing weeks later), it joins the stronger link
    and the look-alike stays a deal of its own — a cluster holds at most one record per system."""
    tenant, sf, hs, _ = two_crms
    original = _sf_deal(22)
    day = int(original["CloseDate"][-2:])
    moved = original["CloseDate"][:-2] + f"{day + 20 if day <= 8 else day - 20:02d}"  # three weeks apart
    look_alike = dict(original, Id="00600090", CloseDate=moved)
    publish(tenant, sf.pk, batches_for(tenant, sf.pk, [look_alike], generation=1))
    views_materialize(tenant=tenant)
    with store.read_only(tenant) as con:
        p = con.execute("SELECT p FROM _er_edges_opportunity WHERE uid_l = ? AND uid_r = ?",
                        sorted([f"{sf.pk}:00600090", f"{hs.pk}:hs00022"])).fetchone()
    assert p is not None and p[0] >= 0.9  # the model alone would have put all three together
    by_source = _by_source(view_all(entity="opportunity"))
    assert by_source["hs00022"] is by_source["00600022"] and by_source["hs00022"]["source_count"] == 2
    assert by_source["00600090"]["source_count"] == 1


def test_the_deal_page_shows_both_records_and_why_they_are_one(two_crms, web_a):
    from django.db import connection

    from dcl.resolution.records import record_explanations

    tenant, sf, hs, _ = two_crms
    connection.set_tenant(tenant)
    row = _by_source(view_all(entity="opportunity"))["00600030"]  # its copy's close date moved 4 days
    [why] = record_explanations(entity="opportunity", records=[(s["connection_id"], s["source_id"])
                                                               for s in row["sources"]])
    assert why["kind"] == "model" and why["probability"] >= 0.9
    steps = {w["comparison"]: w for w in why["waterfall"]}
    assert steps["name"]["log2_bayes_factor"] > 0 and steps["amount"]["log2_bayes_factor"] > 0
    assert steps["close_date"]["level"] == "close dates within 7 days"
    assert steps["account"]["log2_bayes_factor"] > 0
    page = web_a.get(f"/dcl/views/opportunity/{row['unified_id']}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="record-why"' in html and "00600030" in html and "hs00030" in html


def test_a_deal_pair_to_review_shows_both_deals_side_by_side(two_crms, web_a):
    from django.db import connection

    from dcl.resolution.review import ReviewPair, review_pairs_record

    tenant, sf, hs, _ = two_crms
    connection.set_tenant(tenant)
    waterfall = [{"comparison": "prior", "level": "two records at random", "bayes_factor": 0.001,
                  "log2_bayes_factor": -9.97, "left": None, "right": None},
                 {"comparison": "name", "level": "Exact match on name", "bayes_factor": 32.0, "log2_bayes_factor": 5.0,
                  "left": "company 6 - renewal", "right": "company 6 - renewal"}]
    review_pairs_record("opportunity", [ReviewPair(left=(sf.pk, "00600013"), right=(hs.pk, "hs00200"),
                                                   probability=0.7, match_weight=1.2, waterfall=waterfall)])
    item = MatchReview.objects.get(entity="opportunity", status=MatchReview.Status.PENDING)
    page = web_a.get(f"/dcl/matches/{item.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    amounts = re.search(r'<tr data-field="amount">(.*?)</tr>', html, re.S).group(1)
    assert 'class="differs"' in amounts  # the look-alike's amount is another
    assert "Approve: the same opportunity" in html
    assert html.count('class="wf-row') == 3  # the prior, the name, the final weight
