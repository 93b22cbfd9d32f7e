"""In a real Chromium, at 1280×800 and 390×844, light and dark: a unified view's columns fit the card on
a desktop (the last one not clipped) and scroll inside it on a phone (never the page), its Sources
column, the CSV export of the filtered view; and the home page's get-started checklist for a new
tenant. Screenshots land in test-artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.browser.conftest import csp_violations, page_overflow, shot

SIZES = [(1280, 800, False), (1280, 800, True), (390, 844, False), (390, 844, True)]
SIZE_IDS = ["desktop-light", "desktop-dark", "phone-light", "phone-dark"]


def _seed_two_crms(tenant) -> None:
    from django.db import connection as db

    from tests.dcl.test_view_export import _land, _other, _records

    def seed():  # in a thread of its own: Playwright's event loop owns this one
        db.set_tenant(tenant)
        try:
            _land(tenant, _records(30), name="Salesforce EU")
            # other deals than EU's (the same deal in two systems is one row: entity resolution)
            _land(tenant, _other(_records(25, prefix="007")), name="Salesforce US")
        finally:
            db.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(seed).result(timeout=120)


def _table_box(page) -> dict:
    return page.evaluate("""(() => {
        const wrap = document.querySelector('.table-wrap');
        const last = wrap.querySelector('thead th:last-child').getBoundingClientRect();
        const box = wrap.getBoundingClientRect();
        return {scroll: wrap.scrollWidth, client: wrap.clientWidth, overflowX: getComputedStyle(wrap).overflowX,
                lastRight: last.right, wrapRight: box.right};
    })()""")


def test_a_view_fits_or_scrolls_inside_its_card_and_exports_the_filtered_rows(site, committed_tenants,
                                                                              screenshots_dir):
    tenant, _ = committed_tenants
    _seed_two_crms(tenant)
    for (width, height, dark), name in zip(SIZES, SIZE_IDS, strict=True):
        page = site.new_page(width=width, height=height, dark=dark)
        response = page.goto(site.url("/dcl/views/opportunity/"), wait_until="networkidle")
        assert response.status == 200
        assert page_overflow(page) <= 1, f"{name}: the page scrolls sideways"
        box = _table_box(page)
        if width >= 1280:
            assert box["scroll"] <= box["client"] + 1, f"{name}: the default columns do not fit: {box}"
            assert box["lastRight"] <= box["wrapRight"] + 1, f"{name}: the last column is clipped: {box}"
        else:
            assert box["overflowX"] == "auto" and box["scroll"] > box["client"], f"{name}: {box}"
        assert page.locator("th[data-col=sources]").is_visible()
        systems = set(page.locator("td.cell-sources .src-chip").all_inner_texts())
        assert systems == {"Salesforce EU", "Salesforce US"}
        assert "(default order)" in page.locator("#row-range").inner_text()
        shot(page, screenshots_dir, f"view-opportunity-{width}-{'dark' if dark else 'light'}")
        assert csp_violations(page) == [] and page.console_errors == [], name

    # Filter as a person does, then export: the file holds exactly the rows the filter matches.
    page = site.new_page(width=1280, height=800)
    page.goto(site.url("/dcl/views/opportunity/"), wait_until="networkidle")
    page.select_option("#f-field", "stage")
    page.fill("#f-value", "Closed Won")
    with page.expect_navigation():
        page.click("#view-filter button[type=submit]")
    matched = int(re.search(r"of (\d+)", page.locator("#row-range").inner_text()).group(1))
    with page.expect_download() as download:
        page.click("#export-csv")
    assert re.fullmatch(r"alpha-opportunity-\d{8}-\d{4}\.csv", download.value.suggested_filename)
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert len(rows) == matched == 27 and {r["stage"] for r in rows} == {"Closed Won"}
    assert {r["sources"] for r in rows} == {"Salesforce EU", "Salesforce US"}
    assert page.console_errors == []


@pytest.mark.parametrize(("width", "height", "dark"), SIZES, ids=SIZE_IDS)
def test_a_new_tenant_is_shown_what_to_do_first(site, committed_tenants, screenshots_dir, width, height, dark):
    page = site.new_page(width=width, height=height, dark=dark)
    page.goto(site.url("/"), wait_until="networkidle")
    checklist = page.locator("#get-started")
    assert checklist.is_visible()
    assert page.locator("#get-started li[data-step]").count() == 4
    assert page.locator('#get-started li[aria-current="step"]').get_attribute("data-step") == "connect"
    assert page.locator('#get-started a:has-text("Add a connection")').is_visible()
    assert page_overflow(page) <= 1
    shot(page, screenshots_dir, f"home-get-started-{width}-{'dark' if dark else 'light'}")
    if width < 500:  # the phone menu: the sections, Operations for this admin
        page.click("#menu-toggle")
    groups = [g.strip().lower() for g in page.locator("#nav .nav-group").all_inner_texts()]
    assert groups == ["overview", "data", "mapping", "insight", "operations"]
    assert csp_violations(page) == [] and page.console_errors == []
    if not dark and width >= 1280:
        with page.expect_navigation():
            page.click('#get-started button:has-text("Dismiss")')
        assert page.locator("#get-started").count() == 0
