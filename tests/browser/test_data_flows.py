"""A person's path through the product in a real browser: add a CSV connection and test it; sync
it while the Live Flow updates, browse and filter the unified view, read the lineage; approve a
mapping in the review queue and see the ontology change.

The server and a Celery worker run as real processes on the test database.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from tests.browser.conftest import add_csv_connection, shot

ACCOUNTS_CSV = "\n".join([
    "Id,Name,Website,Industry,BillingCity,BillingCountry,AnnualRevenue,NumberOfEmployees,CreatedDate,LastModifiedDate",
    "001A000001,Acme Corporation,https://acme.example,Manufacturing,Chicago,USA,12500000,420,"
    "2024-01-05T10:00:00Z,2025-02-01T09:30:00Z",
    "001A000002,Globex Ltd,https://globex.example,Technology,London,United Kingdom,8800000,130,"
    "2024-02-11T12:00:00Z,2025-02-03T11:00:00Z",
    "001A000003,Initech,https://initech.example,Software,Austin,USA,2300000,45,2024-03-20T08:15:00Z,2025-01-28T16:45:00Z",
    "001A000004,Umbrella Group,https://umbrella.example,Pharmaceuticals,Raccoon City,USA,99000000,5100,"
    "2024-04-02T14:20:00Z,2025-02-04T10:10:00Z",
    "001A000005,Stark Industries,https://stark.example,Aerospace,New York,USA,450000000,12000,"
    "2024-05-17T09:05:00Z,2025-02-05T08:00:00Z",
]) + "\n"


def _add_csv_connection(site, page, tmp_path) -> str:
    """Fill the form with an uploaded export; returns the new connection's page URL."""
    csv = tmp_path / "Account.csv"
    csv.write_text(ACCOUNTS_CSV, encoding="utf-8")
    return add_csv_connection(site, page, csv, "CRM export")


def test_add_a_csv_connection_see_its_schema_and_test_it(site, tmp_path, screenshots_dir):
    page = site.new_page(width=1280)
    _add_csv_connection(site, page, tmp_path)
    assert "added with 1 file" in page.locator(".messages").inner_text()
    page.wait_for_selector("#schema table")
    schema = page.locator("#schema").inner_text()
    assert "Website" in schema and "https://acme.example" in schema
    # Tested before it was saved; its first sync was queued (no worker runs in this test), and a
    # passed test does not make it "Healthy": it has not synced yet.
    assert "tested" in page.locator(".messages").inner_text()
    assert page.locator("[data-status-badge]").first.inner_text() == "Syncing"
    page.click("[data-test-connection]")
    page.wait_for_selector("[data-test-result] .badge")
    assert "Test passed" in page.locator("[data-test-result]").inner_text()
    assert page.locator("[data-status-badge]").first.inner_text() in ("Syncing", "Not synced yet")
    shot(page, screenshots_dir, "connection-detail-1280")
    phone = site.new_page(width=375)
    phone.goto(page.url, wait_until="networkidle")
    phone.wait_for_selector("#schema table")
    assert phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 1
    shot(phone, screenshots_dir, "connection-detail-375")
    assert page.console_errors == [] and phone.console_errors == []


def test_sync_a_csv_connection_watch_the_flow_filter_the_view_and_read_the_lineage(site_with_worker, tmp_path,
                                                                                    screenshots_dir):
    site = site_with_worker
    # Add it while the Live Flow is open in another tab: its first sync starts by itself, and the
    # flow updates without a reload.
    flow = site.new_page(width=1280)
    flow.goto(site.url("/flow/"), wait_until="networkidle")
    flow.wait_for_selector('[data-live-pill][data-state="open"]')
    page = site.new_page(width=1280)
    detail_url = _add_csv_connection(site, page, tmp_path)
    page.wait_for_selector("#schema table")
    flow.wait_for_selector('#flow-feed li[data-type="sync_completed"]', timeout=60000)
    flow.wait_for_selector('#flow-feed li[data-type="view_materialized"]', timeout=60000)
    assert int(flow.locator('.flow-stage[data-stage="streams"] [data-count]').inner_text()) >= 1
    assert int(flow.locator('.flow-stage[data-stage="dcl"] [data-count]').inner_text()) >= 1
    assert flow.locator('[data-total="records_read"]').inner_text() == "5"
    shot(flow, screenshots_dir, "flow-after-sync-1280")
    page.wait_for_selector('[data-sync-text]:has-text("Done")', timeout=30000)
    # The run's end refreshes the page's state, runs and cursor: no "Not synced yet" after "Done".
    page.wait_for_selector('#runs tbody[data-run-status="succeeded"]', timeout=30000)
    assert "created" in page.locator("#runs [data-run-trigger]").first.inner_text()
    assert "Not synced yet" not in page.locator("#sync-cursor").inner_text()
    assert page.locator("[data-status-badge]").first.get_attribute("data-health-state") in ("healthy",
                                                                                             "needs_attention")
    assert flow.console_errors == [] and page.console_errors == []

    # The home page, the views and operations now have something to show.
    for name, path in (("home-with-data", "/"), ("views-with-data", "/dcl/views/"),
                       ("operations-with-data", "/dcl/operations/"), ("aam-with-data", "/aam/")):
        page.goto(site.url(path), wait_until="networkidle")
        shot(page, screenshots_dir, f"{name}-1280")
    page.goto(site.url("/"), wait_until="networkidle")
    assert page.locator("#records-total").inner_text() == "5"

    # Browse the unified view and filter it.
    page.goto(site.url("/dcl/views/account/"), wait_until="networkidle")
    assert page.locator("#view-table tbody tr").count() == 5
    page.select_option("#f-field", "name")
    page.select_option("#f-op", "icontains")
    page.fill("#f-value", "globex")
    with page.expect_navigation():
        page.click("#view-filter button[type=submit]")
    rows = page.locator("#view-table tbody tr")
    assert rows.count() == 1 and "Globex" in rows.first.inner_text()
    shot(page, screenshots_dir, "view-filtered-1280")
    phone = site.new_page(width=375, dark=True)
    phone.goto(site.url("/dcl/views/account/"), wait_until="networkidle")
    assert phone.locator("#view-table tbody tr").count() == 5
    assert phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 1
    shot(phone, screenshots_dir, "view-375-dark", full_page=False)
    assert phone.console_errors == []
    with page.expect_navigation():
        rows.first.locator("a").first.click()
    assert "CRM export" in page.content()  # the merged record lists its source record

    # The lineage graph draws the connection's fields into the view; a click shows a node's details.
    page.goto(site.url("/dcl/lineage/"), wait_until="networkidle")
    page.wait_for_selector("#lineage .g-node")
    assert page.locator("#lineage .g-node").count() >= 5
    page.locator('#lineage .g-node[data-node="view:account"]').click()
    assert "Comes from" in page.locator("#lineage-details").inner_text()
    shot(page, screenshots_dir, "lineage-1280")
    page.goto(detail_url)
    assert page.console_errors == []


def test_approve_a_mapping_in_the_review_queue_and_see_the_ontology_change(site, committed_tenants, settings,
                                                                           screenshots_dir):
    import io

    from django.db import connection as db

    from aam.services import mapping_ensure
    from connectors.services import connection_create, connection_discover, connection_file_upload

    tenant, _ = committed_tenants
    settings.AAM_AUTO_APPLY_THRESHOLD = 1.0  # every proposal waits for a person

    def seed():  # in a thread of its own: Playwright's event loop owns this one (events use async_to_sync)
        db.set_tenant(tenant)
        try:
            conn = connection_create(name="CRM export", kind="filesource", config={"source_system": "salesforce"})
            data = ACCOUNTS_CSV.encode()
            connection_file_upload(connection=conn, filename="Account.csv", content=io.BytesIO(data), size=len(data))
            mapping_ensure(connection=conn, source_object=connection_discover(connection=conn)[0])
        finally:
            db.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(seed).result(timeout=60)

    page = site.new_page(width=1280)
    page.goto(site.url("/aam/ontology/?entity=account"), wait_until="networkidle")
    website_row = page.locator("#field-website")
    assert "Account.Website" not in website_row.inner_text()
    assert "in review" in website_row.inner_text()

    page.goto(site.url("/aam/review/?kind=mapping"), wait_until="networkidle")
    card = page.locator("[data-review-item]").filter(has=page.locator(".review-title",
                                                                      has_text=re.compile(r"^Account\.Website ")))
    assert card.count() == 1
    shot(page, screenshots_dir, "review-mapping-1280")
    with page.expect_navigation():
        card.locator("button[value=approved]").click()
    assert "approved" in page.locator(".messages").inner_text()
    assert card.count() == 0

    page.goto(site.url("/aam/ontology/?entity=account"), wait_until="networkidle")
    website_row = page.locator("#field-website")
    assert "Account.Website" in website_row.inner_text()
    assert "human" in website_row.inner_text()
    shot(page, screenshots_dir, "ontology-after-approval-1280")
    phone = site.new_page(width=375, dark=True)
    phone.goto(site.url("/aam/review/?kind=mapping"), wait_until="networkidle")
    assert phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 1
    shot(phone, screenshots_dir, "review-mapping-375-dark", full_page=False)
    assert page.console_errors == [] and phone.console_errors == []


def test_discovery_console_and_demo_scan_in_the_browser(site, committed_tenants, screenshots_dir):
    from django.db import connection as db

    from connectors.models import Connection

    tenant, _ = committed_tenants

    def seed():
        db.set_tenant(tenant)
        try:
            Connection.objects.create(name="Legacy CRM", kind="salesforce", status="error",
                                      config={"client_id": "x"})
        finally:
            db.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(seed).result(timeout=30)

    page = site.new_page(width=1280)
    page.goto(site.url("/discover/"), wait_until="networkidle")
    page.fill("#discover-query", "which sources have no owner?")
    page.click("#discover-form button[type=submit]")
    page.wait_for_selector("#discover-result h3")
    result = page.locator("#discover-result").inner_text()
    assert "Legacy CRM" in result and "What the agents get" in result

    page.click("#demo-scan")
    page.wait_for_selector("#scan-result h3", timeout=30000)
    counts = {r: int(page.locator(f'[data-risk="{r}"]').inner_text()) for r in ("high", "medium", "low")}
    assert sum(counts.values()) >= 1 and counts["high"] + counts["medium"] >= 1
    shot(page, screenshots_dir, "discover-after-scan-1280")
    page.reload(wait_until="networkidle")
    assert page.locator('a[href^="/aam/review/"]').count() >= 2  # the queue link and at least one asset
    assert page.console_errors == []
