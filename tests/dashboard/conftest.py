"""Dashboard test fixtures: `web_b` mirrors the root `web_a` for the second tenant."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from tests.conftest import PASSWORD, host_of


@pytest.fixture
def web_b(tenant_b):
    """A Django test client on beta's host, logged in with a session (users live in beta's schema)."""
    client = Client(HTTP_HOST=host_of(tenant_b))
    connection.set_tenant(tenant_b)
    try:
        assert client.login(username="admin", password=PASSWORD)
    finally:
        connection.set_schema_to_public()
    return client
