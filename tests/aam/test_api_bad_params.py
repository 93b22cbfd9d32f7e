"""/api/aam/quarantine/ and /api/aam/mappings/<connection>/<object>/ with parameters PostgreSQL or int()
cannot take (a NUL byte, a Unicode digit that is not 0-9): a 400 with a clear message, never a 500."""

import pytest
from django.db import connection as db

from aam.ingest.normalize import Rejected
from aam.ingest.quarantine import quarantine_records
from connectors.models import Connection

from .test_api import mapped_connection

pytestmark = pytest.mark.django_db

NUL_MESSAGE = "Null characters are not allowed."


def _quarantined(tenant):
    db.set_tenant(tenant)
    conn = Connection.objects.create(name="SF", kind="salesforce")
    quarantine_records(
        connection=conn,
        source_object="Opportunity",
        entity="opportunity",
        mapping_version=1,
        schema_fingerprint="fp",
        rejected=[Rejected(position=2, source_id="006A", reason="amount: 'x' is not a number", raw={"Id": "006A"})],
    )
    db.set_schema_to_public()
    return conn


@pytest.mark.parametrize("param", ["source_object", "entity"])
def test_a_nul_byte_in_a_quarantine_filter_is_a_400(api_a, param):
    response = api_a.get(f"/api/aam/quarantine/?{param}=%00")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"][param] == [NUL_MESSAGE]


@pytest.mark.parametrize("value", ["%C2%B2", "1%00", "-1", "abc", "99999999999999999999"])
def test_a_connection_filter_that_is_not_an_integer_id_is_a_400(api_a, value):
    response = api_a.get(f"/api/aam/quarantine/?connection={value}")
    assert response.status_code == 400, response.content
    assert "connection" in response.json()["error"]["details"]


def test_the_quarantine_filters_still_filter(api_a, tenant_a):
    conn = _quarantined(tenant_a)
    assert api_a.get(f"/api/aam/quarantine/?connection={conn.pk}").json()["count"] == 1
    assert api_a.get(f"/api/aam/quarantine/?connection={conn.pk + 1}").json()["count"] == 0
    assert api_a.get("/api/aam/quarantine/?connection=0").json()["count"] == 0
    assert api_a.get("/api/aam/quarantine/?source_object=Opportunity&entity=opportunity").json()["count"] == 1
    assert api_a.get("/api/aam/quarantine/?source_object=&entity=").json()["count"] == 1
    assert api_a.get("/api/aam/quarantine/?entity=account").json()["count"] == 0


def test_a_nul_byte_in_the_mapping_path_is_a_400(api_a, tenant_a):
    conn = mapped_connection(tenant_a)
    assert api_a.get(f"/api/aam/mappings/{conn.pk}/Account/").status_code == 200
    response = api_a.get(f"/api/aam/mappings/{conn.pk}/a%00b/")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"]["source_object"] == [NUL_MESSAGE]
    assert api_a.get(f"/api/aam/mappings/{conn.pk}/Nope/").status_code == 404
