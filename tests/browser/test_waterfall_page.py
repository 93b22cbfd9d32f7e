"""The pipeline waterfall page (/agents/revops/waterfall/) in a real Chromium over the demo (three
snapshots synced as seed_demo does): reached from the agents page's waterfall card with the run's
dates, it draws the same bars as the run; at phone and desktop width in both themes the chart is drawn,
nothing is wider than the screen and no console error or CSP violation; a click on a bar opens its
deals; other dates typed in the form go into the URL; bad dates get the notice, not a chart."""

from __future__ import annotations

import pytest

from tests.browser.conftest import assert_fits, csp_violations, shot
from tests.browser.test_revops_charts import demo_run  # noqa: F401

VIEWS = [(1280, False), (375, False), (1280, True), (375, True)]


@pytest.mark.slow
def test_the_waterfall_page_draws_the_chosen_dates_in_both_themes_and_fits_a_phone(site, demo_run,  # noqa: F811
                                                                                    screenshots_dir):
    wf = demo_run.metrics["revenue"]["waterfall"]
    moved = {b["bar"]: b["deals"] for b in wf["bars"] if b["deals"] or b["bar"] in ("opening", "closing")}
    assert sum(n for bar, n in moved.items() if bar not in ("opening", "closing")) > 0, "the demo moved no deal"
    first = site.new_page()
    first.goto(site.url("/agents/"), wait_until="networkidle")
    with first.expect_navigation():
        first.click("[data-waterfall-link]")
    assert f"period_start={wf['period_start']}" in first.url and f"to={wf['until']}" in first.url
    url = first.url
    for width, dark in VIEWS:
        page = site.new_page(width=width, dark=dark)
        response = page.goto(url, wait_until="networkidle")
        assert response is not None and response.status == 200
        box = page.locator("#chart-waterfall").bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100
        labels = page.evaluate("Chart.getChart(document.querySelector('#chart-waterfall')).data.labels.length")
        assert labels == len(moved)
        rows = page.eval_on_selector_all("[data-waterfall] tr[data-bar]", "rs => rs.map(r => r.dataset.bar)")
        assert rows == list(moved)  # the run's bars, in its order: same dates, same figures
        assert_fits(page)
        theme = "dark" if dark else "light"
        shot(page, screenshots_dir, f"waterfall-demo-{width}-{theme}")
        assert csp_violations(page) == [] and page.console_errors == []
    bar = next(b for b in moved if b not in ("opening", "closing"))
    details = first.locator(f"#bar-{bar}")
    assert not details.evaluate("d => d.open")
    first.click(f"[data-waterfall] tr[data-bar='{bar}'] a")
    assert details.evaluate("d => d.open") and details.locator("tr[data-record]").count() == min(moved[bar], 100)
    first.fill("input[name=from]", wf["until"])
    with first.expect_navigation():
        first.click("#waterfall-form button[type=submit]")
    assert f"from={wf['until']}" in first.url
    same = first.eval_on_selector_all("[data-waterfall] tr[data-bar]", "rs => rs.map(r => r.dataset.bar)")
    assert same[0] == "opening" and same[-1] == "closing"
    first.fill("input[name=to]", "2000-01-01")
    with first.expect_navigation():
        first.click("#waterfall-form button[type=submit]")
    assert first.locator("[data-input-error]").is_visible() and first.locator("#chart-waterfall").count() == 0
    # The page answers bad dates with status 400 (Chromium logs it as a failed load): the only error.
    assert [e for e in first.console_errors if "status of 400" not in e] == []
