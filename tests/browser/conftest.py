"""Browser tests: Playwright's sync API driving Debian's Chromium against the live server.

Skipped, with the reason, when Chromium is missing (/usr/bin/chromium or
$CIVITAS_CHROMIUM) or cannot start; the accessibility checks are skipped when
node_modules/axe-core is missing (`npm ci` installs it; bin/setup runs that).

pytest-django's live_server speaks WSGI only, so the live-notification test runs the
portal's ASGI application (HTTP and websockets) on daphne in a thread of this process:
it shares the test database and the in-memory channel layer with the test.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.urls import reverse

from portal.testing import TEST_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CIVITAS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE_SOURCE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOT_DIR = os.environ.get("CIVITAS_SCREENSHOT_DIR", "")


def chromium_missing_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CIVITAS_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


@pytest.fixture(scope="module")
def browser(django_db_setup):
    # Module scope: while Playwright runs, the main thread has a running event loop, which
    # later (non-browser) tests must not inherit. The database is set up before it starts.
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import Error, sync_playwright

    # Playwright's sync API keeps an event loop in the main thread; Django then refuses
    # ORM calls from the tests (and pytest-django's flush after each) as if they were
    # async code. They are not; the flag is lifted when this module's browser closes.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            try:
                chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            except Error as error:
                pytest.skip(f"Chromium at {CHROMIUM} did not start: {error.message.splitlines()[0]}")
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda message: message.type == "error" and errors.append(f"{message.text} ({message.location.get('url')})"),
    )
    page.console_errors = errors  # CSP violations are reported as console errors
    yield page
    context.close()


@pytest.fixture
def verified_email():
    """allauth asks for a verified address before it lets anyone in (mandatory verification)."""
    from allauth.account.models import EmailAddress

    def verify(*users):
        for user in users:
            EmailAddress.objects.update_or_create(
                user=user, email=user.email, defaults={"verified": True, "primary": True}
            )
        return users

    return verify


def log_in(page, base_url: str, username: str, password: str = TEST_PASSWORD) -> None:
    """Through the real login form, as a person would."""
    page.goto(base_url + reverse("account_login"))
    page.get_by_label("Login").fill(username)
    page.get_by_label("Password").fill(password)
    page.locator("main").get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def axe_violations(page, *, impacts=("serious", "critical")) -> list[dict]:
    """Run axe-core on the page as it is and return the violations of these impacts."""
    if not AXE_SOURCE.exists():
        pytest.skip(f"axe-core is not installed ({AXE_SOURCE} missing): run `npm ci` in the project root")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, so the page's CSP (no inline scripts) does not apply.
        page.evaluate(AXE_SOURCE.read_text())
    results = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " :: " + n.failureSummary),
            }));
        }"""
    )
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        name = page.url.split("//", 1)[-1].split("/", 1)[-1].strip("/").replace("/", "_") or "home"
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / f"{name}.png"), full_page=True)
    return [v for v in results if v["impact"] in impacts]


def format_violations(violations: list[dict]) -> str:
    return json.dumps(violations, indent=2)


# --- An ASGI server for websockets -----------------------------------------------------


@dataclass
class AsgiServer:
    url: str
    loop: asyncio.AbstractEventLoop

    def run_in_server(self, func: Callable[[], object], timeout: float = 10) -> object:
        """Call a sync function from the server's event loop, as a consumer would.

        Channel-layer messages it sends (after commit) then go out on the loop the
        consumers listen on; the in-memory layer is not thread-safe across loops."""
        from asgiref.sync import sync_to_async

        async def call():
            return await sync_to_async(func)()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout)


def _asgi_application():
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from portal.asgi import application as portal_application
    from portal.asgi import django_asgi_app

    http = ASGIStaticFilesHandler(django_asgi_app)  # static files as runserver serves them

    async def application(scope, receive, send):
        if scope["type"] == "http":
            return await http(scope, receive, send)
        return await portal_application(scope, receive, send)

    return application


@pytest.fixture(scope="session")
def asgi_server() -> Iterator[AsgiServer]:
    """daphne serving the portal in a daemon thread, for the whole session (a Twisted
    reactor runs once per process)."""
    from daphne.server import Server  # installs the asyncio reactor: import late
    from twisted.internet import reactor

    server = Server(
        application=_asgi_application(),
        endpoints=["tcp:port=0:interface=127.0.0.1"],
        signal_handlers=False,
        verbosity=0,
    )
    thread = threading.Thread(target=server.run, name="daphne-tests", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.listening_addresses:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.skip("daphne did not start in a thread of the test process")
        time.sleep(0.05)
    host, port = server.listening_addresses[0]
    yield AsgiServer(url=f"http://{host}:{port}", loop=reactor._asyncioEventloop)
    reactor.callFromThread(reactor.stop)
    thread.join(timeout=5)
