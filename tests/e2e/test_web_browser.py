"""The web app in Debian's Chromium through Playwright, against a real uvicorn server on loopback.

A subscriber signs up, confirms from the captured email, follows every link of a received
digest (view in browser, preferences, unsubscribe); an admin signs in, imports a CSV, previews
and sends a list and watches the run reach done. Screenshots go to test-output/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from newsletter.devtools.capture import free_port
from newsletter.operations import runs
from newsletter.runtime import Runtime
from newsletter.web.app import create_app
from tests.conftest import make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer
from tests.webapp import ADMIN, add_users, wait_for

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class Site:
    """A served app: its URL, runtime and the SMTP server that captures its mail."""

    url: str
    runtime: Runtime
    smtp: RecordingServer


@pytest.fixture
def site(sqlite_url: str, smtp_server: RecordingServer) -> Iterator[Site]:
    """uvicorn serving the app on a free loopback port, in a thread."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runtime = make_runtime(make_settings(sqlite_url, smtp_server, base_url=url))
    now = runtime.clock()
    seed_list(runtime.engine, now, ["tech", "science"])
    subscribe(runtime.engine, now, "alice@example.com", ["tech"], name="Alice")
    add_articles(runtime.engine, now, [["tech"], ["science"], ["tech", "science"], ["science"]])
    add_users(runtime)
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started)
    yield Site(url=url, runtime=runtime, smtp=smtp_server)
    server.should_exit = True
    thread.join(timeout=10)
    runtime.dispose()


@pytest.fixture
def browser() -> Iterator[object]:
    """Debian's Chromium, never a downloaded browser."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: run `make system-deps`")
        pytest.skip("/usr/bin/chromium is missing: run `make system-deps`")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def shoot(page: object, name: str) -> None:
    """A full-page screenshot under test-output/screenshots/."""
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _links(smtp: RecordingServer, recipient: str, base: str) -> list[str]:
    """Every link to our site in the text part of the last message to ``recipient``."""
    message = [m for m in smtp.messages if recipient in m.rcpt_tos][-1].parsed()
    body = message.get_body(("plain",))
    assert body is not None
    return re.findall(re.escape(base) + r"/[a-z]/[^\s>\]]+", body.get_content())


def test_subscriber_signs_up_confirms_and_follows_every_digest_link(
    site: Site, browser: object
) -> None:
    context = browser.new_context(viewport=DESKTOP, timezone_id="Europe/Paris")  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{site.url}/l/daily")
    assert page.input_value("#timezone") == "Europe/Paris"  # filled from the browser
    shoot(page, "subscribe-desktop")
    page.fill("input[name=email]", "reader@example.com")
    page.fill("input[name=name]", "Reader")
    page.check("input[name=topics][value=science]")
    page.select_option("#cadence", "weekly")
    assert page.is_visible("#weekday-field")
    page.click("button[type=submit]")
    page.wait_for_selector("#signup-done")
    shoot(page, "subscribe-done")

    wait_for(lambda: any("reader@example.com" in m.rcpt_tos for m in site.smtp.messages))
    confirm = _links(site.smtp, "reader@example.com", site.url)
    assert confirm and "/c/" in confirm[0]
    page.goto(confirm[0])
    page.click("#confirm-button")
    page.wait_for_selector("#confirmed")
    shoot(page, "confirmed")

    # Playwright's sync API runs a loop in this thread: send from another one
    with ThreadPoolExecutor(1) as pool:
        summary = pool.submit(asyncio.run, runs.send_list(site.runtime, slug="daily")).result()
    assert summary.report is not None and summary.report.sent == 2
    links = _links(site.smtp, "reader@example.com", site.url)
    kinds = {link.split("/")[3] for link in links}
    assert kinds >= {"v", "p", "u"}
    for link in links:  # every link of the received digest leads to a working page
        response = page.goto(link)
        assert response is not None and response.status == 200, link
    archive = next(link for link in links if "/v/" in link)
    page.goto(archive)
    assert "reader@example.com" not in page.content()
    shoot(page, "archive")

    phone = browser.new_context(viewport=PHONE, is_mobile=True)  # type: ignore[attr-defined]
    mobile = phone.new_page()
    mobile.goto(next(link for link in links if "/p/" in link))
    shoot(mobile, "preferences-phone")
    mobile.select_option("select[name=send_hour]", "18")
    mobile.click("button[value=save]")
    mobile.wait_for_selector("#saved")
    assert mobile.input_value("select[name=send_hour]") == "18"
    mobile.goto(f"{site.url}/l/daily")
    shoot(mobile, "subscribe-phone")

    mobile.goto(next(link for link in links if "/u/" in link))
    shoot(mobile, "unsubscribe-phone")
    mobile.click("#unsubscribe-button")
    mobile.wait_for_selector("#unsubscribed")
    shoot(mobile, "unsubscribed-phone")
    phone.close()
    context.close()


def test_admin_imports_previews_and_sends_to_done(
    site: Site, browser: object, tmp_path: Path
) -> None:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[attr-defined]
    page = context.new_page()
    blocked: list[str] = []  # the CSP must not block any of our own scripts or styles
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    page.goto(f"{site.url}/admin")
    assert "/admin/login" in page.url
    shoot(page, "login")
    page.fill("input[name=email]", ADMIN[0])
    page.fill("input[name=password]", ADMIN[1])
    page.click("button[type=submit]")
    page.wait_for_selector("h1:has-text('Dashboard')")

    people = tmp_path / "people.csv"
    people.write_text(
        "email,name,topics\nbea@example.com,Bea,tech\nwrong-address,X,tech\n"
        "carl@example.com,Carl,science\n",
        encoding="utf-8",
    )
    page.goto(f"{site.url}/admin/subscribers?list=daily")
    page.set_input_files("#import input[type=file]", str(people))
    page.check("#import input[name=confirmed]")
    page.click("#import button[type=submit]")
    page.wait_for_selector("#import-report")
    assert page.inner_text("#import-added") == "2"
    assert page.inner_text("#import-rejected") == "1"
    assert "wrong-address" in page.inner_text("#rejected")
    shoot(page, "import-result")
    page.goto(f"{site.url}/admin/subscribers?list=daily")
    shoot(page, "subscribers")

    page.goto(f"{site.url}/admin/preview?list=daily")
    page.frame_locator("#preview-frame").locator("text=Story 0").first.wait_for()
    shoot(page, "preview-desktop")
    page.goto(f"{site.url}/admin/preview?list=daily&view=mobile")
    page.frame_locator("#preview-frame").locator("text=Story 0").first.wait_for()
    shoot(page, "preview-mobile")
    page.goto(f"{site.url}/admin/preview?list=daily&view=text")
    assert "Story 0" in page.inner_text("#preview-text")

    page.goto(f"{site.url}/admin/send?list=daily")
    page.check("input[name=confirm]")
    page.click("button:has-text('Send now')")
    page.wait_for_selector("#run-status")
    started = time.monotonic()
    # A locator, not wait_for_function: the page's CSP forbids evaluating strings (no eval).
    page.locator("#run-status.status-done").wait_for(timeout=20_000)
    assert time.monotonic() - started < 20
    assert page.inner_text("#count-sent") == "3"
    assert page.inner_text("#count-pending") == "0"
    assert not page.is_visible("#action-pause")
    shoot(page, "run-done")
    assert blocked == []
    page.goto(f"{site.url}/admin")
    shoot(page, "dashboard-desktop")
    phone = browser.new_context(viewport=PHONE, is_mobile=True)  # type: ignore[attr-defined]
    phone.add_cookies(context.cookies())
    mobile = phone.new_page()
    mobile.goto(f"{site.url}/admin")
    shoot(mobile, "dashboard-phone")
    mobile.goto(f"{site.url}/admin/articles")
    shoot(mobile, "articles-phone")
    phone.close()
    context.close()
