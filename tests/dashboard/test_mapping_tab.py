"""The connection's Mapping tab (aam/editor/views.py): every column with its state and reason, changes
posted with CSRF by an operator, refused with a message (never a 500), undo; viewers read only."""

from __future__ import annotations

import pytest
from django.db import connection as db
from django.test import Client
from django_tenants.utils import schema_context

from aam.drift.services import drift_check
from aam.models import MappingChange
from aam.selectors import mapping_active
from aam.services import mapping_ensure
from aam.sources import as_source_object
from autonomos.core.roles import Role
from connectors.models import Connection
from tests.conftest import PASSWORD, host_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DEALS = {
    "name": "deals",
    "fields": [
        {"name": "Deal ID", "type": "string", "samples": ["D-1", "D-2", "D-3"]},
        {"name": "Deal Name", "type": "string", "samples": ["Acme renewal", "Globex expansion", "Initech pilot"]},
        {"name": "Company", "type": "string", "samples": ["Acme Corp", "Globex", "Initech"]},
        {"name": "Stage", "type": "string", "samples": ["Prospecting", "Closed Won", "<b>Negotiation</b>"]},
        {"name": "Amount", "type": "number", "samples": ["12000", "55000.5", "7300"]},
    ],
}


@pytest.fixture
def conn_a(tenant_a):
    with schema_context(tenant_a.schema_name):
        conn = Connection.objects.create(name="Deals sheet", kind="filesource")
        obj = as_source_object(DEALS)
        drift_check(connection=conn, source_object=obj)  # the schema snapshot (types, samples), as a sync takes
        mapping_ensure(connection=conn, source_object=obj)
    return conn


def tab(conn, tail: str = "") -> str:
    return f"/connections/{conn.pk}/mapping/{tail}"


def test_the_tab_lists_every_column_and_the_connection_page_links_to_it(web_a, conn_a):
    detail = web_a.get(f"/connections/{conn_a.pk}/").content.decode()
    assert f'href="{tab(conn_a)}"' in detail
    response = web_a.get(tab(conn_a))
    assert response.status_code == 200
    html = response.content.decode()
    for column in ("Deal ID", "Deal Name", "Company", "Stage", "Amount"):
        assert f'data-column="{column}"' in html
    assert 'data-column="Company" data-state="pending"' in html and "account.name" in html
    assert "&lt;b&gt;negotiation" in html and "<b>negotiation" not in html  # samples are text
    assert 'name="csrfmiddlewaretoken"' in html and 'value="map"' in html


def test_an_operator_changes_a_column_then_undoes_it(tenant_a, web_a, conn_a):
    response = web_a.post(tab(conn_a, "change/"), {"source_object": "deals", "source_field": "Stage",
                                                  "action": "map", "canonical_field": "next_step"})
    assert response.status_code == 302 and response["Location"].endswith(f"{tab(conn_a)}#object-deals")
    page = web_a.get(tab(conn_a)).content.decode()
    assert "re-mapped to next_step" in page and 'id="mapping-undo"' in page
    with schema_context(tenant_a.schema_name):
        assert mapping_active(connection=conn_a, source_object_name="deals").fields["Stage"] == "next_step"
    assert web_a.post(tab(conn_a, "undo/")).status_code == 302
    with schema_context(tenant_a.schema_name):
        assert mapping_active(connection=conn_a, source_object_name="deals").fields["Stage"] == "stage"
        assert list(MappingChange.objects.values_list("action", flat=True).order_by("id")) == ["remap", "undo"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"source_object": "deals", "source_field": "Stage", "action": "map", "canonical_field": "industry"},
         "industry is a field of account"),
        ({"source_object": "deals", "source_field": "Nope", "action": "exclude"}, "has no column"),
        ({"source_object": "deals", "source_field": "St\x00age", "action": "exclude"}, "Null characters"),
        ({"source_object": "deals", "source_field": "Stage", "action": "wipe"}, "not one of the available"),
    ],
)
def test_a_refused_change_says_why(web_a, conn_a, data, message):
    response = web_a.post(tab(conn_a, "change/"), data, follow=True)
    assert response.status_code == 200
    assert message in response.content.decode()


def test_a_viewer_sees_the_tab_without_forms_and_cannot_post(tenant_a, conn_a):
    with schema_context(tenant_a.schema_name):
        UserFactory(username="viewer-maptab", role=Role.VIEWER)
    client = Client(HTTP_HOST=host_of(tenant_a))
    db.set_tenant(tenant_a)
    assert client.login(username="viewer-maptab", password=PASSWORD)
    db.set_schema_to_public()
    html = client.get(tab(conn_a)).content.decode()
    assert 'data-column="Stage"' in html and 'value="map"' not in html and "An operator or admin" in html
    assert client.post(tab(conn_a, "change/"), {"source_object": "deals", "source_field": "Stage",
                                                "action": "unmap"}).status_code == 403
    assert client.post(tab(conn_a, "undo/")).status_code == 403


def test_csrf_is_required(tenant_a, conn_a):
    client = Client(HTTP_HOST=host_of(tenant_a), enforce_csrf_checks=True)
    db.set_tenant(tenant_a)
    assert client.login(username="admin", password=PASSWORD)
    db.set_schema_to_public()
    response = client.post(tab(conn_a, "change/"), {"source_object": "deals", "source_field": "Stage",
                                                    "action": "unmap"})
    assert response.status_code == 403


def test_another_tenants_connection_is_a_404(api_b, tenant_b, conn_a):
    client = Client(HTTP_HOST=host_of(tenant_b))
    db.set_tenant(tenant_b)
    assert client.login(username="admin", password=PASSWORD)
    db.set_schema_to_public()
    assert client.get(tab(conn_a)).status_code == 404
    assert client.post(tab(conn_a, "undo/")).status_code == 404
    assert client.get(f"/connections/{10**20}/mapping/").status_code == 404
