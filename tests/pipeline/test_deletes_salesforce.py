"""Deletes from Salesforce through its test server (docs/adr/0019-deletes.md): the incremental read
goes through `queryAll`, a record in the recycle bin comes back with `IsDeleted` true and becomes a
canonical delete; insert, update, delete, undelete, and a full re-read that keeps deleted records out."""

import datetime as dt

import pytest
from django.db import connection

from aam.ingest import services as ingest
from connectors.kinds.salesforce.testserver import FakeSalesforce, make_accounts, sf_datetime
from connectors.services import connection_create
from dcl.pipeline import pipeline_run
from dcl.selectors import view_all
from tests.pipeline.support import Mapping, duck_rows

pytestmark = pytest.mark.django_db

MAPPING = {"Id": "id", "Name": "name", "AnnualRevenue": "annual_revenue", "BillingCity": "city"}
LATER = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def org(in_tenant_a, settings, monkeypatch):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True  # the test server listens on 127.0.0.1
    monkeypatch.setattr(ingest, "_mapping_ensure", lambda conn, obj: Mapping("account", MAPPING))
    with FakeSalesforce(objects={"Account": make_accounts(12)}) as sf:
        conn = connection_create(name="sf", kind="salesforce", config=sf.config(), secrets=sf.secrets())
        yield sf, conn


def _names() -> set[str]:
    return {r["name"] for r in view_all(entity="account")}


def test_a_record_deleted_in_salesforce_leaves_the_view_and_an_undeleted_one_comes_back(org):
    sf, conn = org
    pipeline_run(tenant=connection.tenant, connection=conn)
    assert len(_names()) == 12

    accounts = sf.objects["Account"]
    sf.delete("Account", accounts[3]["Id"], LATER)
    sf.delete("Account", accounts[4]["Id"], LATER + dt.timedelta(seconds=1))
    accounts[5].update(Name="Renamed 5", SystemModstamp=sf_datetime(LATER + dt.timedelta(seconds=2)))
    accounts.append({**make_accounts(13)[12], "SystemModstamp": sf_datetime(LATER + dt.timedelta(seconds=3))})
    info = pipeline_run(tenant=connection.tenant, connection=conn)
    assert info.step("read", conn.pk).rows == 4  # two deletes, one update, one insert: the changes only
    names = _names()
    assert len(names) == 11 and "Account 3" not in names and "Account 4" not in names
    assert "Renamed 5" in names and "Account 12" in names
    assert duck_rows(connection.tenant, "SELECT count(*) FROM src_account WHERE _deleted") == [(2,)]

    # a full re-read (queryAll returns the recycle bin too) keeps them deleted
    pipeline_run(tenant=connection.tenant, connection=conn, full=True)
    assert len(_names()) == 11

    # undeleted in Salesforce: back in the view
    accounts[3].update(IsDeleted=False, SystemModstamp=sf_datetime(LATER + dt.timedelta(minutes=5)))
    pipeline_run(tenant=connection.tenant, connection=conn)
    assert "Account 3" in _names() and len(_names()) == 12


def test_only_the_incremental_read_asks_query_all_and_query_never_sees_the_recycle_bin(org):
    sf, conn = org
    sf.delete("Account", sf.objects["Account"][0]["Id"], LATER)
    pipeline_run(tenant=connection.tenant, connection=conn)
    paths = [r.path for r in sf.requests]
    assert any(p.endswith("/queryAll") for p in paths)
    assert len(_names()) == 11 and "Account 0" not in _names()
