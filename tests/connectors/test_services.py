"""Connection services: cursors, status, secrets kept out of errors and logs, tenant isolation."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db

from connectors.kinds.hubspot.testserver import FakeHubSpot
from connectors.kinds.salesforce.testserver import FakeSalesforce
from connectors.models import Connection
from connectors.selectors import connection_list, secrets_set
from connectors.services import (
    connection_create,
    connection_cursor_set,
    connection_status_set,
    connection_test,
    connection_update,
)
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


def test_cursor_set_merges_per_object_and_none_forgets(in_tenant_a):
    conn = ConnectionFactory(name="c")
    connection_cursor_set(connection=conn, object_name="a", cursor={"row": 1})
    connection_cursor_set(connection=conn, object_name="b", cursor={"row": 2})
    connection_cursor_set(connection=conn, object_name="a", cursor=None)
    assert Connection.objects.get(pk=conn.pk).cursor == {"b": {"row": 2}}


def test_status_set_masks_secret_values_in_the_stored_error(in_tenant_a):
    conn = ConnectionFactory(name="hs", kind="hubspot", secrets={"access_token": "pat-na1-supersecret"})
    connection_status_set(connection=conn, status="error", error="401 for token pat-na1-supersecret, password=hunter2")
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.status == "error"
    assert "supersecret" not in stored.last_error and "hunter2" not in stored.last_error
    with pytest.raises(ValidationError):
        connection_status_set(connection=conn, status="bogus")


def test_update_merges_secrets_and_validates_the_result(in_tenant_a):
    conn = connection_create(
        name="sf",
        kind="salesforce",
        config={"client_id": "x", "auth_flow": "refresh_token"},
        secrets={"client_secret": "s", "refresh_token": "r"},
    )
    with pytest.raises(ValidationError) as info:
        connection_update(connection=conn, data={"secrets": {"refresh_token": None}})
    assert "secrets.refresh_token" in info.value.message_dict
    conn = connection_update(connection=conn, data={"secrets": {"client_secret": "s2"}})
    assert conn.get_secrets() == {"client_secret": "s2", "refresh_token": "r"}
    assert secrets_set(conn) == ["client_secret", "refresh_token"]


def test_connection_test_with_bad_saas_credentials_records_an_error_without_the_secret(in_tenant_a, caplog):
    caplog.set_level(logging.DEBUG)
    with FakeHubSpot() as hs:
        conn = connection_create(
            name="hs", kind="hubspot", config=hs.config(), secrets={"access_token": "pat-wrong-123"}
        )
        result = connection_test(connection=conn)
        assert len(hs.requests) == 1
        assert hs.requests[0].bearer == "pat-wrong-123"
    assert result.ok is False and "Authentication credentials not found" in result.message
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.status == "error" and "pat-wrong-123" not in stored.last_error
    assert "pat-wrong-123" not in caplog.text


def test_connection_test_with_good_saas_credentials_is_ok(in_tenant_a):
    with FakeSalesforce() as sf:
        conn = connection_create(name="sf", kind="salesforce", config=sf.config(), secrets=sf.secrets())
        result = connection_test(connection=conn)
    assert result.ok, result.message
    assert Connection.objects.get(pk=conn.pk).status == "ok"


def test_connection_test_never_lifts_a_drift_freeze(in_tenant_a, csv_dir):
    conn = ConnectionFactory(name="f", config={"folder": str(csv_dir)})
    connection_status_set(connection=conn, status="frozen")
    assert connection_test(connection=conn).ok
    assert Connection.objects.get(pk=conn.pk).status == "frozen"


def test_connections_of_one_tenant_are_invisible_in_another(tenant_a, tenant_b):
    db.set_tenant(tenant_a)
    ConnectionFactory(name="only-a")
    assert connection_list().count() == 1
    db.set_tenant(tenant_b)
    assert connection_list().count() == 0
    db.set_schema_to_public()
    from autonomos.core.tenancy import TenantRequired

    with pytest.raises(TenantRequired):
        list(connection_list())


def test_secret_models_and_drivers_never_show_secret_values_in_repr_or_str():
    from connectors.kinds.salesforce.config import SalesforceSecrets
    from connectors.registry import build_driver

    secrets = SalesforceSecrets(client_secret="very-secret-value", refresh_token="rt-secret-value")
    for text in (repr(secrets), str(secrets)):
        assert "very-secret-value" not in text and "rt-secret-value" not in text
        assert "client_secret" in text
    drv = build_driver("hubspot", {}, {"access_token": "pat-secret-value"})
    assert "pat-secret-value" not in repr(drv) and "pat-secret-value" not in repr(drv.http)
    assert secrets.client_secret == "very-secret-value"  # values stay usable
