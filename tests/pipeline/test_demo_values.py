"""After the demo is seeded (the demo exports, connected and synced the way `make run`'s seed_demo does),
every canonical column of every demo view holds a value of the ontology's value set, or NULL while
the value awaits review (the pending state beside it, the source's own value kept)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from aam.ontology import get_ontology
from aam.values.vocab import is_canonical
from connectors.demo import generate
from connectors.services import demo_connections_ensure
from dcl.models import MaterializedView
from dcl.unify import view_spec

pytestmark = pytest.mark.django_db


def test_every_canonical_column_of_every_demo_view_is_vocabulary_or_pending(in_tenant_a):
    tenant = connection.tenant
    out = settings.DATA_DIR / "demo-exports"
    generate(out)
    demo_connections_ensure(directory=out)
    call_command("sync", tenant=tenant.slug)
    connection.set_tenant(tenant)  # the command leaves the connection on the public schema
    views = {v.entity: v for v in MaterializedView.objects.all()}
    assert set(views) == {"account", "contact", "opportunity", "cost", "cloud_resource", "quota"}
    ontology = get_ontology()
    assert not ontology.entity("quota").value_fields()  # quotas carry no canonical value set (ADR 0029)
    checked = 0
    for entity, view in ((e, v) for e, v in views.items() if e != "quota"):
        names = [c["name"] for c in view.columns]
        fields = [f for f in ontology.entity(entity).value_fields() if f.name in names]
        assert fields, entity
        spec_values = view_spec(entity, {f: "string" for f in ontology.entity(entity).field_names()}).values
        for f in fields:
            source = spec_values[f.name].source_column or f"{spec_values[f.name].reads}_source"
            with connection.cursor() as cur:
                cur.execute(
                    f'SELECT "{f.name}", "{f.name}_status", "{source}", count(*) FROM '
                    f'{tenant.schema_name}.dcl_view_{entity} GROUP BY 1, 2, 3'
                )
                rows = cur.fetchall()
            for value, state, raw, n in rows:
                checked += n
                if value is not None:
                    assert is_canonical(entity, f.name, value), (entity, f.name, value, raw)
                    # mapped from the record's own value, or (a currency the record lacks) its connection's
                    assert state == "mapped" or (state == "default" and f.value_set.kind == "iso4217"
                                                 and raw is None), (entity, f.name, value, state)
                elif state is not None:
                    # no canonical value: awaiting review, or a placeholder (N/A, -) that means none
                    assert state in ("pending", "none"), (entity, f.name, raw, state)
                    assert raw is not None, (entity, f.name, state)
    assert checked > 0
    # the CUR has no service category column: its product codes give every line's FOCUS category,
    # so spend by service category is not all "pending review"
    with connection.cursor() as cur:
        cur.execute(f"SELECT service_category_status, count(*) FROM {tenant.schema_name}.dcl_view_cost "
                    "WHERE service_name IS NOT NULL GROUP BY 1")
        states = dict(cur.fetchall())
    assert set(states) == {"mapped"} and states["mapped"] > 0, states
