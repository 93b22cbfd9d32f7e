"""In a real browser: a unified record's source rows side by side, and a connection's stream statistics."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.browser.conftest import shot
from tests.dashboard.lineage_seed import seed_merged_account, stream_backlog


def test_record_page_shows_source_rows_and_connection_page_shows_stream_statistics(site, committed_tenants,
                                                                                     screenshots_dir):
    from django.db import connection as db

    tenant, _ = committed_tenants

    def seed():  # in a thread of its own: Playwright's event loop owns this one
        db.set_tenant(tenant)
        try:
            crm, erp = seed_merged_account(tenant)
            stream_backlog(tenant, crm, other_connection=erp)
            return crm.pk
        finally:
            db.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        crm_pk = pool.submit(seed).result(timeout=120)

    page = site.new_page(width=1280)
    page.goto(site.url("/dcl/views/account/?field=source_count&op=gte&value=2"), wait_until="networkidle")
    with page.expect_navigation():
        page.locator('a[href^="/dcl/views/account/acc_"]').first.click()
    table = page.locator("#lineage-table")
    headers = [h.strip() for h in table.locator("thead th").all_text_contents()]  # (CSS upper-cases them)
    assert headers[:2] == ["Field", "Unified"]
    assert any("CRM export" in h and "001A" in h for h in headers)
    assert any("ERP export" in h and "E-77" in h for h in headers)
    # unified: the canonical value (pending review: none shown) over the source value that won;
    # each source record: its own value over what it maps to
    industry = [[line.strip() for line in cell.splitlines() if line.strip()]
                for cell in table.locator('tr[data-field="industry"] td').all_inner_texts()]
    assert industry[0] == ["industry"] and industry[1] == ["–", "Industrial Machinery · pending"]
    assert sorted(industry[2:]) == [["Industrial Machinery", "→ pending"], ["Manufacturing", "→ manufacturing"]]
    lost = table.locator('tr[data-field="industry"] td.differs')
    assert lost.count() == 1 and lost.inner_text().splitlines()[0].strip() == "Manufacturing"
    shot(page, screenshots_dir, "record-lineage-1280")

    page.goto(site.url(f"/connections/{crm_pk}/"), wait_until="networkidle")
    stats = page.locator("#stream-stats")
    assert stats.is_visible()
    figures = {name: stats.locator(f'[data-stat="{name}"] .stat').inner_text()
               for name in ("length", "pending", "lag", "dead-letters")}
    assert figures == {"length": "3", "pending": "1", "lag": "2", "dead-letters": "2"}
    shot(page, screenshots_dir, "connection-stream-stats-1280")
    assert page.console_errors == []
