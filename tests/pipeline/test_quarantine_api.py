"""/api/aam/quarantine/: what could not land, with the reason; per tenant."""

import pytest
from django.db import connection

from aam.ingest.normalize import Rejected
from aam.ingest.quarantine import quarantine_records
from connectors.models import Connection
from tests.conftest import host_of

pytestmark = pytest.mark.django_db


def _quarantine(tenant, name="SF"):
    connection.set_tenant(tenant)
    conn = Connection.objects.create(name=name, kind="salesforce")
    quarantine_records(
        connection=conn,
        source_object="Opportunity",
        entity="opportunity",
        mapping_version=2,
        schema_fingerprint="fp",
        rejected=[
            Rejected(
                position=4,
                source_id="006A",
                reason="amount: 'a lot' is not a number",
                raw={"Id": "006A", "Amount": "a lot"},
            ),
            Rejected(position=9, source_id="", reason="unterminated quote", raw={"_raw": 'x,"y'}),
        ],
    )
    connection.set_schema_to_public()
    return conn


def test_quarantined_records_are_listed_with_reason_position_and_raw_record(api_a, tenant_a):
    conn = _quarantine(tenant_a)
    body = api_a.get(f"/api/aam/quarantine/?connection={conn.pk}").json()
    assert body["count"] == 2
    first = body["results"][-1]
    assert (first["position"], first["source_id"], first["raw"]["Amount"]) == (4, "006A", "a lot")
    assert "not a number" in first["reason"] and first["mapping_version"] == 2
    assert api_a.get("/api/aam/quarantine/?entity=account").json()["count"] == 0


def test_a_bad_connection_filter_is_a_400(api_a):
    response = api_a.get("/api/aam/quarantine/?connection=abc")
    assert response.status_code == 400 and "error" in response.json()


def test_another_tenants_quarantine_is_invisible(api_a, api_b, tenant_b):
    _quarantine(tenant_b)
    assert api_a.get("/api/aam/quarantine/").json()["count"] == 0
    assert api_b.get("/api/aam/quarantine/").json()["count"] == 2
    assert api_a.get("/api/aam/quarantine/", HTTP_HOST=host_of(tenant_b)).status_code == 401
