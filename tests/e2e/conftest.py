"""The browser tier: Debian's Chromium, driven by Playwright's sync API, against the session app on a live server.

Data the browser must see is committed (the ``live_db`` fixture), never rolled back: the server answers from its
own threads and connections.

Playwright's sync API marks its asyncio loop as the running loop of the main thread for as long as it is started:
``asyncio.run()`` in any later test would fail with "cannot be called from a running event loop". So Playwright
and the browser live for this package only (not the session) and are stopped before a test outside it runs.
"""

import itertools
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Generous: a deadline only turns a hang into a failure, and CI's machine may be busy. Playwright waits for what a
# step needs (an element, a navigation), so a fast machine does not wait at all.
TIMEOUT_MS = 60_000
expect.set_options(timeout=TIMEOUT_MS)

# Reports CSP violations to the console, where the console listener below records them as errors. Chromium logs
# most violations itself; this also catches the ones it reports only as events. Playwright injects init scripts
# through the DevTools protocol, so the page's CSP does not block this one.
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.sourceFile}`);
});
"""


class LiveServer:
    """The session app on 127.0.0.1 in a background thread.

    The login, sign-up and reset forms are rate-limited per client address. Every test is a visitor of its own
    (``REMOTE_ADDR`` from the documentation range 192.0.2.0/24), so that the tier neither trips over the limits
    other tests use up nor depends on its own test order.
    """

    def __init__(self, app):
        self.app = app
        self.remote_addr = "192.0.2.1"
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="e2e-live-server", daemon=True)

    def _wsgi(self, environ, start_response):
        environ["REMOTE_ADDR"] = self.remote_addr
        return self.app(environ, start_response)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def local(self, link: str) -> str:
        """A mailed link (built on PUBLIC_BASE_URL) pointed at this server: same path and query, our host."""
        parts = urlsplit(link)
        return self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture(scope="package")
def live_server(app) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()


_visitors = itertools.count(1)


@pytest.fixture
def server(live_server, live_db) -> LiveServer:
    """The live server with committed, emptied-afterwards data, seen by this test's own client address."""
    live_server.remote_addr = f"192.0.2.{next(_visitors) % 250 + 1}"
    return live_server


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class ConsoleWatch:
    """Console errors, uncaught page errors and failed requests of every page of a browser context."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        # Chromium fetches the icon after the page has loaded; the next navigation may cancel that fetch.
        self.allowed: list[re.Pattern] = [re.compile(r"^request failed: GET \S+/favicon\.\w+ other net::ERR_ABORTED$")]

    def attach(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on(
            "requestfailed",
            lambda req: self.problems.append(
                f"request failed: {req.method} {req.url} {req.resource_type} {req.failure}"
            ),
        )

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def allow(self, pattern: str) -> None:
        """An error the test provokes on purpose, e.g. the 422 of a rejected form."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(a.search(p) for a in self.allowed)]


class Session:
    """One browser context (one visitor with their cookies) and helpers for the journeys."""

    def __init__(self, context: BrowserContext, server: LiveServer, shots: Path, watch: ConsoleWatch):
        self.context = context
        self.server = server
        self.shots = shots
        self.watch = watch
        self.page = context.new_page()
        watch.attach(self.page)

    def goto(self, path: str):
        return self.page.goto(self.server.url(path))

    def login(self, email: str, password: str) -> None:
        self.goto("/login")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()

    def follow(self, locator, path: str) -> None:
        """Click a link or button and wait until the page that answers on ``path`` is in.

        In the cockpit htmx boosts links and forms: the address changes before the response is read to its end,
        so waiting for the address alone would let the next step cancel that request.
        """
        pattern = re.compile(re.escape(self.server.url(path)) + r"(\?.*)?$")
        with self.page.expect_request_finished(lambda request: bool(pattern.match(request.url))):
            locator.click()
        self.page.wait_for_url(pattern)

    def nav(self, label: str) -> None:
        """Follow a link of the cockpit's sidebar."""
        link = self.page.locator(".sidebar").get_by_role("link", name=label, exact=True)
        self.follow(link, link.get_attribute("href"))

    def logout(self) -> None:
        self.follow(self.page.get_by_role("button", name="Sign out"), "/login")

    def screenshot(self, name: str) -> None:
        """Full-page screenshots at desktop and at phone width; the viewport is left at desktop width.

        At either width the page must fit: what is wider (a table) scrolls on its own, never the whole page.
        """
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            self.page.set_viewport_size(size)
            self.page.screenshot(path=self.shots / f"{name}-{label}.png", full_page=True)
            width = self.page.evaluate("document.documentElement.scrollWidth")
            assert width <= size["width"], f"{name} is {width}px wide at {label} width {size['width']}px"
        self.page.set_viewport_size(DESKTOP)


@pytest.fixture
def screenshots_dir(artifacts_dir) -> Path:
    path = artifacts_dir / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def console() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture
def new_session(browser, server, screenshots_dir, console):
    """Opens browser contexts for the test; asserts at the end that no page logged an error or a CSP violation.

    The contexts close before ``live_db`` empties the tables, so that no request of theirs is still running then.
    """
    contexts: list[BrowserContext] = []

    def open_session(**options) -> Session:
        context = browser.new_context(viewport=DESKTOP, locale="en-GB", **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(CSP_REPORTER)
        contexts.append(context)
        return Session(context, server, screenshots_dir, console)

    yield open_session
    for context in contexts:
        context.close()
    assert console.unexpected() == [], "the pages logged errors"


@pytest.fixture
def visitor(new_session) -> Session:
    """A browser session with JavaScript on, at desktop width."""
    return new_session()
