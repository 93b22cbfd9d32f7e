"""In a real browser: a connection's Mapping tab at 1280×800 and 390×844, light and dark: every column
with its state, the unmapped-looking "Company" in review, a remap posted from the row's form and
undone, and no sideways overflow on a phone."""

from __future__ import annotations

from tests.browser.conftest import csp_violations, in_thread, page_overflow, shot

LONG = "lineItem/ResourceTags/user:cost-center-of-the-team-that-owns-this-deal"
DEALS = {
    "name": "deals",
    "primary_key": "Deal ID",
    "fields": [
        {"name": "Deal ID", "type": "string", "samples": ["D-1", "D-2", "D-3"]},
        {"name": "Deal Name", "type": "string", "samples": ["Acme renewal", "Globex expansion", "Initech pilot"]},
        {"name": "Company", "type": "string", "samples": ["Acme Corporation International", "Globex", "Initech"]},
        {"name": "Stage", "type": "string", "samples": ["Prospecting", "Closed Won", "Negotiation"]},
        {"name": "Amount (USD)", "type": "number", "samples": ["12000", "55000.5", "7300"]},
        {"name": "Close Date", "type": "date", "samples": ["2026-03-31", "2026-05-15", "2026-01-10"]},
        {"name": LONG, "type": "string", "samples": ["x" * 90, "y" * 90, "z" * 90]},
    ],
}


def test_the_mapping_tab_remaps_and_undoes_and_fits_a_phone(site, committed_tenants, screenshots_dir):
    from django.db import connection as db

    tenant, _ = committed_tenants

    def seed():
        from aam.drift.services import drift_check
        from aam.services import mapping_ensure
        from aam.sources import as_source_object
        from connectors.models import Connection

        db.set_tenant(tenant)
        conn = Connection.objects.create(name="Deals sheet exported from the regional CRM", kind="filesource")
        obj = as_source_object(DEALS)
        drift_check(connection=conn, source_object=obj)
        mapping_ensure(connection=conn, source_object=obj)
        return conn.pk

    pk = in_thread(seed)
    page = site.new_page(width=1280, height=800)
    page.goto(site.url(f"/connections/{pk}/"), wait_until="networkidle")
    with page.expect_navigation():
        page.click("#mapping-tab")
    assert page.url.endswith(f"/connections/{pk}/mapping/")
    rows = page.locator("table.mapping-table tbody tr")
    assert rows.count() == len(DEALS["fields"])
    company = page.locator('tr[data-column="Company"]')
    assert company.get_attribute("data-state") == "pending"
    assert "account.name" in company.inner_text() and "Review item #" in company.inner_text()
    assert page.locator('tr[data-column="Deal ID"]').inner_text().count("record key") == 1
    assert page_overflow(page) <= 1
    shot(page, screenshots_dir, "mapping-tab-1280", full_page=False)

    stage = page.locator('tr[data-column="Stage"]')
    stage.locator('select[name="canonical_field"]').select_option("next_step")
    with page.expect_navigation():
        stage.locator('button[value="map"]').click()
    assert "re-mapped to next_step" in page.locator(".messages").inner_text()
    stage = page.locator('tr[data-column="Stage"]')
    assert stage.locator("[data-target]").inner_text() == "next_step"
    assert "mapped by a person's decision" in stage.inner_text()
    assert "re-mapped → next_step by admin" in page.locator("#mapping-last-change").inner_text()
    with page.expect_navigation():
        page.click("#mapping-undo")
    assert "Undone" in page.locator(".messages").inner_text()
    assert page.locator('tr[data-column="Stage"] [data-target]').inner_text() == "stage"
    assert page.locator("#mapping-changes tbody tr").count() == 2
    assert page.console_errors == [] and csp_violations(page) == []

    for dark in (False, True):
        phone = site.new_page(width=390, height=844, dark=dark)
        phone.goto(site.url(f"/connections/{pk}/mapping/"), wait_until="networkidle")
        assert phone.locator('tr[data-column="Company"]').count() == 1
        overflow = page_overflow(phone)
        assert overflow <= 1, f"the mapping tab is {overflow}px wider than a phone"
        shot(phone, screenshots_dir, f"mapping-tab-390{'-dark' if dark else ''}")
        assert phone.console_errors == []
    dark_desktop = site.new_page(width=1280, height=800, dark=True)
    dark_desktop.goto(site.url(f"/connections/{pk}/mapping/"), wait_until="networkidle")
    assert page_overflow(dark_desktop) <= 1
    shot(dark_desktop, screenshots_dir, "mapping-tab-1280-dark", full_page=False)
