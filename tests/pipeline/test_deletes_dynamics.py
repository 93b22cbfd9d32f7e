"""Deletes from Dynamics 365 through change tracking (docs/adr/0021-run-counts.md), against the local
Dataverse server: the first read asks `Prefer: odata.track-changes` and keeps the delta link; the
next reads GET it and the removed entities (`$deletedEntity`) go through the delete stage and its
guard. Insert, update, delete, re-insert (a restored record keeps its id), with the run's counts;
a mass removal pauses; an expired delta link reads the entity again from the start."""

import datetime as dt
import uuid

import pytest
from django.db import connection

from aam import deletes_review
from aam.drift.review import review_decide
from aam.ingest import services as ingest
from aam.models import ReviewItem
from connectors.kinds.dynamics.testserver import FakeDynamics, dyn_datetime, make_accounts
from connectors.models import Connection
from connectors.services import connection_create
from dcl.pipeline import pipeline_run
from dcl.selectors import view_all
from tests.pipeline.support import Mapping

pytestmark = pytest.mark.django_db

MAPPING = {"accountid": "id", "name": "name", "websiteurl": "website"}
LATER = dyn_datetime(dt.datetime(2025, 6, 1, tzinfo=dt.UTC))


@pytest.fixture
def env(in_tenant_a, settings, monkeypatch):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True  # the test server listens on 127.0.0.1
    monkeypatch.setattr(ingest, "_mapping_ensure", lambda conn, obj: Mapping("account", MAPPING))
    with FakeDynamics(records=make_accounts(12), max_page=5) as dyn:
        conn = connection_create(name="dyn", kind="dynamics", config=dyn.config(), secrets=dyn.secrets())
        yield dyn, conn


def _names() -> dict[str, str]:
    return {r["id"]: r["name"] for r in view_all(entity="account")}


def _counts(info) -> dict:
    return info.step("changes").details["objects"]["account"]


def _run(conn):
    return pipeline_run(tenant=connection.tenant, connection=conn)


def test_insert_update_delete_and_restore_flow_into_the_view_with_their_counts(env):
    dyn, conn = env
    info = _run(conn)
    assert len(_names()) == 12 and _counts(info) == {"inserted": 12, "updated": 0, "deleted": 0}
    conn.refresh_from_db()
    assert "$deltatoken=" in conn.cursor["account"]["delta"]
    tracked = [r for r in dyn.requests if r.path.endswith("/accounts") and "odata.track-changes" in
               r.headers.get("prefer", "")]
    assert tracked and not any(r.query.get("$filter") or r.query.get("$orderby") for r in tracked)

    records = dyn.entities["account"]["records"]
    records[3].update(name="Renamed 3", modifiedon=LATER)
    gone = records.pop(5)
    records.append({**make_accounts(13)[12], "modifiedon": LATER})
    info = _run(conn)
    names = _names()
    assert len(names) == 12 and names[records[3]["accountid"]] == "Renamed 3" and gone["accountid"] not in names
    assert str(uuid.UUID(int=13)) in names
    assert info.step("deletes").rows == 1 and info.step("deletes").details["objects"][0]["mode"] == "change_tracking"
    assert _counts(info) == {"inserted": 1, "updated": 1, "deleted": 1}
    assert any(r.query.get("$deltatoken") for r in dyn.requests)

    # nothing changed: an empty delta, nothing counted
    info = _run(conn)
    assert info.step("deletes").rows == 0 and _counts(info) == {"inserted": 0, "updated": 0, "deleted": 0}

    # restored from the recycle bin, with its id: an insert again
    records.append({**gone, "name": "Restored", "modifiedon": LATER})
    info = _run(conn)
    assert _names()[gone["accountid"]] == "Restored" and len(_names()) == 13
    assert _counts(info) == {"inserted": 1, "updated": 0, "deleted": 0}
    assert Connection.objects.get(pk=conn.pk).status == "ok"


def test_a_mass_removal_pauses_and_approval_applies_it_through_a_full_read(
        env, monkeypatch, django_capture_on_commit_callbacks):
    dyn, conn = env
    requested = []
    monkeypatch.setattr(deletes_review, "pipeline_run_request", lambda **kw: requested.append(kw))
    _run(conn)
    dyn.entities["account"]["records"] = dyn.entities["account"]["records"][:3]
    info = _run(conn)
    assert info.step("deletes").details["paused"] and len(_names()) == 12
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.PAUSED
    item = ReviewItem.objects.get(kind="deletes", connection=conn)
    assert (item.proposal["deletes"], item.proposal["held"]) == (9, 12)
    assert _counts(info) == {"inserted": 0, "updated": 0, "deleted": 0}

    # the delta moved on; a full read (what approval asks for) finds the same removals by key
    with django_capture_on_commit_callbacks(execute=True):
        review_decide(item=item, decision="approve", note="the accounts were merged away")
    assert requested == [{"connection_id": conn.pk, "schema": connection.schema_name, "full": True,
                          "trigger": "review"}]
    info = pipeline_run(tenant=connection.tenant, connection=Connection.objects.get(pk=conn.pk), full=True)
    assert info.step("deletes").rows == 9 and len(_names()) == 3
    assert _counts(info) == {"inserted": 0, "updated": 3, "deleted": 9}


def test_an_expired_delta_link_reads_the_entity_from_the_start_and_compares_every_key(env):
    dyn, conn = env
    _run(conn)
    dyn.expire_deltas()
    dyn.entities["account"]["records"].pop(0)
    info = _run(conn)
    assert info.step("deletes").rows == 1 and len(_names()) == 11
    assert _counts(info) == {"inserted": 0, "updated": 11, "deleted": 1}
    conn.refresh_from_db()
    assert "$deltatoken=" in conn.cursor["account"]["delta"]
