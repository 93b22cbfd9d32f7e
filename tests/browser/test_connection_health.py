"""In a real browser (issue #18 items 3, 4, 5): a load that brings nothing is Failed with the reason,
not "Healthy · Done · 0 read"; a failed run is listed with its error and log and retried from its
page; counts on other pages follow the one state live (an approved review item stops needing
attention without a reload). Screenshots in light, dark and phone width, checked for overflow.

The web server and (where a sync runs) a Celery worker run as real processes on the test database.
"""

from __future__ import annotations

import io

from tests.browser.conftest import assert_fits, in_thread, shot

# One column of free text: previewed (thousands of rows), but no canonical entity takes it.
BLOB_CSV = "Remarks\n" + "".join(f"note number {i} about nothing in particular\n" for i in range(3000))


def test_a_file_that_maps_nothing_fails_with_its_reason_right_after_creation(site_with_worker, tmp_path,
                                                                            screenshots_dir):
    site = site_with_worker
    blob = tmp_path / "Blob.csv"
    blob.write_text(BLOB_CSV, encoding="utf-8")
    page = site.new_page(width=1280)
    page.goto(site.url("/connections/new/filesource/"))
    page.fill("#id_name", "Notes export")
    page.set_input_files("#id_upload", str(blob))
    with page.expect_navigation():
        page.click("#connection-form button[type=submit]")
    assert "first sync has started" in page.locator(".messages").inner_text()
    # No click on Test or Sync: the first sync runs by itself, with progress here, then the state
    # says why it brought nothing.
    page.wait_for_selector('[data-status-badge][data-health-state="failed"]', timeout=60000)
    box = page.locator(".health-box").inner_text()
    assert "Mapped nothing" in box and "(Blob)" in box
    assert page.locator("[data-status-badge]").first.inner_text() == "Failed"
    page.wait_for_selector("#runs tbody[data-run]", timeout=30000)
    run = page.locator("#runs tbody[data-run]").first
    assert "created" in run.locator("[data-run-trigger]").inner_text()
    run.locator("[data-run-log] summary").click()
    assert "not read: Blob (no canonical entity for this object)" in run.locator("[data-run-log]").inner_text()
    shot(page, screenshots_dir, "connection-failed-load-1280")

    # The list and the home page say the same.
    page.goto(site.url("/connections/"), wait_until="networkidle")
    assert page.locator("[data-status-badge]").first.inner_text() == "Failed"
    assert "Mapped nothing" in page.locator("[data-health-reason-of]").first.inner_text()
    page.goto(site.url("/"), wait_until="networkidle")
    assert "1 failed" in page.locator("[data-state-summary]").inner_text()
    for width, dark in ((1280, True), (390, False), (390, True)):
        other = site.new_page(width=width, height=844 if width < 500 else 860, dark=dark)
        other.goto(site.url("/connections/"), wait_until="networkidle")
        assert_fits(other)
        pk = other.locator("[data-connection-row]").first.get_attribute("data-connection-row")
        other.goto(site.url(f"/connections/{pk}/"), wait_until="networkidle")
        assert_fits(other)
        shot(other, screenshots_dir, f"connection-failed-load-{width}-{'dark' if dark else 'light'}")
        assert other.console_errors == []
    assert page.console_errors == []


def test_a_failed_run_is_listed_with_its_error_and_retried_from_the_page(site_with_worker, committed_tenants,
                                                                         screenshots_dir):
    from django.db import connection as db

    from connectors.services import connection_create

    tenant, _ = committed_tenants

    def seed():
        db.set_tenant(tenant)
        # saved untested: its host answers nothing (port 1)
        return connection_create(name="Warehouse", kind="postgres",
                                 config={"host": "127.0.0.1", "port": 1, "database": "nothing", "user": "postgres",
                                         "sslmode": "disable"}, secrets={"password": "pw"}).pk

    pk = in_thread(seed, timeout=60)
    site = site_with_worker
    page = site.new_page(width=1280)
    page.goto(site.url(f"/connections/{pk}/"), wait_until="networkidle")
    assert page.locator("[data-status-badge]").first.inner_text() == "Not synced yet"
    page.wait_for_selector('[data-live-pill][data-state="open"]')
    page.click("[data-sync]")
    page.wait_for_selector('#runs tbody[data-run-status="failed"]', timeout=60000)
    page.wait_for_selector('[data-status-badge][data-health-state="failed"]', timeout=30000)
    failed = page.locator('#runs tbody[data-run-status="failed"]').first
    assert "manual" in failed.locator("[data-run-trigger]").inner_text()
    assert failed.locator("[data-run-error]").inner_text().strip() != ""
    assert "The last sync failed" in page.locator(".health-box").inner_text()
    shot(page, screenshots_dir, "connection-failed-run-1280")

    first_id = failed.get_attribute("data-run")
    with page.expect_navigation():
        failed.locator("[data-retry]").click()
    assert f"Run #{first_id} queued again" in page.locator(".messages").inner_text()
    page.wait_for_selector(f'#runs tbody[data-run]:not([data-run="{first_id}"])[data-run-status="failed"]',
                           timeout=60000)
    retried = page.locator("#runs tbody[data-run]").first
    assert f"retry of #{first_id}" in retried.locator("[data-run-trigger]").inner_text()
    phone = site.new_page(width=390, height=844, dark=True)
    phone.goto(site.url(f"/connections/{pk}/"), wait_until="networkidle")
    assert_fits(phone)
    shot(phone, screenshots_dir, "connection-runs-390-dark")
    assert page.console_errors == [] and phone.console_errors == []


def test_an_approved_item_stops_needing_attention_on_every_page_without_a_reload(site, committed_tenants, settings,
                                                                                 screenshots_dir):
    from django.db import connection as db

    from aam.services import mapping_ensure
    from connectors.services import connection_create, connection_discover, connection_file_upload

    tenant, _ = committed_tenants
    settings.AAM_AUTO_APPLY_THRESHOLD = 1.0  # every proposal waits for a person

    def seed():
        db.set_tenant(tenant)
        conn = connection_create(name="CRM export", kind="filesource", config={"source_system": "salesforce"})
        data = b"Id,Name,Website\n001A,Acme,https://acme.example\n"
        connection_file_upload(connection=conn, filename="Account.csv", content=io.BytesIO(data), size=len(data))
        mapping_ensure(connection=conn, source_object=connection_discover(connection=conn)[0])
        from aam.models import ReviewItem

        return conn.pk, list(ReviewItem.objects.filter(status="pending").values_list("pk", flat=True))

    pk, items = in_thread(seed, timeout=60)
    assert items
    flow = site.new_page(width=1280)
    flow.goto(site.url("/flow/"), wait_until="networkidle")
    flow.wait_for_selector('[data-live-pill][data-state="open"]')
    assert flow.locator('[data-state-count="attention"]').inner_text() == "1"
    assert flow.locator('[data-state-count="review_pending"]').inner_text() == str(len(items))
    home = site.new_page(width=1280)
    home.goto(site.url("/"), wait_until="networkidle")
    home.wait_for_selector('[data-live-pill][data-state="open"]')
    assert home.locator("#review-open").inner_text() == str(len(items))
    assert home.locator(f'[data-health-of="{pk}"]').inner_text() == "Needs attention"

    page = site.new_page(width=1280)
    for item in items:
        page.goto(site.url(f"/aam/review/{item}/"), wait_until="networkidle")
        with page.expect_navigation():
            page.locator("button[value=rejected]").first.click()
    # Every count follows the server's one state, fetched again on the review_decided events.
    flow.wait_for_selector('[data-state-count="attention"]:text-is("0")', timeout=15000)
    assert flow.locator('[data-state-count="review_pending"]').inner_text() == "0"
    home.wait_for_selector('#review-open:text-is("0")', timeout=15000)
    home.wait_for_selector(f'[data-health-of="{pk}"]:text-is("Not synced yet")', timeout=15000)
    assert home.locator('a[data-nav="review"] .nav-count').count() == 0
    shot(flow, screenshots_dir, "flow-attention-after-review-1280")
    assert flow.console_errors == [] and home.console_errors == [] and page.console_errors == []
