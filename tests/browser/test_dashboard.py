"""The dashboard in a real Chromium: every page at phone and desktop width in both themes (each loaded
under the Content-Security-Policy without a violation), dark mode, and the Live Flow updating
without a reload."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.browser.conftest import csp_violations, shot

PAGES = [
    ("home", "/"),
    ("connections", "/connections/"),
    ("connection-new", "/connections/new/"),
    ("connection-form", "/connections/new/filesource/"),
    ("aam", "/aam/"),
    ("ontology", "/aam/ontology/"),
    ("review", "/aam/review/"),
    ("flow", "/flow/"),
    ("lineage", "/dcl/lineage/"),
    ("views", "/dcl/views/"),
    ("operations", "/dcl/operations/"),
    ("agents", "/agents/"),
    ("waterfall", "/agents/revops/waterfall/"),
    ("discover", "/discover/"),
    ("architecture", "/architecture/"),
]


def publish(tenant, type, payload):
    """publish_event from a worker thread: Playwright's event loop owns this one (async_to_sync refuses it)."""
    from autonomos.core.events import publish_event

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(publish_event, tenant, type, payload).result(timeout=10)


def _load(page, site, path):
    response = page.goto(site.url(path), wait_until="networkidle")
    assert response is not None and response.status == 200, f"{path}: {response and response.status}"
    policy = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in policy and "object-src 'none'" in policy, f"{path}: CSP header {policy!r}"


@pytest.mark.parametrize(("width", "dark"), [(1280, False), (375, False), (1280, True), (375, True)],
                         ids=["desktop-light", "phone-light", "desktop-dark", "phone-dark"])
def test_every_page_loads_without_console_errors_and_fits_the_screen(site, screenshots_dir, width, dark):
    page = site.new_page(width=width, dark=dark)
    for name, path in PAGES:
        _load(page, site, path)
        assert page.locator("h1").first.is_visible(), f"{path}: no heading"
        # Nothing may force the page wider than the screen (tables scroll inside their own box).
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{path} is {overflow}px wider than a {width}px screen"
        shot(page, screenshots_dir, f"{name}-{width}-{'dark' if dark else 'light'}")
        assert csp_violations(page) == [], f"{path}: Content-Security-Policy violations"
        assert page.console_errors == [], f"{path}: {page.console_errors}"


def test_dark_mode_follows_the_system_and_the_toggle_is_remembered(site):
    page = site.new_page(width=1280, dark=False)
    _load(page, site, "/")

    def background():
        return page.evaluate("getComputedStyle(document.body).backgroundColor")

    light = background()
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.getAttribute('data-theme')") == "dark"
    dark = background()
    assert dark != light
    page.reload(wait_until="networkidle")
    assert background() == dark, "the choice survives a reload"

    system_dark = site.new_page(width=1280, dark=True)
    _load(system_dark, site, "/")
    assert system_dark.evaluate("getComputedStyle(document.body).backgroundColor") == dark


def test_phone_menu_opens_and_marks_the_active_page(site):
    page = site.new_page(width=375, height=760)
    _load(page, site, "/agents/")
    nav = page.locator("#nav")
    assert not nav.is_visible()
    page.click("#menu-toggle")
    assert nav.is_visible()
    active = page.locator("#nav a.active")
    assert active.count() == 1 and active.inner_text().strip() == "Agents"


def test_live_flow_shows_new_events_without_a_reload(site, committed_tenants, screenshots_dir):
    tenant, other = committed_tenants
    page = site.new_page(width=1280)
    _load(page, site, "/flow/")
    page.wait_for_selector('[data-live-pill][data-state="open"]')
    marker = page.evaluate("window.performance.timeOrigin")

    publish(other, "batch_published", {"connection_id": 99, "count": 7})  # another tenant: never shown
    publish(tenant, "sync_started", {"connection_id": 1, "connection_name": "CRM export"})
    publish(tenant, "batch_published", {"connection_id": 1, "count": 200})
    publish(tenant, "batch_consumed", {"connection_id": 1, "count": 200})

    page.wait_for_selector('#flow-feed li[data-type="batch_consumed"]')
    assert page.locator('.flow-stage[data-stage="streams"] [data-count]').inner_text() == "1"
    assert page.locator('.flow-stage[data-stage="dcl"] [data-count]').inner_text() == "1"
    assert page.locator('.flow-stage[data-stage="sources"] [data-count]').inner_text() == "1"
    assert "CRM export" in page.locator("#flow-feed").inner_text()
    assert page.locator("#flow-feed li").count() == 3, "the other tenant's event must not arrive"
    assert page.evaluate("window.performance.timeOrigin") == marker, "the page was not reloaded"
    shot(page, screenshots_dir, "flow-live-1280")
    assert page.console_errors == []


def test_live_flow_reconnects_and_resumes_after_the_last_event(site, committed_tenants):
    tenant, _ = committed_tenants
    page = site.new_page(width=1280)
    _load(page, site, "/flow/")
    page.wait_for_selector('[data-live-pill][data-state="open"]')
    publish(tenant, "sync_started", {"connection_id": 1})
    page.wait_for_selector('#flow-feed li[data-type="sync_started"]')

    # Drop the socket as a network hiccup would; events published meanwhile must still arrive once.
    page.evaluate("AutonomOS.live().ws.close()")
    publish(tenant, "sync_completed", {"connection_id": 1, "records_read": 42})
    page.wait_for_selector('#flow-feed li[data-type="sync_completed"]', timeout=20000)
    page.wait_for_selector('[data-live-pill][data-state="open"]')
    assert page.locator('#flow-feed li[data-type="sync_completed"]').count() == 1
    assert page.locator('.flow-stage[data-stage="sources"] [data-count]').inner_text() == "2"
    assert page.locator('[data-total="records_read"]').inner_text() == "42"
