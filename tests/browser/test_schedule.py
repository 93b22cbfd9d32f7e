"""In a real browser: a connection's schedule set on its page (a six-field cron refused with the
reason, an interval saved with its next run), its freshness and its runs with their counts."""

from __future__ import annotations

from tests.browser.conftest import in_thread, shot


def test_the_schedule_is_set_on_the_connection_page(site, committed_tenants, screenshots_dir):
    from django.db import connection as db
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    from tenants.offboarding import periodic_task_prefix

    tenant, _ = committed_tenants

    def seed():
        from connectors.models import Connection
        from dcl.models import ConnectionRun

        db.set_tenant(tenant)
        conn = Connection.objects.create(name="Scheduled CRM", kind="salesforce", last_synced_at=timezone.now())
        ConnectionRun.objects.create(
            connection=conn, trigger="schedule", status="succeeded", started_at=timezone.now(),
            finished_at=timezone.now(), seconds=1.5, records_read=42, quarantined=2,
            object_counts=[{"object": "Opportunity", "entity": "opportunity", "read": 42, "published": 40,
                            "quarantined": 2, "inserted": None, "updated": None, "deleted": None}])
        return conn.pk

    pk = in_thread(seed, timeout=60)
    try:
        page = site.new_page(width=1280)
        page.goto(site.url(f"/connections/{pk}/"), wait_until="networkidle")
        card = page.locator("#schedule")
        assert card.locator("[data-schedule-state]").inner_text() == "not scheduled"
        row = page.locator('#runs tbody[data-run-status="succeeded"]')
        assert "Opportunity" in row.inner_text() and "42" in row.inner_text()

        page.select_option("#schedule-kind", "cron")
        page.fill("#schedule-cron", "* * * * * *")
        with page.expect_navigation():
            page.click('#schedule-form button[value="save"]')
        error = page.locator(".messages .error").inner_text()
        assert "Schedule not saved" in error and "six fields" in error
        assert page.locator("#schedule [data-schedule-state]").inner_text() == "not scheduled"

        page.select_option("#schedule-kind", "interval")
        page.fill("#schedule-every", "15")
        page.select_option('#schedule-form select[name="unit"]', "minutes")
        with page.expect_navigation():
            page.click('#schedule-form button[value="save"]')
        assert "scheduled every 15 minutes" in page.locator(".messages").inner_text()
        card = page.locator("#schedule")
        assert card.locator("[data-schedule-state]").inner_text() == "scheduled"
        assert card.locator("[data-schedule-description]").inner_text() == "every 15 minutes"
        assert card.locator("[data-next-run] time").count() == 1
        shot(page, screenshots_dir, "connection-schedule-1280")

        phone = site.new_page(width=375)
        phone.goto(site.url(f"/connections/{pk}/"), wait_until="networkidle")
        overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the connection page is {overflow}px wider than a phone"
        shot(phone, screenshots_dir, "connection-schedule-375")
        assert page.console_errors == [] and phone.console_errors == []
    finally:
        in_thread(lambda: PeriodicTask.objects.filter(name__startswith=periodic_task_prefix(tenant.tenant_id))
                  .delete(), timeout=60)
