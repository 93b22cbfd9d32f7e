"""Data that the cross-tenant tests write into one tenant and look for from the other.

Apps register a seeder here (a function taking no arguments, run inside the tenant's schema) that
creates at least one row of their models whose API representation contains MARKER.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection

MARKER = "zz-isolation-marker-7f3a"
SEEDERS: list[Callable[[], None]] = []


def seeder(func: Callable[[], None]) -> Callable[[], None]:
    SEEDERS.append(func)
    return func


@seeder
def _events():
    from autonomos.core.events import publish_event

    publish_event(connection.tenant, "isolation_probe", {"note": MARKER})


@seeder
def _drift_and_review():
    from aam.models import DriftEvent, ReviewItem
    from connectors.models import Connection

    conn = Connection.objects.create(name=f"{MARKER} source", kind="salesforce")
    item = ReviewItem.objects.create(kind="drift", title=f"{MARKER} review", proposal={"note": MARKER})
    DriftEvent.objects.create(
        connection=conn,
        source_object=MARKER,
        kind="added",
        field=MARKER,
        status="pending",
        policy="auto",
        review_item=item,
    )


@seeder
def _aam_mappings():
    from aam.services import mapping_ensure
    from connectors.models import Connection

    conn = Connection.objects.create(name=f"{MARKER} crm", kind="salesforce")
    mapping_ensure(connection=conn, source_object={"name": f"{MARKER}_Account", "fields": [
        {"name": "Id", "samples": ["0015500000Xyy06AAB"]}, {"name": "Name", "samples": [MARKER]}]})


@seeder
def _agents():
    from agents.models import AgentRun, DiscoveryLog, Job

    job = Job.objects.create(kind="agents", status="succeeded", step=MARKER)
    AgentRun.objects.create(agent="revops", status="succeeded", job=job, narrative=MARKER, metrics={"note": MARKER})
    DiscoveryLog.objects.create(kind="discover", backend="builtin", query=MARKER)


def seed_tenant_data(tenant) -> None:
    connection.set_tenant(tenant)
    try:
        for func in SEEDERS:
            func()
    finally:
        connection.set_schema_to_public()
