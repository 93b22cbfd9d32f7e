"""Deletes from HubSpot through its test server (docs/adr/0019-deletes.md): after each incremental
search the driver lists the records archived since the cursor; each becomes a canonical delete.
Insert, update, archive, restore."""

import datetime as dt

import pytest
from django.db import connection

from aam.ingest import services as ingest
from connectors.kinds.hubspot.testserver import FakeHubSpot, hs_datetime, make_companies
from connectors.services import connection_create
from dcl.pipeline import pipeline_run
from dcl.selectors import view_all
from tests.pipeline.support import Mapping, duck_rows

pytestmark = pytest.mark.django_db

MAPPING = {"hs_object_id": "id", "name": "name", "domain": "website"}
LATER = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def portal(in_tenant_a, settings, monkeypatch):
    settings.CONNECTORS_ALLOW_PRIVATE_NETWORK = True  # the test server listens on 127.0.0.1
    monkeypatch.setattr(ingest, "_mapping_ensure", lambda conn, obj: Mapping("account", MAPPING))
    with FakeHubSpot(objects={"companies": make_companies(8)}) as hs:
        conn = connection_create(name="hs", kind="hubspot", config=hs.config(), secrets=hs.secrets())
        yield hs, conn


def _names() -> set[str]:
    return {r["name"] for r in view_all(entity="account")}


def test_an_archived_company_leaves_the_view_and_a_restored_one_comes_back(portal):
    hs, conn = portal
    pipeline_run(tenant=connection.tenant, connection=conn)
    assert len(_names()) == 8

    companies = hs.objects["companies"]
    target = companies[2]["hs_object_id"]
    hs.archive("companies", target, LATER)
    companies[4].update(name="Renamed 4", hs_lastmodifieddate=hs_datetime(LATER))
    companies.append({**make_companies(9)[8], "hs_lastmodifieddate": hs_datetime(LATER)})
    pipeline_run(tenant=connection.tenant, connection=conn)
    names = _names()
    assert "Company 2" not in names and "Renamed 4" in names and "Company 8" in names and len(names) == 8
    assert duck_rows(connection.tenant, f"SELECT _deleted FROM src_account WHERE _source_id = '{target}'") == [
        (True,)
    ]
    assert any(r.query.get("archived") == "true" for r in hs.requests if hasattr(r, "query"))

    hs.restore("companies", target, LATER + dt.timedelta(minutes=5))
    pipeline_run(tenant=connection.tenant, connection=conn)
    assert "Company 2" in _names() and len(_names()) == 9
