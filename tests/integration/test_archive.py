"""The public archive after a real send: issues, topic pages, the Atom feed, view in browser.

A list is branded, given an editor's note and a lead story, and sent over real SMTP to two
readers with different topics; then every public page is fetched and checked for what a
reader and a feed reader see, and for the personal links that must never be there.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.content.draft import ArticleDraft
from newsletter.content.store import store_drafts
from newsletter.db import session_scope
from newsletter.models import Article, IssueNote, Run
from newsletter.operations import runs
from newsletter.publish import archive as reads
from newsletter.publish import editorial
from newsletter.publish.urls import topic_url
from newsletter.runtime import Runtime
from newsletter.web.app import create_app
from subscribers import lists as list_service
from tests.conftest import make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer

BASE = "http://testserver"
SITE = "http://archive.test"  # answered by Playwright routes, never resolved
SECRET = b"test-secret-key-0123456789"
NOTE = (
    "Welcome to **issue one**. <script>alert(1)</script> [Read us](https://news.example.org/about)"
)
PERSONAL = re.compile(r"/u/[A-Za-z0-9_-]{10,}|/p/[A-Za-z0-9_-]{10,}|@@|unsubscribe\+|alice|bob")


@dataclass
class Sent:
    runtime: Runtime
    client: TestClient
    smtp: RecordingServer
    run_id: int
    article_ids: list[int]


def brand(runtime: Runtime, *, public: bool = True) -> None:
    with session_scope(runtime.engine) as session:
        list_service.update_list(
            session,
            slug="daily",
            description="Tech and science, every morning.",
            logo_url="https://cdn.example.org/logo.png",
            accent_color="#e11d48",
            footer_text="Made by the Example newsroom.",
            postal_address="Example Newsroom\n1 Example Street\nExampletown",
            archive_public=public,
            show_images=True,
        )


@pytest.fixture
def sent(database_url: str, smtp_server: RecordingServer) -> Iterator[Sent]:
    """A branded public list, a note and lead story, one issue sent to Alice and Bob."""
    runtime = make_runtime(make_settings(database_url, smtp_server, base_url=BASE))
    now = runtime.clock()
    seed_list(runtime.engine, now, ["tech", "science"])
    brand(runtime)
    subscribe(runtime.engine, now, "alice@example.com", ["tech"], name="Alice")
    subscribe(runtime.engine, now, "bob@example.com", ["science"], name="Bob")
    ids = add_articles(runtime.engine, now, [["tech"], ["science"], ["tech"], ["science"]])
    with session_scope(runtime.engine) as session:
        for article_id, image in zip(
            ids[:2], ("https://cdn.example.org/0.jpg", "http://cdn.example.org/1.jpg"), strict=True
        ):
            article = session.get(Article, article_id)
            assert article is not None
            article.image_url = image
        mailing_list = list_service.get_list(session, slug="daily")
        editorial.set_next_issue(
            session, mailing_list=mailing_list, now=now, note=NOTE, lead_article_id=ids[2]
        )
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert summary.report is not None and summary.report.sent == 2
    with TestClient(create_app(runtime)) as client:
        yield Sent(runtime, client, smtp_server, summary.plan.run_id, ids)
    runtime.dispose()


def message_to(smtp: RecordingServer, address: str) -> tuple[str, str]:
    message = [m for m in smtp.messages if address in m.rcpt_tos][-1].parsed()
    html, text = message.get_body(("html",)), message.get_body(("plain",))
    assert html is not None and text is not None
    return html.get_content(), text.get_content()


def local(url: str) -> str:
    return url.removeprefix(BASE)


def test_the_digest_carries_brand_note_and_lead_and_the_run_takes_the_note(sent: Sent) -> None:
    html, text = message_to(sent.smtp, "alice@example.com")
    assert 'src="https://cdn.example.org/logo.png"' in html and 'width="200"' in html
    assert "<strong>issue one</strong>" in html and "<script" not in html
    assert "1 Example Street" in html and "Made by the Example newsroom." in html
    assert html.index("Story 2 about tech") < html.index("Story 0 about tech")  # lead first
    assert html.count("Story 2 about tech") == 2  # the <title> and the lead, not its section
    assert '<img class="thumb" src="https://cdn.example.org/0.jpg" width="96" height="96"' in html
    assert 'alt="Story 0 about tech"' in html and "http://cdn.example.org/1.jpg" not in html
    assert "\r\n-- \r\n" in text and "1 Example Street" in text and "issue one" in text
    bob_html, _ = message_to(sent.smtp, "bob@example.com")
    assert "Story 2 about tech" in bob_html  # the lead story goes to every reader
    with session_scope(sent.runtime.engine) as session:
        assert editorial.pending_note(session, list_id=1) is None
        taken = session.exec(select(IssueNote)).one()
        assert taken.run_id == sent.run_id


def test_archive_index_issue_page_and_topic_pages(sent: Sent) -> None:
    index = sent.client.get("/l/daily/archive")
    assert index.status_code == 200
    assert f'href="/l/daily/archive/{sent.run_id}"' in index.text
    assert 'action="/l/daily"' in index.text and 'name="form_token"' in index.text
    issue = sent.client.get(f"/l/daily/archive/{sent.run_id}")
    assert (
        issue.status_code == 200 and "script-src 'none'" in issue.headers["content-security-policy"]
    )
    for index_ in range(4):  # the union of Alice's and Bob's digests
        assert f"Story {index_} about" in issue.text
    assert (
        "<strong>issue one</strong>" in issue.text
        and 'href="http://testserver/l/daily"' in issue.text
    )
    assert sent.client.get("/l/daily/archive/999").status_code == 404
    assert sent.client.get("/l/daily/archive/x1").status_code == 404
    topic = sent.client.get("/l/daily/topics/tech")
    assert topic.status_code == 200 and "Story 0 about tech" in topic.text
    assert "Story 1 about science" not in topic.text
    assert f'id="a{sent.article_ids[0]}"' in topic.text
    assert sent.client.get("/l/daily/topics/world").status_code == 404  # not offered
    home = sent.client.get("/")
    assert 'href="/l/daily/archive"' in home.text and "Tech and science" in home.text


def test_no_public_page_carries_a_personal_link(sent: Sent) -> None:
    html, text = message_to(sent.smtp, "alice@example.com")
    view = re.search(r"View in your browser: (\S+)", text)
    assert view is not None
    pages = [
        "/",
        "/l/daily/archive",
        f"/l/daily/archive/{sent.run_id}",
        "/l/daily/topics/tech",
        "/l/daily/topics/science",
        "/l/daily/feed.xml",
        "/l/daily/help",
        local(view.group(1)),
    ]
    assert "/u/" in html and "/p/" in html  # the email itself has them
    for path in pages:
        page = sent.client.get(path)
        assert page.status_code == 200, path
        assert PERSONAL.search(page.text) is None, (path, PERSONAL.search(page.text))
        assert 'href="#"' not in page.text, path


def test_view_in_browser_is_the_readers_issue_with_working_links(sent: Sent) -> None:
    _, text = message_to(sent.smtp, "alice@example.com")
    view = re.search(r"View in your browser: (\S+)", text)
    assert view is not None
    page = sent.client.get(local(view.group(1)))
    assert page.status_code == 200
    assert "Story 0 about tech" in page.text and "Story 1 about science" not in page.text
    assert 'href="https://news.example.org/story-0-tech"' in page.text
    assert f'href="{BASE}/l/daily"' in page.text and "Subscribe to Example Daily" in page.text
    assert "<strong>issue one</strong>" in page.text
    assert (
        sent.client.get(
            re.sub(r"/[0-9a-f]{16}$", "/0000000000000000", local(view.group(1)))
        ).status_code
        == 404
    )


def test_atom_feed_parses_cleanly(sent: Sent) -> None:
    response = sent.client.get("/l/daily/feed.xml")
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Example Daily"
    assert parsed.feed.id == f"{BASE}/l/daily/feed.xml"
    assert [link.rel for link in parsed.feed.links] == ["self", "alternate"]
    assert parsed.feed.author == "Example Newsroom"
    (entry,) = parsed.entries
    assert entry.link == f"{BASE}/l/daily/archive/{sent.run_id}"
    assert entry.id == entry.link and entry.updated_parsed is not None
    assert entry.title.startswith("Example Daily, ") and "Story" in entry.summary
    assert sent.client.get(local(entry.link)).status_code == 200


def test_a_private_archive_answers_only_signed_links(sent: Sent) -> None:
    brand(sent.runtime, public=False)
    for path in ("/l/daily/archive", f"/l/daily/archive/{sent.run_id}", "/l/daily/feed.xml"):
        assert sent.client.get(path).status_code == 404, path
    assert sent.client.get("/l/daily/topics/tech").status_code == 404
    signed = topic_url(BASE, SECRET, "daily", "tech")
    assert sent.client.get(local(signed)).status_code == 200
    assert sent.client.get("/l/daily/topics/tech?k=0000000000000000").status_code == 404
    assert sent.client.get(local(signed).replace("/tech?", "/science?")).status_code == 404
    assert 'href="/l/daily/archive"' not in sent.client.get("/").text
    _, text = message_to(sent.smtp, "alice@example.com")
    view = re.search(r"View in your browser: (\S+)", text)
    assert view is not None and sent.client.get(local(view.group(1))).status_code == 200


def test_paging_newest_first(sent: Sent) -> None:
    later = make_runtime(sent.runtime.settings, now=sent.runtime.clock() + timedelta(days=1))
    with session_scope(later.engine) as session:
        drafts = [
            ArticleDraft(
                title=f"Tomorrow's {topic} story",
                body_html="<p>Body.</p>",
                published_at=later.clock() - timedelta(hours=1),
                url=f"https://news.example.org/tomorrow-{topic}",
                topics=(topic,),
            )
            for topic in ("tech", "science")
        ]
        store_drafts(session, drafts, topics=[], now=later.clock(), source="test")
    second = asyncio.run(runs.send_list(later, slug="daily"))
    later.dispose()
    assert second.report is not None and second.report.sent == 2
    with session_scope(sent.runtime.engine) as session:
        first_page = reads.issues_page(session, list_id=1, page=1, per_page=1)
        second_page = reads.issues_page(session, list_id=1, page=2, per_page=1)
        beyond = reads.issues_page(session, list_id=1, page=99, per_page=1)
        runs_ = session.exec(select(Run.id)).all()
    assert first_page.total == 2 and first_page.pages == 2 and len(runs_) == 2
    assert first_page.items[0].run_id == second.plan.run_id
    assert second_page.items[0].run_id == sent.run_id
    assert beyond.page == 2
    newer = sent.client.get(f"/l/daily/archive/{second.plan.run_id}").text
    assert "Tomorrow's tech story" in newer and "issue one" not in newer  # the note went once
    index = sent.client.get("/l/daily/archive").text
    assert index.index(f"/archive/{second.plan.run_id}") < index.index(f"/archive/{sent.run_id}")


def test_a_note_reaches_one_issue_and_a_test_send_only_shows_it(sent: Sent) -> None:
    now = sent.runtime.clock()
    with session_scope(sent.runtime.engine) as session:
        mailing_list = list_service.get_list(session, slug="daily")
        editorial.set_next_issue(session, mailing_list=mailing_list, now=now, note="Second _note_")
    asyncio.run(runs.send_test(sent.runtime, slug="daily", to="editor@example.org"))
    test_html, _ = message_to(sent.smtp, "editor@example.org")
    assert "Second <em>note</em>" in test_html and "issue one" not in test_html
    with session_scope(sent.runtime.engine) as session:
        pending = editorial.pending_note(session, list_id=1)
        assert pending is not None and pending.run_id is None  # still waiting
    issue = sent.client.get(f"/l/daily/archive/{sent.run_id}").text
    assert "issue one" in issue and "Second" not in issue  # the sent issue keeps its own note


@pytest.mark.parametrize(
    "path",
    [
        "/l/daily/archive?page=-1",
        "/l/daily/archive?page=99999999999999999999",
        "/l/daily/archive?page=%C3%A9",
        "/l/daily/archive/0",
        "/l/daily/archive/99999999999999999999",
        "/l/daily/archive/%00",
        "/l/daily/topics/%C3%A9t%C3%A9?k=%C3%A9",
        "/l/daily/topics/tech?page=abc&k=" + "x" * 5000,
        "/l/nosuch/archive",
        "/l/nosuch/feed.xml",
        "/l/nosuch/topics/tech",
        "/v/1/" + "é" * 16,
        "/v/99999999999999999999/0000000000000000",
    ],
)
def test_hostile_archive_urls_get_a_page_never_a_500(sent: Sent, path: str) -> None:
    response = sent.client.get(path)
    assert response.status_code in (200, 404, 422), (path, response.status_code)
    assert "Traceback" not in response.text


@pytest.mark.browser
def test_archive_pages_fit_a_phone_and_a_desktop_in_chromium(sent: Sent) -> None:
    from tests.e2e.test_email_clients import ARGS, CHROMIUM, PNG

    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is missing: run `make system-deps`")
    from playwright.sync_api import sync_playwright

    stylesheet = sent.client.get("/static/style.css").text
    pages = {
        "home": "/",
        "archive": "/l/daily/archive",
        "issue": f"/l/daily/archive/{sent.run_id}",
        "topic": "/l/daily/topics/tech",
        "help": "/l/daily/help",
    }
    shots = Path(__file__).resolve().parents[2] / "test-output" / "archive"
    shots.mkdir(parents=True, exist_ok=True)

    html = {path: sent.client.get(path).text for path in pages.values()}
    requested: list[str] = []

    def serve(route: Any) -> None:
        """Pages and the stylesheet from the app, images from memory: nothing leaves."""
        url = route.request.url
        requested.append(url)
        path = url.removeprefix(SITE)
        if path == "/static/style.css":
            route.fulfill(status=200, content_type="text/css", body=stylesheet)
        elif path in html:
            route.fulfill(status=200, content_type="text/html", body=html[path])
        else:
            route.fulfill(status=200, content_type="image/png", body=PNG)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for width in (375, 1280):
                context = browser.new_context(viewport={"width": width, "height": 800})
                page = context.new_page()
                page.route("**/*", serve)
                for name, path in pages.items():
                    page.goto(SITE + path, wait_until="load")
                    widths = page.evaluate(
                        "() => [document.documentElement.scrollWidth,"
                        " document.documentElement.clientWidth]"
                    )
                    page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
                    assert widths[0] <= widths[1], (name, width, widths)
                context.close()
        finally:
            browser.close()
    assert f"{SITE}/static/style.css" in requested  # the pages were styled as served
