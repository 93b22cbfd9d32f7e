"""Dashboard test fixtures.

`web_a` / `web_b` here log in inside the tenant's schema: users and sessions live there, and the
root conftest's `web_a` logs in while the connection is on the public schema (where no user exists).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from tests.conftest import PASSWORD, host_of


def _session_client(tenant) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    connection.set_tenant(tenant)
    try:
        assert client.login(username="admin", password=PASSWORD)
    finally:
        connection.set_schema_to_public()
    return client


@pytest.fixture
def web_a(tenant_a):
    """A Django test client on alpha's host, logged in with a session."""
    return _session_client(tenant_a)


@pytest.fixture
def web_b(tenant_b):
    return _session_client(tenant_b)
