"""Deletes from MongoDB (mongomock; docs/adr/0021-run-counts.md): each collection's `_id`s are compared
with the DCL's keys by range, in batches; insert, update, delete and re-insert of a deleted key flow
into the view, with the run's counts per object; an emptied collection pauses instead of wiping the
view; the driver's digests equal the Python definition's."""

from __future__ import annotations

import datetime as dt

import mongomock
import pyarrow as pa
import pytest
from bson import ObjectId
from django.db import connection

from aam.ingest import services as ingest
from aam.models import ReviewItem
from connectors.keyranges import digests_of, ranges_differing
from connectors.kinds.mongodb import driver as mongo_driver
from connectors.models import Connection
from connectors.registry import build_driver
from dcl.pipeline import pipeline_run
from dcl.selectors import view_all
from tests.pipeline.support import Mapping

pytestmark = pytest.mark.django_db

MAPPING = {"_id": "id", "name": "name", "website": "website"}
T0 = dt.datetime(2025, 1, 1)


def _doc(i: int, **extra) -> dict:
    return {"_id": ObjectId(f"{i:024x}"), "name": f"Account {i}", "website": f"https://a{i}.example",
            "updated_at": T0 + dt.timedelta(minutes=i), **extra}


@pytest.fixture
def mongo(in_tenant_a, monkeypatch, settings):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True
    client = mongomock.MongoClient()
    client["crm"].accounts.insert_many([_doc(i) for i in range(1, 31)])
    conn = Connection.objects.create(name="mongo", kind="mongodb")

    def driver_for(_conn):
        return build_driver("mongodb", {"database": "crm"}, {"uri": "mongodb://localhost:27017"},
                            client_factory=lambda *a, **k: client)

    monkeypatch.setattr(ingest, "_driver_for", driver_for)
    monkeypatch.setattr(ingest, "_mapping_ensure", lambda c, obj: Mapping("account", MAPPING))
    return client["crm"].accounts, conn


def _names() -> dict[str, str]:
    return {r["id"]: r["name"] for r in view_all(entity="account")}


def _counts(info) -> dict:
    return info.step("changes").details["objects"]["accounts"]


def test_insert_update_delete_and_reinsert_flow_into_the_view_with_their_counts(mongo):
    accounts, conn = mongo
    info = pipeline_run(tenant=connection.tenant, connection=conn)
    assert len(_names()) == 30 and _counts(info) == {"inserted": 30, "updated": 0, "deleted": 0}
    assert info.step("deletes").rows == 0 and info.step("deletes").details["objects"][0]["ranges_differing"] == 0

    gone = [f"{i:024x}" for i in (4, 5, 6)]
    later = T0 + dt.timedelta(days=1)
    accounts.update_one({"_id": ObjectId(f"{2:024x}")}, {"$set": {"name": "Renamed", "updated_at": later}})
    accounts.insert_one(_doc(31, updated_at=T0 + dt.timedelta(days=1)))
    accounts.delete_many({"_id": {"$in": [ObjectId(k) for k in gone]}})
    info = pipeline_run(tenant=connection.tenant, connection=conn)
    names = _names()
    assert len(names) == 28 and names[f"{2:024x}"] == "Renamed" and f"{31:024x}" in names
    assert not set(gone) & set(names)
    assert info.step("deletes").rows == 3
    assert _counts(info) == {"inserted": 1, "updated": 1, "deleted": 3}

    # nothing changed: nothing read, nothing deleted, nothing counted
    info = pipeline_run(tenant=connection.tenant, connection=conn)
    assert info.step("deletes").rows == 0 and _counts(info) == {"inserted": 0, "updated": 0, "deleted": 0}

    # a deleted key comes back: an insert again
    accounts.insert_one(_doc(5, name="Back", updated_at=T0 + dt.timedelta(days=2)))
    info = pipeline_run(tenant=connection.tenant, connection=conn)
    assert _names()[gone[1]] == "Back" and len(_names()) == 29
    assert _counts(info) == {"inserted": 1, "updated": 0, "deleted": 0}
    assert Connection.objects.get(pk=conn.pk).status == "ok"


def test_an_emptied_collection_pauses_the_connection_and_the_view_keeps_its_records(mongo):
    accounts, conn = mongo
    pipeline_run(tenant=connection.tenant, connection=conn)
    accounts.delete_many({})
    info = pipeline_run(tenant=connection.tenant, connection=conn)
    assert info.step("deletes").details["paused"] and len(_names()) == 30
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.PAUSED
    item = ReviewItem.objects.get(kind="deletes", connection=conn)
    assert (item.proposal["deletes"], item.proposal["held"]) == (30, 30)
    assert _counts(info) == {"inserted": 0, "updated": 0, "deleted": 0}


def test_the_drivers_digests_and_ranges_agree_with_the_python_definition(monkeypatch, settings):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True
    monkeypatch.setattr(mongo_driver, "KEY_BATCH", 7)  # several batches, their digests added up
    client = mongomock.MongoClient()
    ids = [ObjectId(f"{i:024x}") for i in range(1, 24)] + [42, "text-key", " padded "]
    client["crm"].things.insert_many([{"_id": i, "n": 1} for i in ids])
    drv = build_driver("mongodb", {"database": "crm"}, {"uri": "mongodb://localhost:27017"},
                       client_factory=lambda *a, **k: client)
    keys = [str(i).strip() for i in ids]  # the pipeline's _source_id: the _id as text, trimmed
    buckets = 8
    assert drv.deletes_mode("things") == "key_ranges"
    assert ranges_differing(drv.key_digests("things", buckets), digests_of(keys, buckets)) == []
    theirs = digests_of(keys[:-3], buckets)  # three keys the "DCL" does not have
    ranges = ranges_differing(drv.key_digests("things", buckets), theirs)
    listed = set(drv.keys_in_ranges("things", buckets, ranges))
    assert {"42", "text-key", "padded"} <= listed and listed <= set(keys)
    assert pa.array(sorted(listed)).type == pa.string()
