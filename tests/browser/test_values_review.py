"""In a real browser: the value review page groups values by field and source, shows a hostile value as
text (no script runs), and approving another canonical value records it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.browser.conftest import shot

SCRIPT = "<script>window.__pwned = 1</script>"


def test_value_review_page_groups_escapes_and_approves(site, committed_tenants, screenshots_dir):
    from django.db import connection as db

    tenant, _ = committed_tenants

    def seed():  # in a thread of its own: Playwright's event loop owns this one
        from tests.factories import ConnectionRowFactory, ValueMapFactory

        db.set_tenant(tenant)
        try:
            sf = ConnectionRowFactory(name="SF prod", kind="salesforce")
            hostile = ValueMapFactory(connection=sf, raw_key=SCRIPT, label="L" * 10_240, record_count=7)
            plain = ValueMapFactory(connection=sf, raw_key="Best Case", canonical="best_case", confidence=0.7,
                                    record_count=12)
            ValueMapFactory(connection=sf, entity="account", field="industry", column="Industry",
                            raw_key="Biotech", canonical="biotechnology", confidence=0.8)
            return hostile.pk, plain.pk
        finally:
            db.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        hostile_pk, plain_pk = pool.submit(seed).result(timeout=120)

    page = site.new_page(width=1280)
    page.goto(site.url("/aam/values/"), wait_until="networkidle")
    groups = page.locator("section.value-group")
    assert groups.count() == 2
    assert sorted(groups.evaluate_all("els => els.map(e => e.dataset.field)")) == [
        "account.industry", "opportunity.forecast_category"]
    row = page.locator(f'tr[data-value-id="{hostile_pk}"]')
    assert row.locator("td.value-raw").inner_text() == SCRIPT  # shown as text
    assert page.evaluate("window.__pwned") is None  # never run
    shot(page, screenshots_dir, "values-review-1280")

    plain = page.locator(f'tr[data-value-id="{plain_pk}"]')
    plain.locator('select[name="canonical"]').select_option("commit")
    with page.expect_navigation():
        plain.locator('button[value="approve"]').click()
    assert "now commit" in page.locator("body").inner_text()
    page.goto(site.url("/aam/values/?status=mapped"), wait_until="networkidle")
    decided = page.locator(f'tr[data-value-id="{plain_pk}"]')
    assert "commit" in decided.inner_text() and "decided by admin" in decided.inner_text()
    assert page.console_errors == []
