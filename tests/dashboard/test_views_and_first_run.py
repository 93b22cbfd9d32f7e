"""The unified view page's basics (a Sources column, the default order said aloud, the export link
carrying the page's filters, bad parameters a 400) and the first run: the home page's get-started
checklist, the sidebar's sections, the Operations internals for admins only, truthful kind labels."""

from __future__ import annotations

import html as htmllib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_context

from aam.models import FieldMapping, ReviewItem
from agents.models import AgentRun
from connectors.models import Connection
from tests.conftest import host_of
from tests.dcl.test_view_export import _land, _records
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _client(tenant, role: str) -> Client:
    client = Client(HTTP_HOST=host_of(tenant))
    with schema_context(tenant.schema_name):
        client.force_login(UserFactory(username=f"{role}-user", role=role, unusable_password=True))
    return client


@pytest.fixture
def opportunities(tenant_a):
    conn = _land(tenant_a, _records(12))
    connection.set_schema_to_public()
    return conn


def _cells(page: str, column: str) -> list[str]:
    """The text of one column's cells, by the header's position."""
    headers = re.findall(r'<th[^>]*data-col="([^"]+)"', page)
    index = headers.index(column)
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)[index] for row in rows]
    return [htmllib.unescape(re.sub(r"<[^>]+>", " ", c)).strip() for c in cells]


# --- The view page -----------------------------------------------------------------------------------


def test_the_sources_column_names_each_rows_system_with_its_kind(opportunities, web_a, tenant_a):
    page = web_a.get("/dcl/views/opportunity/").content.decode()
    assert _cells(page, "sources") == ["CRM"] * 12
    assert 'class="src-chip" title="Salesforce · Opportunity 006' in page


def test_the_default_order_is_said_and_is_the_close_date(opportunities, web_a):
    page = web_a.get("/dcl/views/opportunity/?col=name&col=close_date").content.decode()
    assert "by close date ↑ (default order)" in page
    dates = [d for d in _cells(page, "close_date") if d != "–"]
    assert dates == sorted(dates) and _cells(page, "close_date")[-1] == "–"  # empty dates last
    desc = web_a.get("/dcl/views/opportunity/?sort=-amount").content.decode()
    assert "by amount ↓" in desc and "(default order)" not in desc


def test_the_export_link_carries_exactly_the_pages_filter_search_sort_and_columns(opportunities, web_a):
    page = web_a.get("/dcl/views/opportunity/?field=amount&op=gte&value=100&q=deal&sort=-amount"
                     "&col=name&col=amount&col=sources").content.decode()
    href = htmllib.unescape(re.search(r'id="export-csv" href="([^"]+)"', page).group(1))
    url = urlsplit(href)
    assert url.path == "/api/dcl/views/opportunity/"
    assert parse_qs(url.query) == {"format": ["csv"], "amount__gte": ["100"], "search": ["deal"],
                                   "ordering": ["-amount"], "columns": ["name,amount,sources"]}
    exported = web_a.get(href)
    text = b"".join(exported.streaming_content).decode()
    lines = text.strip().split("\r\n")
    assert lines[0] == "name,amount,sources"
    shown = re.search(r"Rows 1–\d+ of (\d+)", page).group(1)
    assert len(lines) - 1 == int(shown) > 0


@pytest.mark.parametrize(("query", "says"), [
    ("field=colour&value=red", "Unknown field 'colour'"),
    ("field=amount&op=between&value=1", "Unknown condition 'between'"),
    ("sort=-colour", "Cannot sort by 'colour'"),
    ("sort=sources", "Cannot sort by 'sources'"),
    ("col=name&col=colour", "Unknown column 'colour'"),
    ("field=amount&op=gte&value=lots", "amount"),
])
def test_a_bad_page_parameter_is_a_400_that_says_which(opportunities, web_a, query, says):
    response = web_a.get(f"/dcl/views/opportunity/?{query}")
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="notice amber" role="alert"' in page and htmllib.escape(says, quote=True) in page
    assert 'id="export-csv"' not in page


def test_junk_paging_falls_back_rather_than_failing(opportunities, web_a):
    assert web_a.get("/dcl/views/opportunity/?page=abc&size=7").status_code == 200


# --- First run: the checklist ------------------------------------------------------------------------


def _steps(page: str) -> dict[str, str]:
    """step key → "done" / "next" / "" from the checklist's markup."""
    return dict(re.findall(r'<li data-step="(\w+)" class="(\w*)"', page))


def test_a_new_tenant_sees_four_steps_and_the_first_is_next(web_a):
    page = web_a.get("/").content.decode()
    assert 'id="get-started"' in page
    assert _steps(page) == {"connect": "next", "mapping": "", "view": "", "agents": ""}
    assert 'href="/connections/new/" class="btn btn-sm btn-primary">Add a connection' in page


def test_a_viewer_is_told_who_connects_sources_instead_of_a_link_they_cannot_use(tenant_a):
    page = _client(tenant_a, "viewer").get("/").content.decode()
    assert "An admin of this tenant adds connections" in page and "/connections/new/" not in page


def test_each_step_is_done_when_the_tenants_data_says_so(opportunities, web_a, tenant_a):
    connection.set_tenant(tenant_a)
    item = ReviewItem.objects.create(kind=ReviewItem.Kind.MAPPING, title="Amount (USD) → amount?",
                                     connection=opportunities)
    connection.set_schema_to_public()
    page = web_a.get("/").content.decode()
    # a connection, a materialized view, but no field mapping stored yet and a question open
    assert _steps(page) == {"connect": "done", "mapping": "next", "view": "done", "agents": ""}
    assert "1 field mapping waits for your decision" in page and "/aam/review/?kind=mapping" in page

    connection.set_tenant(tenant_a)
    item.status = ReviewItem.Status.APPROVED
    item.save()
    FieldMapping.objects.create(connection=opportunities, source_object="Opportunity", source_field="Amount",
                                canonical_entity="opportunity", canonical_field="amount", confidence=1.0,
                                method=FieldMapping.Method.HUMAN, status=FieldMapping.Status.ACTIVE)
    connection.set_schema_to_public()
    page = web_a.get("/").content.decode()
    assert _steps(page) == {"connect": "done", "mapping": "done", "view": "done", "agents": "next"}

    connection.set_tenant(tenant_a)
    AgentRun.objects.create(agent=AgentRun.Agent.REVOPS, status=AgentRun.Status.FAILED)
    connection.set_schema_to_public()
    assert _steps(web_a.get("/").content.decode())["agents"] == "next", "a failed run is not done"
    connection.set_tenant(tenant_a)
    AgentRun.objects.create(agent=AgentRun.Agent.REVOPS, status=AgentRun.Status.SUCCEEDED)
    connection.set_schema_to_public()
    page = web_a.get("/").content.decode()
    assert 'id="get-started"' not in page, "every step done: the list is gone"


def test_dismissing_hides_the_list_for_this_session_only(web_a, tenant_a):
    response = web_a.post("/get-started/dismiss/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert 'id="get-started"' not in web_a.get("/").content.decode()
    assert 'id="get-started"' in _client(tenant_a, "viewer").get("/").content.decode()


def test_a_viewer_may_dismiss_the_list(tenant_a):
    viewer = _client(tenant_a, "viewer")
    assert viewer.post("/get-started/dismiss/").status_code == 302
    assert viewer.get("/get-started/dismiss/").status_code == 405


# --- Sidebar and Operations ----------------------------------------------------------------------------


def _nav(page: str) -> list[str]:
    nav = page[page.index('<nav class="nav"'):page.index("</nav>")]
    return [htmllib.unescape(g) for g in re.findall(r'<div class="nav-group"[^>]*>([^<]+)</div>', nav)]


def test_the_sidebar_has_four_sections_and_operations_for_admins(web_a, tenant_a):
    assert _nav(web_a.get("/").content.decode()) == ["Overview", "Data", "Mapping", "Insight", "Operations"]
    for role in ("viewer", "operator"):
        page = _client(tenant_a, role).get("/").content.decode()
        assert _nav(page) == ["Overview", "Data", "Mapping", "Insight"], role
        assert 'href="/dcl/operations/"' not in page


def test_the_operations_page_is_for_admins_only(web_a, tenant_a):
    assert web_a.get("/dcl/operations/").status_code == 200
    for role in ("viewer", "operator"):
        client = _client(tenant_a, role)
        assert client.get("/dcl/operations/").status_code == 403, role
        assert client.get("/dcl/operations/?partial=1").status_code == 403, role


def test_the_connection_pages_stream_internals_are_for_admins_only(web_a, tenant_a):
    connection.set_tenant(tenant_a)
    conn = Connection.objects.create(name="CRM export", kind="filesource", config={"source_system": "salesforce"})
    connection.set_schema_to_public()
    assert 'id="stream-stats"' in web_a.get(f"/connections/{conn.pk}/").content.decode()
    assert 'id="sync-cursor"' in web_a.get(f"/connections/{conn.pk}/").content.decode()
    for role in ("viewer", "operator"):
        page = _client(tenant_a, role).get(f"/connections/{conn.pk}/").content.decode()
        assert 'id="stream-stats"' not in page and "dcl_engine" not in page, role
        assert 'id="sync-cursor"' not in page, role  # the cursors too


# --- Kind labels -----------------------------------------------------------------------------------


def test_a_csv_connection_is_labelled_by_the_system_that_exported_it(web_a, tenant_a):
    connection.set_tenant(tenant_a)
    exported = Connection.objects.create(name="Salesforce (demo)", kind="filesource",
                                         config={"source_system": "salesforce"})
    plain = Connection.objects.create(name="Files", kind="filesource", config={})
    custom = Connection.objects.create(name="Ledger", kind="filesource", config={"source_system": "legacy_erp"})
    api = Connection.objects.create(name="HubSpot", kind="hubspot")
    assert (exported.kind_label, plain.kind_label, custom.kind_label, api.kind_label) == (
        "CSV · Salesforce export", "CSV files", "CSV · Legacy erp export", "HubSpot")
    connection.set_schema_to_public()
    page = web_a.get("/").content.decode()
    assert "CSV · Salesforce export" in page and ">CSV files<" in page
    # the connections list and the connection's own page say the same
    listed = web_a.get("/connections/").content.decode()
    assert "CSV · Salesforce export" in listed and "CSV · Legacy erp export" in listed
    assert "CSV · Salesforce export" in web_a.get(f"/connections/{exported.pk}/").content.decode()
