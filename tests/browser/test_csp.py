"""The Content-Security-Policy in a real Chromium: the live pages' WebSocket, a connection's page with
its script-fetched schema, an error page, the Swagger UI, the admin and the login page load under it
without a single violation (no inline script, no CDN, the WebSocket allowed). The dashboard's pages
are checked the same way by every sweep of test_dashboard.py."""

from __future__ import annotations

from tests.browser.conftest import csp_violations

ACCOUNTS_CSV = "Id,Name,Website\n001A000001,Acme Corporation,https://acme.example\n"


class Watched:
    """A page's CSP violations and its other console errors (the admin's missing /favicon.ico aside)."""

    def __init__(self, page):
        self.page = page
        self.violations: list[str] = []
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, msg) -> None:
        if "Content Security Policy" in msg.text:
            self.violations.append(msg.text)
        elif msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico"):
            self.errors.append(f"{msg.text} ({msg.location.get('url')})")

    def visit(self, url: str, *, wait_for: str | None = None, status: int = 200) -> None:
        response = self.page.goto(url, wait_until="networkidle")
        assert response is not None and response.status == status, f"{url}: {response and response.status}"
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "object-src 'none'" in policy, f"{url}: CSP header {policy!r}"
        if wait_for:
            self.page.wait_for_selector(wait_for)
            self.page.wait_for_load_state("networkidle")
        self.violations.extend(csp_violations(self.page))
        assert self.violations == [], f"{url}: {self.violations}"
        if status == 200:
            assert self.errors == [], f"{url}: {self.errors}"
        self.errors.clear()  # an error page's own status is logged as a console error


def test_every_page_loads_under_the_content_security_policy_without_violations(site, tmp_path):
    page = site.new_page(width=1280)
    watched = Watched(page)
    # The dashboard's own pages are loaded under the policy, their violations and its header
    # checked, by every sweep of tests/browser/test_dashboard.py (four widths and themes).

    # The WebSocket of the live pages (connect-src 'self' must cover ws: on the same host).
    watched.visit(site.url("/flow/"), wait_for='[data-live-pill][data-state="open"]')

    # A connection's page with an uploaded file and its schema fragment (fetched by script).
    csv = tmp_path / "Account.csv"
    csv.write_text(ACCOUNTS_CSV, encoding="utf-8")
    page.goto(site.url("/connections/new/filesource/"))
    page.fill("#id_name", "CSP export")
    page.set_input_files("#id_upload", str(csv))
    with page.expect_navigation():
        page.click("#connection-form button[type=submit]")
    detail = page.url
    assert "/connections/" in detail and "/new/" not in detail
    watched.visit(detail, wait_for="#schema table")
    watched.visit(site.url("/no-such-page/"), status=404)

    # The Swagger UI, from drf-spectacular-sidecar's files and the split view's script URL.
    watched.visit(site.url("/api/docs/"), wait_for="#swagger-ui .opblock")

    # The admin: its index, and every list and add page it links to.
    watched.visit(site.url("/admin/"), wait_for="#content")
    links = page.eval_on_selector_all(
        "#content-main a[href^='/admin/']", "els => [...new Set(els.map(e => e.getAttribute('href')))]"
    )
    assert links, "the admin index lists no models"
    for href in links[:24]:
        watched.visit(site.url(href), wait_for="#content")

    # Signed out: the login page.
    anonymous = Watched(site.new_page(width=1280, login=False))
    anonymous.visit(site.url("/accounts/login/"))
