"""Small helpers shared by the agents tests."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection


@contextmanager
def in_schema(tenant):
    """Run ORM code inside `tenant`'s schema, back on public afterwards."""
    connection.set_tenant(tenant)
    try:
        yield tenant
    finally:
        connection.set_schema_to_public()


def make_connection(tenant, *, name: str = "crm", kind: str = "salesforce", **fields):
    from connectors.models import Connection

    with in_schema(tenant):
        return Connection.objects.create(name=name, kind=kind, **fields)


def make_job(tenant, **fields):
    from agents.models import Job

    fields.setdefault("kind", "connect")
    with in_schema(tenant):
        return Job.objects.create(**fields)


def assert_error(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def in_usd(costs):
    """Cost rows as the unified view holds them for a tenant reporting in USD: a line without a currency
    is billed in USD, and its reporting amounts are its own (the same currency converts at 1)."""
    out = []
    for row in costs:
        row = dict(row)
        row.setdefault("billing_currency", "USD")
        if row["billing_currency"] == "USD":
            row["billed_cost_reporting"] = row.get("billed_cost")
            row["effective_cost_reporting"] = row.get("effective_cost")
        row["reporting_currency"] = "USD"
        out.append(row)
    return out
