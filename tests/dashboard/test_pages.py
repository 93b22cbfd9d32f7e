"""Every dashboard page: logged-in 200, anonymous → login, a useful empty state, the active nav link."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import host_of

PAGES = [
    ("/", "dashboard", "Get started"),
    ("/connections/", "connections", "No connections yet"),
    ("/connections/new/", "connections", "What do you want to connect?"),
    ("/connections/new/filesource/", "connections", "New CSV files connection"),
    ("/aam/", "aam", "Drift events"),
    ("/aam/ontology/", "ontology", "Ontology"),
    ("/aam/review/", "review", "Review queue"),
    ("/flow/", "flow", "Waiting for events"),
    ("/dcl/lineage/", "lineage", "Loading the graph"),
    ("/dcl/views/", "views", "Unified views"),
    ("/dcl/operations/", "operations", "No connections yet"),
    ("/agents/", "agents", "RevOps"),
    ("/discover/", "discover", "Demo scan"),
    ("/architecture/", "architecture", "How data moves"),
]

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("url", "nav", "text"), PAGES)
def test_page_renders_for_a_logged_in_user_with_its_empty_state(web_a, url, nav, text):
    response = web_a.get(url)
    assert response.status_code == 200, response.content[:2000]
    body = response.content.decode()
    assert text in body
    assert f'data-nav="{nav}" class="active" aria-current="page"' in body


@pytest.mark.parametrize(("url", "nav", "text"), PAGES)
def test_page_sends_an_anonymous_visitor_to_the_login(tenant_a, url, nav, text):
    response = Client(HTTP_HOST=host_of(tenant_a)).get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_pages_use_only_self_hosted_assets(web_a):
    body = web_a.get("/agents/").content.decode()
    assert "/static/vendor/chartjs/chart.umd.min.js" in body
    for page in [p[0] for p in PAGES]:
        html = web_a.get(page).content.decode()
        assert "http://" not in html.replace("http://www.w3.org", "")
        assert "https://" not in html.replace("https://yourorg", "").replace("https://www.w3.org", "")


def test_unknown_connection_kind_is_a_404_page(web_a):
    response = web_a.get("/connections/new/ftp/")
    assert response.status_code == 404
    assert b"This page does not exist" in response.content


def test_unknown_view_is_a_404_page(web_a):
    assert web_a.get("/dcl/views/not_an_entity/").status_code == 404


def test_view_browse_ignores_junk_paging_parameters(web_a):
    response = web_a.get("/dcl/views/?page=abc")
    assert response.status_code == 200


def test_dark_mode_toggle_and_theme_script_are_on_every_page(web_a):
    for url, _nav, _text in PAGES:
        body = web_a.get(url).content.decode()
        assert 'id="theme-toggle"' in body
        assert "/static/js/theme.js" in body
