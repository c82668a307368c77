"""The console's pages in Debian's Chromium through Playwright, against a real uvicorn server:
an admin works the tables, bulk actions, users, tokens, webhooks, suppressions, settings and a
subscriber's profile; an editor runs feeds, topics and scheduled sends and is refused every
admin page. Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from newsletter.operations import runs
from tests.conftest import FIXTURES
from tests.e2e.test_web_browser import DESKTOP, Site, browser, shoot, site  # noqa: F401
from tests.feedserver import FeedServer, Page
from tests.webapp import ADMIN, EDITOR

pytestmark = pytest.mark.browser
ADMIN_PAGES = ("users", "settings", "suppressions", "subscribers", "lists", "webhooks")


def sign_in(page: object, url: str, who: tuple[str, str]) -> None:
    page.goto(f"{url}/admin/login")  # type: ignore[attr-defined]
    page.fill("input[name=email]", who[0])  # type: ignore[attr-defined]
    page.fill("input[name=password]", who[1])  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector("h1:has-text('Dashboard')")  # type: ignore[attr-defined]


def visible_rows(page: object, table: str) -> list[str]:
    return page.eval_on_selector_all(  # type: ignore[no-any-return, attr-defined]
        f"#{table} tbody tr:not([hidden])", "rows => rows.map(r => r.innerText)"
    )


def test_admin_tables_bulk_errors_zone_search_and_favicon(
    site: Site,  # noqa: F811
    browser: object,  # noqa: F811
) -> None:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[attr-defined]
    page = context.new_page()
    sign_in(page, site.url, ADMIN)
    for email in ("zed@example.com", "bea@example.com"):
        page.goto(f"{site.url}/admin/subscribers?list=daily")
        page.fill("#add-subscriber input[name=email]", email)
        page.check("#add-subscriber input[name=confirmed]")
        page.click("#add-subscriber button[type=submit]")
        page.wait_for_selector("#flash")
    page.goto(f"{site.url}/admin/subscribers?list=daily")
    assert len(visible_rows(page, "members")) == 3
    page.fill("input.tablefilter", "zed")
    assert [r.split()[0] for r in visible_rows(page, "members")] == ["zed@example.com"]
    page.fill("input.tablefilter", "")
    page.click("#members th:has-text('Email')")
    page.click("#members th:has-text('Email')")  # second click: descending
    assert page.get_attribute("#members th:has-text('Email')", "aria-sort") == "descending"
    firsts = [r.split()[0] for r in visible_rows(page, "members")]
    assert firsts == sorted(firsts, reverse=True)
    shoot(page, "console-subscribers-sorted")
    page.check("input[name=emails][value='zed@example.com']")
    page.check("input[name=emails][value='bea@example.com']")
    page.select_option("#bulk select[name=action]", "unsubscribe")
    page.click("#bulk button[type=submit]")
    page.wait_for_selector("#flash")
    assert page.inner_text("#flash") == "unsubscribe: 2 changed"
    assert "unsubscribed" in page.inner_text("#members")

    page.goto(f"{site.url}/admin/lists")
    page.fill("input[name=slug]", "bad slug")
    page.evaluate("document.querySelector('input[name=slug]').removeAttribute('pattern')")
    page.fill("input[name=name]", "Typed list name")
    page.fill("input[name=from_name]", "Typed sender")
    page.fill("input[name=from_address]", "sender@example.org")
    page.click("form:has(input[name=slug]) button[type=submit]")
    page.wait_for_selector("#flash.error")
    colour = page.eval_on_selector("#flash", "e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(253, 236, 234)"  # the error red, not the notice blue
    assert page.input_value("input[name=name]") == "Typed list name"
    shoot(page, "console-error-kept")

    page.goto(f"{site.url}/admin/lists/daily")
    page.fill("input.zonefilter", "tokyo")
    assert page.input_value("select[name=default_timezone]") == "Asia/Tokyo"
    hidden = page.eval_on_selector_all(
        "select[name=default_timezone] option", "os => os.filter(o => !o.hidden).length"
    )
    assert 1 <= hidden < 5
    shoot(page, "console-zone-search")
    icon = page.eval_on_selector("link[rel=icon]", "e => e.href")
    assert httpx.get(icon).headers["content-type"] == "image/svg+xml"
    context.close()


def test_admin_users_tokens_webhooks_suppressions_settings_and_profile(
    site: Site,  # noqa: F811
    browser: object,  # noqa: F811
) -> None:
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop owns this thread
        summary = pool.submit(asyncio.run, runs.send_list(site.runtime, slug="daily")).result()
    assert summary.report is not None and summary.report.sent == 1
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[attr-defined]
    page = context.new_page()
    sign_in(page, site.url, ADMIN)

    page.goto(f"{site.url}/admin/users")
    page.fill("#add-user input[name=email]", "new.editor@example.org")
    page.fill("#add-user input[name=password]", "a-long-password")
    page.click("#add-user button[type=submit]")
    page.wait_for_selector("#flash")
    row = page.locator("tr:has-text('new.editor@example.org')")
    row.locator("summary").click()
    row.locator("select[name=role]").select_option("admin")
    row.locator("button:has-text('Change role')").click()
    page.wait_for_selector("#flash")
    assert "is now admin" in page.inner_text("#flash")
    shoot(page, "console-users")

    page.goto(f"{site.url}/admin/tokens")
    page.fill("#add-token input[name=name]", "browser test")
    page.click("#add-token button[type=submit]")
    token = page.inner_text("#token-value")
    me = httpx.get(f"{site.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["email"] == ADMIN[0]
    shoot(page, "console-tokens")
    page.goto(f"{site.url}/admin/tokens")
    assert token not in page.content()

    page.goto(f"{site.url}/admin/webhooks")
    page.fill("#add-webhook input[name=url]", "http://127.0.0.1:9/hook")
    page.click("#add-webhook button[type=submit]")
    assert page.inner_text("#secret-value").startswith("whsec_")
    page.click("#send-now button")
    page.wait_for_selector("#flash.error")  # nothing listens on port 9: retried later
    queue = page.inner_text("#queue")  # the clock is frozen: the run is as new as the endpoint
    assert "run.finished" in queue and "Connection refused" in queue
    shoot(page, "console-webhooks")

    page.goto(f"{site.url}/admin/suppressions")
    page.fill("#add-suppression input[name=value]", "blocked.example")
    page.select_option("#add-suppression select[name=kind]", "domain")
    page.click("#add-suppression button[type=submit]")
    page.wait_for_selector("#flash")
    assert "blocked.example" in page.inner_text("#suppressions")
    shoot(page, "console-suppressions")

    page.goto(f"{site.url}/admin/settings")
    assert "test-secret-key" not in page.content() and "********" in page.inner_text("#settings")
    shoot(page, "console-settings")

    page.goto(f"{site.url}/admin/people?email=alice@example.com")
    assert "Story" in page.inner_text("#deliveries")
    with context.expect_page() as opened:
        page.click("#deliveries a:has-text('View')")
    archive = opened.value
    archive.wait_for_load_state()
    assert "Story" in archive.content() and "alice@example.com" not in archive.content()
    shoot(page, "console-profile")
    page.goto(f"{site.url}/admin/runs/{summary.plan.run_id}?status=sent")
    assert "alice@example.com" in page.inner_text("#recipient-table")
    shoot(page, "console-run-recipients")
    context.close()


def test_editor_runs_feeds_topics_schedule_and_is_refused_admin_pages(
    site: Site,  # noqa: F811
    browser: object,  # noqa: F811
) -> None:
    served = FeedServer()
    served.pages["/feed.xml"] = Page(body=(FIXTURES / "feeds" / "tech-rss2.xml").read_bytes())
    served.start()
    try:
        context = browser.new_context(viewport=DESKTOP)  # type: ignore[attr-defined]
        page = context.new_page()
        sign_in(page, site.url, EDITOR)
        nav = page.inner_text(".topbar nav")
        assert "Feeds" in nav and "Users" not in nav and "Subscribers" not in nav
        for name in ADMIN_PAGES:
            response = page.goto(f"{site.url}/admin/{name}")
            assert response is not None and response.status == 403, name
            assert "Admins only" in page.inner_text("h1")
        shoot(page, "console-editor-refused")

        page.goto(f"{site.url}/admin/topics")
        page.fill("#add-topic input[name=slug]", "climate")
        page.fill("#add-topic input[name=name]", "Climate")
        page.click("#add-topic button[type=submit]")
        page.wait_for_selector("#topic-climate")
        shoot(page, "console-topics")

        page.goto(f"{site.url}/admin/feeds")
        page.fill("#add-feed input[name=url]", served.url("/feed.xml"))
        page.check("#add-feed input[name=topics][value=tech]")
        page.click("#add-feed button[type=submit]")
        page.wait_for_selector("#flash")
        page.click("tr[id^=feed-] button:has-text('Fetch now')")
        page.wait_for_selector("#flash")
        assert "new article" in page.inner_text("#flash")
        assert "ok" in page.inner_text("tr[id^=feed-]")
        shoot(page, "console-feeds")

        page.goto(f"{site.url}/admin/schedule")
        page.fill("#add-send input[name=at]", "2026-12-24T09:30")
        page.fill("#add-send input.zonefilter", "berlin")
        assert page.input_value("#add-send select[name=timezone]") == "Europe/Berlin"
        page.click("#add-send button[type=submit]")
        page.wait_for_selector("#flash")
        assert "2026-12-24 09:30 CET" in page.inner_text("#sends")
        page.click("#sends button:has-text('Cancel')")
        page.wait_for_selector("#flash")
        assert "cancelled" in page.inner_text("#sends")
        shoot(page, "console-schedule")
        context.close()
    finally:
        served.stop()
