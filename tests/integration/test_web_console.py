"""Console behaviour: one-shot messages outside the URL, errors that look like errors and keep
the typed fields, error pages for bad query values, bulk actions, favicon and table script."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.db import session_scope
from newsletter.web.app import create_app
from subscribers import service
from subscribers.models import Subscriber, Subscription, Suppression
from tests.conftest import make_runtime, make_settings
from tests.helpers import seed_list
from tests.smtpserver import RecordingServer
from tests.webapp import ADMIN, WebEnv, add_users, login


@pytest.fixture
def web(sqlite_url: str, smtp_server: RecordingServer) -> Iterator[WebEnv]:
    """An app with one list of five active people and an admin and an editor."""
    runtime = make_runtime(make_settings(sqlite_url, smtp_server, base_url="http://testserver"))
    now = runtime.clock()
    seed_list(runtime.engine, now, ["tech", "science"])
    with session_scope(runtime.engine) as session:
        mailing_list = service.get_list(session, slug="daily")
        for number in range(5):
            service.add_subscriber(
                session,
                mailing_list=mailing_list,
                email=f"p{number}@example.com",
                now=now,
                confirmed=True,
                by_admin=True,
            )
    add_users(runtime)
    with TestClient(create_app(runtime)) as client:
        yield WebEnv(runtime=runtime, client=client)
    runtime.dispose()


def test_text_in_the_url_is_never_printed(web: WebEnv) -> None:
    login(web.client, ADMIN)
    page = web.client.get("/admin/lists?notice=Call+555-0100+to+verify+your+account")
    assert page.status_code == 200
    assert "555-0100" not in page.text
    assert 'id="flash"' not in page.text


def test_an_error_is_styled_as_one_shown_once_and_keeps_the_typed_fields(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    posted = web.client.post(
        "/admin/lists",
        data={
            "csrf": csrf,
            "slug": "bad slug!",
            "name": "My typed name",
            "from_name": "Typed sender",
            "from_address": "sender@example.org",
        },
        follow_redirects=False,
    )
    assert posted.status_code == 303
    assert "?" not in posted.headers["location"]  # nothing in the URL
    page = web.client.get(posted.headers["location"])
    assert '<p class="error" id="flash" role="alert">' in page.text
    assert 'value="My typed name"' in page.text
    assert 'value="Typed sender"' in page.text
    assert csrf not in page.text.split('id="flash"')[1].split("</p>")[0]
    again = web.client.get("/admin/lists")
    assert 'id="flash"' not in again.text  # shown once


def test_a_success_is_a_notice(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    page = web.client.post(
        "/admin/users",
        data={
            "csrf": csrf,
            "email": "new@example.org",
            "password": "long-enough-pw",
            "role": "editor",
        },
    )
    assert '<p class="notice" id="flash" role="status">User new@example.org created</p>' in (
        page.text
    )


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/admin/subscribers/export?list=daily&status=bogus", "status must be one of"),
        ("/admin/subscribers?page=x", "page"),
        ("/admin/articles?page=abc", "page"),
        ("/admin/runs/notanumber", "run_id"),
    ],
)
def test_bad_query_values_get_the_error_page(web: WebEnv, path: str, needle: str) -> None:
    login(web.client, ADMIN)
    page = web.client.get(path)
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>" in page.text and needle in page.text
    assert "Traceback" not in page.text and '"detail"' not in page.text


def test_bulk_unsubscribe_and_suppress(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    page = web.client.post(
        "/admin/subscribers/bulk",
        data={
            "csrf": csrf,
            "list": "daily",
            "action": "unsubscribe",
            "emails": ["p0@example.com", "p1@example.com"],
        },
    )
    assert "unsubscribe: 2 changed" in page.text
    with session_scope(web.runtime.engine) as session:
        statuses = dict(
            session.exec(
                select(Subscriber.email, Subscription.status).join(
                    Subscription,
                    Subscription.subscriber_id == Subscriber.id,  # type: ignore[arg-type]
                )
            ).all()
        )
    assert statuses["p0@example.com"] == "unsubscribed"
    assert statuses["p1@example.com"] == "unsubscribed"
    assert statuses["p2@example.com"] == "active"
    page = web.client.post(
        "/admin/subscribers/bulk",
        data={
            "csrf": csrf,
            "list": "daily",
            "action": "suppress",
            "emails": ["p3@example.com", "not an address"],
        },
    )
    assert 'class="error"' in page.text and "not an address" in page.text
    with session_scope(web.runtime.engine) as session:
        assert [s.value for s in session.exec(select(Suppression))] == ["p3@example.com"]


def test_bulk_erase_needs_its_confirmation(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    form = {"csrf": csrf, "list": "daily", "action": "erase", "emails": ["p4@example.com"]}
    page = web.client.post("/admin/subscribers/bulk", data=form)
    assert "Tick the box" in page.text
    with session_scope(web.runtime.engine) as session:
        assert service.find_subscriber(session, email="p4@example.com")
    page = web.client.post("/admin/subscribers/bulk", data=form | {"confirm_bulk": "yes"})
    assert "erase: 1 changed" in page.text
    with session_scope(web.runtime.engine) as session:
        found = session.exec(select(Subscriber).where(Subscriber.email == "p4@example.com"))
        assert found.first() is None


def test_favicon_and_console_script_are_served(web: WebEnv) -> None:
    icon = web.client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg")
    login(web.client, ADMIN)
    page = web.client.get("/admin/subscribers")
    assert 'rel="icon"' in page.text and "/static/console.js" in page.text
    script = web.client.get("/static/console.js")
    assert "zoneSearch" in script.text and "data-sortable" in script.text
