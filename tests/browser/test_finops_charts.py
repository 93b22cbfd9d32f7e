"""The FinOps section of the agents page in a real Chromium after the demo's FinOps run (docs/adr/0030):
spend, commitment coverage, commitment utilization and spend by category per month drawn (their canvases
hold painted pixels) with the metric cards, at phone and desktop width in both themes, with no console
error and nothing wider than the screen."""

from __future__ import annotations

import pytest

from tests.browser.conftest import csp_violations, demo_agent_run, shot

CHARTS = ("#chart-spend", "#chart-services", "#chart-commitment-coverage", "#chart-utilization",
          "#chart-categories")
# How many of a canvas's pixels are painted (alpha > 0): a chart that drew nothing has none.
PAINTED = """(sel) => {
  const c = document.querySelector(sel);
  const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
  return n;
}"""

# The widest label of a horizontal bar chart's category axis, and that axis' width (Chart.js clips a label
# wider than the axis it is given).
LABELS = """(sel) => {
  const y = Chart.getChart(document.querySelector(sel)).scales.y;
  return [y._labelSizes.widest.width, y.width];
}"""


@pytest.fixture
def finops_run(committed_tenants, settings):
    return demo_agent_run(committed_tenants[0], settings.DATA_DIR, "finops")


@pytest.mark.parametrize(("width", "dark"), [(1280, False), (375, False), (1280, True), (375, True)],
                         ids=["desktop-light", "phone-light", "desktop-dark", "phone-dark"])
def test_the_finops_charts_and_cards_draw_in_both_themes_and_fit_a_phone(site, finops_run, screenshots_dir,
                                                                         width, dark):
    assert finops_run.status == "succeeded" and finops_run.metrics["commitments"]["commitments"]
    page = site.new_page(width=width, dark=dark)
    response = page.goto(site.url("/agents/"), wait_until="networkidle")
    assert response is not None and response.status == 200
    section = page.locator("#agent-finops")
    page.wait_for_function("() => !!window.Chart && !!Chart.getChart(document.querySelector('#chart-categories'))")
    page.wait_for_timeout(400)  # the charts' 300 ms animation
    for selector in CHARTS:
        assert page.locator(selector).count() == 1, f"{selector} is not on the page exactly once"
        box = page.locator(selector).bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, f"{selector} is outside a {width}px screen"
        assert page.evaluate(f"!!Chart.getChart(document.querySelector('{selector}'))"), selector
        assert page.evaluate(PAINTED, selector) > 500, f"{selector} drew nothing"
    for selector in ("#chart-utilization", "#chart-services"):  # horizontal bars: their names not clipped
        widest, axis = page.evaluate(LABELS, selector)
        assert widest <= axis, f"{selector}: a {widest:.0f}px label on a {axis:.0f}px axis is clipped"
    cards = section.locator("[data-metrics='finops'] .stat-card")
    assert cards.count() >= 3
    for i in range(cards.count()):
        box = cards.nth(i).bounding_box()
        assert box and box["width"] > 50 and box["x"] + box["width"] <= width + 1, f"card {i} overflows"
        assert cards.nth(i).locator(".stat").inner_text().strip(), f"card {i} is empty"
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the agents page is {overflow}px wider than a {width}px screen"
    theme = "dark" if dark else "light"
    shot(page, screenshots_dir, f"finops-{width}-{theme}")
    section.screenshot(path=str(screenshots_dir / f"finops-section-{width}-{theme}.png"))
    assert csp_violations(page) == [] and page.console_errors == []
