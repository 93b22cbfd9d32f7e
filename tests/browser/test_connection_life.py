"""A connection's later life in a real browser (issue #18): a changed export uploaded again replaces the
earlier snapshot (the view holds exactly the new file's rows, none twice); deleting a connection asks
what becomes of its records: kept (named as from a removed connection) or removed from every view.

The server and a Celery worker run as real processes on the test database (syncs and the removal are
tasks); screenshots in light, dark and phone width, checked for sideways overflow."""

from __future__ import annotations

from tests.browser.conftest import add_csv_connection, assert_fits, in_thread, shot

HEADER = "Opportunity Name,Amount,Stage,Close Date"


def _deals(rows: range, *, amount_of=lambda i: 1000 + i) -> str:
    lines = [HEADER] + [f"Deal {i},{amount_of(i)},Prospecting,2026-06-30" for i in rows]
    return "\n".join(lines) + "\n"


def _orm(fn):
    """ORM work (in the tenant alpha) in a thread of its own."""
    from django.db import connection as db

    from tenants.models import Tenant

    def in_alpha():
        db.set_tenant(Tenant.objects.get(slug="alpha"))
        return fn()

    return in_thread(in_alpha, timeout=60)


def _view_rows(entity: str) -> list[dict]:
    from dcl.selectors import view_all

    return _orm(lambda: view_all(entity=entity) if _orm_has_view(entity) else [])


def _orm_has_view(entity: str) -> bool:
    from dcl.models import MaterializedView

    return MaterializedView.objects.filter(entity=entity).exists()


def _wait_rows(entity: str, predicate, timeout: float = 90.0) -> list[dict]:
    from tests.waiting import wait_until

    return wait_until(lambda: (rows if predicate(rows := _view_rows(entity)) else None), timeout=timeout,
                      interval=0.5, message=f"the {entity} view to change")


def _add(site, page, tmp_path, name: str, content: str) -> str:
    csv = tmp_path / f"{name}.csv"
    csv.write_text(content, encoding="utf-8")
    return add_csv_connection(site, page, csv, name)


def _delete(page, url: str, data: str) -> None:
    page.goto(url, wait_until="networkidle")
    page.check(f'input[name="data"][value="{data}"]')
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click('form[action$="/delete/"] button[type=submit]')
    assert "deleted" in page.locator(".messages").inner_text()


def test_a_changed_export_replaces_the_last_and_deleting_keeps_or_removes_the_records(site_with_worker, tmp_path,
                                                                                     screenshots_dir):
    site = site_with_worker
    page = site.new_page(width=1280)
    url = _add(site, page, tmp_path, "Deals export", _deals(range(50)))
    _wait_rows("opportunity", lambda rows: len(rows) == 50)

    # Changed and exported again: 5 amounts edited, 5 rows gone, 5 new — the same file name, no id column.
    changed = tmp_path / "again" / "Deals export.csv"
    changed.parent.mkdir()
    changed.write_text(_deals(range(5, 55), amount_of=lambda i: 9000 + i if i < 10 else 1000 + i), encoding="utf-8")
    page.goto(url, wait_until="networkidle")
    page.set_input_files('input[name="upload"]', str(changed))
    with page.expect_navigation():
        page.click('form[action$="/upload/"] button[type=submit]')
    page.click("[data-sync]")
    rows = _wait_rows("opportunity", lambda rows: {r["name"] for r in rows} == {f"Deal {i}" for i in range(5, 55)})
    assert len(rows) == 50  # none twice
    assert {r["name"]: float(r["amount"]) for r in rows}["Deal 7"] == 9007.0
    shot(page, screenshots_dir, "connection-reuploaded-1280")
    for width, dark in ((1280, True), (390, False), (390, True)):
        other_page = site.new_page(width=width, dark=dark)
        other_page.goto(url, wait_until="networkidle")
        assert_fits(other_page)
        shot(other_page, screenshots_dir, f"connection-reuploaded-{width}{'-dark' if dark else ''}")
        assert other_page.console_errors == []

    # A second source of the same deals; deleting it and keeping its records leaves them in the view.
    other = _add(site, page, tmp_path, "Old CRM", _deals(range(100, 103)))
    _wait_rows("opportunity", lambda rows: len(rows) == 53)
    _delete(page, other, "keep")
    assert "stay in the views" in page.locator(".messages").inner_text()
    page.goto(site.url("/dcl/views/opportunity/"), wait_until="networkidle")
    assert "Old CRM (removed)" in page.locator("#view-table").inner_text()
    for width, dark in ((1280, False), (390, True)):
        view = site.new_page(width=width, dark=dark)
        view.goto(site.url("/dcl/views/opportunity/"), wait_until="networkidle")
        assert_fits(view)
        shot(view, screenshots_dir, f"view-with-removed-source-{width}{'-dark' if dark else ''}", full_page=False)
        assert view.console_errors == []

    # Deleting the first with its data takes its records out of every view (on a phone, in the dark).
    phone = site.new_page(width=390, dark=True)
    phone.goto(url, wait_until="networkidle")
    assert_fits(phone)
    shot(phone, screenshots_dir, "connection-delete-choice-390-dark")
    _delete(phone, url, "remove")
    assert "leaving the unified views" in phone.locator(".messages").inner_text()
    assert_fits(phone)
    rows = _wait_rows("opportunity", lambda rows: len(rows) == 3)
    assert {r["name"] for r in rows} == {"Deal 100", "Deal 101", "Deal 102"}
    assert page.console_errors == [] and phone.console_errors == []
