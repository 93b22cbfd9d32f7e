"""Browser tests: Playwright (Python) driving Debian's Chromium against the live web server (scripts/web.sh).

scripts/browser.sh installs /usr/bin/chromium when it is missing; without it these tests skip.
Screenshots of every page land in test-artifacts/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import io
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, ROOT

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
    # *.localhost is loopback in Chromium already; the rule makes it explicit and independent of the resolver.
    "--host-resolver-rules=MAP *.localhost 127.0.0.1",
]



def pytest_collection_modifyitems(config, items):
    missing = not Path(CHROMIUM).exists()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = True
    skip = pytest.mark.skip(reason=f"{CHROMIUM} or playwright is missing (bash scripts/browser.sh installs Chromium)")
    for item in items:
        if "tests/browser" not in str(item.fspath):
            continue
        # django_db makes pytest-django create the test database even when only browser tests run;
        # the per-test transaction it would add is switched off below (`_django_db_helper`).
        item.add_marker(pytest.mark.django_db)
        item.add_marker(pytest.mark.browser)
        item.add_marker(pytest.mark.live)
        if missing:
            item.add_marker(skip)


@pytest.fixture
def _django_db_helper(django_db_setup, django_db_blocker):
    """No wrapping transaction for browser tests: the server is another process and must see the
    data the test writes. `committed_db` (under `asgi_server`) unblocks the database and wipes the
    tenant tables afterwards instead."""
    yield


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module.

    Playwright's sync API keeps an event loop running in this thread while it is open, so Django
    refuses ORM calls here (async safety) unless DJANGO_ALLOW_ASYNC_UNSAFE is set; the tests' own
    ORM calls are plain synchronous code, so it is set for the module and removed afterwards, and the
    browser closes with the module so later tests (asyncio.run, async_to_sync) get a free thread.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                yield b
            finally:
                b.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def screenshots_dir():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


# Chromium reports a blocked script, style, font, image, frame or connection twice: as a console
# error ("Refused to … because it violates the following Content Security Policy directive") and as
# a `securitypolicyviolation` event, which this script (run before any of the page's) records.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline")
                    + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


def csp_violations(page) -> list[str]:
    """The Content-Security-Policy violations the page has reported since it loaded."""
    return page.evaluate("window.__csp || []")


class Site:
    """The live server as seen by a browser on alpha's host, with a console-error collector and a
    recorder of Content-Security-Policy violations (`csp_violations`)."""

    def __init__(self, browser, server: str, slug: str = "alpha"):
        self.browser = browser
        self.port = server.rsplit(":", 1)[1]
        self.base = f"http://{slug}.localhost:{self.port}"
        self.contexts = []

    def new_page(self, *, width: int = 1280, height: int = 860, dark: bool = False, login: bool = True):
        context = self.browser.new_context(viewport={"width": width, "height": height},
                                           color_scheme="dark" if dark else "light",
                                           device_scale_factor=1, is_mobile=width < 500, has_touch=width < 500)
        context.set_default_timeout(15000)
        self.contexts.append(context)
        page = context.new_page()
        page.console_errors = []
        page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: page.console_errors.append(f"page error: {exc}"))
        page.add_init_script(RECORD_VIOLATIONS)
        if login:
            self.login(page)
        return page

    def login(self, page, username: str = "admin", password: str = PASSWORD):
        page.goto(f"{self.base}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert "/accounts/login" not in page.url, "login failed"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def close(self):
        for c in self.contexts:
            c.close()


@pytest.fixture
def site(django_db_setup, browser, asgi_server):
    # django_db_setup first: `committed_db` (under asgi_server) does not ask for it, and without it a
    # browser test run alone would point the server at the development database.
    s = Site(browser, asgi_server)
    yield s
    s.close()


@pytest.fixture
def site_with_worker(django_db_setup, browser, asgi_server, celery_worker_process):
    """The product's web server (scripts/web.sh) and a Celery worker (syncs run as tasks)."""
    s = Site(browser, asgi_server)
    yield s
    s.close()


def in_thread(fn, *, timeout: float = 120):
    """`fn()` (ORM work) in a thread of its own: Playwright's event loop owns this one."""
    from django.db import connection as db

    def run():
        try:
            return fn()
        finally:
            db.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=timeout)


def add_csv_connection(site, page, csv: Path, name: str) -> str:
    """Add a CSV connection through the form with `csv` uploaded; returns the new connection's page URL."""
    page.goto(site.url("/connections/new/"))
    with page.expect_navigation():
        page.click('[data-kind="filesource"]')
    page.fill("#id_name", name)
    page.set_input_files("#id_upload", str(csv))
    with page.expect_navigation():
        page.click("#connection-form button[type=submit]")
    assert "/connections/" in page.url and "/new/" not in page.url, page.content()[:3000]
    return page.url


def page_overflow(page) -> int:
    """How many pixels the page is wider than its screen (1 is rounding)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def assert_fits(page) -> None:
    overflow = page_overflow(page)
    assert overflow <= 1, f"{page.url} is {overflow}px wider than the screen"


def shot(page, directory: Path, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot named after the page, width and theme (the whole page unless told)."""
    safe = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")
    path = directory / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture(scope="session", autouse=True)
def _fresh_screenshots():
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    yield


def demo_agent_run(tenant, data_dir, agent: str):
    """`tenant` with the demo's exports synced (seed_demo's `demo_sync`) and `agent` run over its views, in a
    thread of its own; the agent's run."""
    def seed():
        from django.db import connection

        from agents.management.commands.seed_demo import demo_sync
        from agents.services import agents_run

        demo_sync(tenant, data_dir / "demo-exports", stdout=io.StringIO(), stderr=io.StringIO())
        connection.set_tenant(tenant)
        try:
            (run,) = agents_run(tenant=tenant, agents=[agent])
        finally:
            connection.set_schema_to_public()
        return run

    return in_thread(seed, timeout=300)

