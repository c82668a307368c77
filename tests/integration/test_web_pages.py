"""Console coverage pages: users (changes end sessions), API tokens, feeds, topics, scheduled
sends, suppressions, masked settings, a subscriber's profile and a run's recipients."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.db import session_scope
from newsletter.models import ConsoleSession, Feed, Topic, User
from newsletter.operations import runs
from newsletter.operations.configfile import MASK, masked_settings
from newsletter.schedule.models import ScheduledSend
from newsletter.web.app import create_app
from subscribers import service
from subscribers.models import Suppression
from tests.conftest import FIXTURES, make_runtime, make_settings
from tests.feedserver import FeedServer, Page
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer
from tests.webapp import ADMIN, EDITOR, WebEnv, add_users, login, wait_for


@pytest.fixture
def web(sqlite_url: str, smtp_server: RecordingServer) -> Iterator[WebEnv]:
    """An app with one list, two active people, two articles, an admin and an editor."""
    runtime = make_runtime(
        make_settings(
            sqlite_url,
            smtp_server,
            base_url="http://testserver",
            category_map={"Engineering": "tech"},
        )
    )
    now = runtime.clock()
    seed_list(runtime.engine, now, ["tech", "science"])
    subscribe(runtime.engine, now, "ann@example.com", ["tech"])
    subscribe(runtime.engine, now, "bob@example.com", ["science"])
    add_articles(runtime.engine, now, [["tech"], ["science"]])
    add_users(runtime)
    with TestClient(create_app(runtime)) as client:
        yield WebEnv(runtime=runtime, client=client)
    runtime.dispose()


def user_id(web: WebEnv, email: str) -> int:
    with session_scope(web.runtime.engine) as session:
        found = session.exec(select(User.id).where(User.email == email)).one()
        return found or 0


def flash(html: str) -> str:
    found = re.search(r'<p class="(?:notice|error)" id="flash"[^>]*>([^<]*)</p>', html)
    return found.group(1) if found else ""


@pytest.mark.parametrize(
    "path",
    [
        "/admin/users",
        "/admin/settings",
        "/admin/suppressions",
        "/admin/people?email=ann@example.com",
        "/admin/subscribers",
        "/admin/lists",
    ],
)
def test_an_editor_is_refused_admin_pages(web: WebEnv, path: str) -> None:
    login(web.client, EDITOR)
    page = web.client.get(path)
    assert page.status_code == 403 and "Admins only" in page.text


def test_changing_a_user_ends_their_sessions(web: WebEnv) -> None:
    with TestClient(web.client.app) as other:
        login(other, EDITOR)
        assert other.get("/admin/feeds", follow_redirects=False).status_code == 200
        csrf = login(web.client, ADMIN)
        editor = user_id(web, EDITOR[0])
        page = web.client.post(
            f"/admin/users/{editor}", data={"csrf": csrf, "action": "role", "role": "admin"}
        )
        assert "is now admin; their sessions ended" in flash(page.text)
        assert other.get("/admin/feeds", follow_redirects=False).status_code == 303
        with session_scope(web.runtime.engine) as session:
            assert (
                session.exec(select(ConsoleSession).where(ConsoleSession.user_id == editor)).all()
                == []
            )
        login(other, EDITOR)
        page = web.client.post(f"/admin/users/{editor}", data={"csrf": csrf, "action": "disable"})
        assert flash(page.text) == f"{EDITOR[0]} disabled"
        assert other.get("/admin/feeds", follow_redirects=False).status_code == 303
        relogin = other.get("/admin/login")
        assert (
            "Wrong email or password"
            in other.post(
                "/admin/login",
                data={
                    "email": EDITOR[0],
                    "password": EDITOR[1],
                    "form_token": re.search(
                        r'name="form_token" value="([^"]+)"', relogin.text
                    ).group(1),  # type: ignore[union-attr]
                },
            ).text
        )
        web.client.post(f"/admin/users/{editor}", data={"csrf": csrf, "action": "enable"})
        page = web.client.post(
            f"/admin/users/{editor}",
            data={"csrf": csrf, "action": "password", "password": "brand-new-password"},
        )
        assert "Password of" in flash(page.text)
        login(other, (EDITOR[0], "brand-new-password"))
        page = web.client.post(f"/admin/users/{editor}", data={"csrf": csrf, "action": "delete"})
        assert "tick the box" in flash(page.text)
        page = web.client.post(
            f"/admin/users/{editor}",
            data={"csrf": csrf, "action": "delete", "confirm_delete": "yes"},
        )
        assert flash(page.text) == f"{EDITOR[0]} removed"
        assert other.get("/admin/feeds", follow_redirects=False).status_code == 303
    with session_scope(web.runtime.engine) as session:
        assert [u.email for u in session.exec(select(User))] == [ADMIN[0]]


def test_an_admin_cannot_lock_themselves_out(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    me = user_id(web, ADMIN[0])
    for action in ("disable", "delete"):
        page = web.client.post(
            f"/admin/users/{me}", data={"csrf": csrf, "action": action, "confirm_delete": "yes"}
        )
        assert 'class="error"' in page.text and "your own" in flash(page.text)
    with session_scope(web.runtime.engine) as session:
        assert session.get(User, me) is not None


def test_tokens_page_shows_a_new_token_once_and_revokes(web: WebEnv) -> None:
    csrf = login(web.client, EDITOR)
    page = web.client.post("/admin/tokens", data={"csrf": csrf, "name": "my script"})
    token = re.search(r'<code id="token-value">(nl_[^<]+)</code>', page.text)
    assert token is not None
    me = web.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert me.json()["role"] == "editor"
    listing = web.client.get("/admin/tokens").text
    assert token.group(1) not in listing and "my script" in listing
    token_id = re.search(r'action="/admin/tokens/(\d+)/revoke"', listing).group(1)  # type: ignore[union-attr]
    web.client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf": csrf})
    me = web.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert me.status_code == 401


def test_feeds_add_fetch_now_and_health(web: WebEnv) -> None:
    served = FeedServer()
    served.pages["/feed.xml"] = Page(body=(FIXTURES / "feeds" / "tech-rss2.xml").read_bytes())
    served.pages["/broken.xml"] = Page(body=b"", status=500)
    served.start()
    try:
        csrf = login(web.client, EDITOR)
        page = web.client.post(
            "/admin/feeds",
            data={"csrf": csrf, "url": "ftp://nope", "name": "Typed name", "topics": ["tech"]},
        )
        assert 'class="error"' in page.text and 'value="Typed name"' in page.text
        for path in ("/feed.xml", "/broken.xml"):
            web.client.post(
                "/admin/feeds", data={"csrf": csrf, "url": served.url(path), "topics": ["tech"]}
            )
        with session_scope(web.runtime.engine) as session:
            ids = {f.url.rsplit("/", 1)[1]: f.id for f in session.exec(select(Feed))}
        page = web.client.post(f"/admin/feeds/{ids['feed.xml']}/fetch", data={"csrf": csrf})
        assert re.search(r"fetched, [1-9]\d* new article", flash(page.text)), flash(page.text)
        page = web.client.post(f"/admin/feeds/{ids['broken.xml']}/fetch", data={"csrf": csrf})
        assert 'class="error"' in page.text
        row = page.text.split(f'id="feed-{ids["broken.xml"]}"')[1].split("</tr>")[0]
        assert "failing" in row and "500" in row
        good = page.text.split(f'id="feed-{ids["feed.xml"]}"')[1].split("</tr>")[0]
        assert "badge good" in good
    finally:
        served.stop()


def test_topics_create_rename_and_category_map(web: WebEnv) -> None:
    csrf = login(web.client, EDITOR)
    page = web.client.post(
        "/admin/topics", data={"csrf": csrf, "action": "create", "slug": "Climate", "name": ""}
    )
    assert flash(page.text) == "Topic climate created"
    page = web.client.post(
        "/admin/topics", data={"csrf": csrf, "action": "create", "slug": "tech", "name": "X"}
    )
    assert "already exists" in flash(page.text)
    web.client.post(
        "/admin/topics",
        data={"csrf": csrf, "action": "rename", "slug": "climate", "name": "Climate & Planet"},
    )
    with session_scope(web.runtime.engine) as session:
        assert session.get(Topic, "climate").name == "Climate & Planet"  # type: ignore[union-attr]
    assert "engineering" in web.client.get("/admin/topics").text


def test_schedule_create_and_cancel(web: WebEnv) -> None:
    csrf = login(web.client, EDITOR)
    page = web.client.post(
        "/admin/schedule",
        data={"csrf": csrf, "list": "daily", "at": "2026-12-01T08:00", "timezone": "Asia/Tokyo"},
    )
    assert flash(page.text).startswith("Send #")
    assert "2026-12-01 08:00 JST" in page.text
    page = web.client.post(
        "/admin/schedule",
        data={"csrf": csrf, "list": "daily", "at": "2001-01-01T08:00", "timezone": "UTC"},
    )
    assert "in the past" in flash(page.text) and 'value="2001-01-01T08:00"' in page.text
    with session_scope(web.runtime.engine) as session:
        send_id = session.exec(select(ScheduledSend.id)).one()
    web.client.post(f"/admin/schedule/{send_id}/cancel", data={"csrf": csrf})
    with session_scope(web.runtime.engine) as session:
        assert session.exec(select(ScheduledSend.status)).one() == "cancelled"


def test_suppressions_search_add_remove(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    for value, kind in (("spam@example.net", "address"), ("junk.example", "domain")):
        page = web.client.post(
            "/admin/suppressions",
            data={"csrf": csrf, "value": value, "kind": kind, "reason": "complaint", "note": "n"},
        )
        assert flash(page.text).endswith("suppressed")
    page = web.client.post(
        "/admin/suppressions", data={"csrf": csrf, "value": "not an address", "kind": "address"}
    )
    assert 'class="error"' in page.text and 'value="not an address"' in page.text
    found = web.client.get("/admin/suppressions", params={"q": "junk"}).text
    assert "junk.example" in found and "spam@example.net" not in found
    assert web.client.get("/admin/suppressions", params={"reason": "bogus"}).status_code == 400
    web.client.post(
        "/admin/suppressions",
        data={"csrf": csrf, "action": "remove", "value": "junk.example", "kind": "domain"},
    )
    with session_scope(web.runtime.engine) as session:
        assert [s.value for s in session.exec(select(Suppression))] == ["spam@example.net"]


def test_settings_are_shown_with_secrets_masked(web: WebEnv) -> None:
    login(web.client, ADMIN)
    page = web.client.get("/admin/settings").text
    assert "test-secret-key" not in page
    assert "secret_key" in page and "max_articles_total" in page and MASK in page
    shown = dict(
        masked_settings(
            make_settings(
                "postgresql://app:db-pass-7@127.0.0.1/news",
                smtp_url="smtps://relay-user:relay-pass-42@mail.example.org:465",
            )
        )
    )
    assert shown["smtp_url"] == f"smtps://relay-user:{MASK}@mail.example.org:465"
    assert shown["database_url"] == f"postgresql://app:{MASK}@127.0.0.1/news"
    assert shown["secret_key"] == MASK


def test_profile_shows_deliveries_with_issue_links_and_actions(
    web: WebEnv, smtp_server: RecordingServer
) -> None:
    summary = asyncio.run(runs.send_list(web.runtime, slug="daily"))
    assert summary.report is not None and summary.report.sent == 2
    csrf = login(web.client, ADMIN)
    page = web.client.get("/admin/people", params={"email": "ann@example.com"}).text
    assert "Story 0 about tech" in page
    issue = re.search(r'href="(/v/\d+/[0-9a-f]+)"', page)
    assert issue is not None
    assert "Story 0" in web.client.get(issue.group(1)).text
    run = web.client.get(f"/admin/runs/{summary.plan.run_id}", params={"q": "bob"}).text
    assert "bob@example.com" in run and "ann@example.com" not in run.split('id="recipients"')[1]
    assert web.client.get(f"/admin/runs/{summary.plan.run_id}?status=bogus").status_code == 400

    with session_scope(web.runtime.engine) as session:
        mailing_list = service.get_list(session, slug="daily")
        service.add_subscriber(
            session,
            mailing_list=mailing_list,
            email="cy@example.com",
            now=web.runtime.clock(),
            by_admin=True,
        )
    before = len(smtp_server.messages)
    page = web.client.post(
        "/admin/people",
        data={"csrf": csrf, "email": "cy@example.com", "list": "daily", "action": "resend"},
    ).text
    assert flash(page) == "Confirmation sent for daily"
    wait_for(lambda: len(smtp_server.messages) == before + 1)
    assert smtp_server.messages[-1].rcpt_tos == ("cy@example.com",)
    page = web.client.post(
        "/admin/people",
        data={"csrf": csrf, "email": "ann@example.com", "action": "erase", "confirm_erase": "x"},
    ).text
    assert "type the address" in flash(page)
    web.client.post(
        "/admin/people",
        data={
            "csrf": csrf,
            "email": "ann@example.com",
            "action": "erase",
            "confirm_erase": "ann@example.com",
        },
    )
    assert web.client.get("/admin/people", params={"email": "ann@example.com"}).status_code == 404
