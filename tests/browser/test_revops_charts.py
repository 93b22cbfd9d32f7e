"""The RevOps section of the agents page in a real Chromium over the demo (three snapshots synced as
seed_demo does): the waterfall, funnel and coverage charts drawn at phone and desktop width in both
themes, no console error, nothing wider than the screen; a bar of the waterfall table opens its deals."""

from __future__ import annotations

import pytest

from tests.browser.conftest import csp_violations, demo_agent_run, shot

CHARTS = ("#chart-waterfall", "#chart-funnel", "#chart-coverage")


@pytest.fixture
def demo_run(committed_tenants, settings):
    return demo_agent_run(committed_tenants[0], settings.DATA_DIR, "revops")


@pytest.mark.parametrize(("width", "dark"), [(1280, False), (375, False), (1280, True), (375, True)],
                         ids=["desktop-light", "phone-light", "desktop-dark", "phone-dark"])
def test_the_revops_charts_draw_in_both_themes_and_fit_a_phone(site, demo_run, screenshots_dir, width, dark):
    page = site.new_page(width=width, dark=dark)
    response = page.goto(site.url("/agents/"), wait_until="networkidle")
    assert response is not None and response.status == 200
    for selector in CHARTS:
        box = page.locator(selector).bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, selector
        assert page.evaluate(f"!!Chart.getChart(document.querySelector('{selector}'))"), selector
    assert page.locator("[data-waterfall] tr[data-bar]").count() >= 5
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the agents page is {overflow}px wider than a {width}px screen"
    shot(page, screenshots_dir, f"revops-{width}-{'dark' if dark else 'light'}")
    theme = "dark" if dark else "light"
    page.locator("#revenue").screenshot(path=str(screenshots_dir / f"revops-section-{width}-{theme}.png"))
    assert csp_violations(page) == [] and page.console_errors == []
    page.click("[data-waterfall] tr[data-bar='pushed_out'] a")
    page.wait_for_selector("#finding-records")
    assert page.locator("tr[data-record]").count() >= 1 and page.locator("[data-query]").is_visible()
