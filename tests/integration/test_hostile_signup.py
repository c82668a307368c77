"""Public sign-up and preferences against strangers and hostile values (issue 11 items 8 and 9).

A stranger's sign-up never sets or changes an existing person's name (the owner changes it on
the preferences page, behind their signed link); bad time zones, hours and weekdays get the
form back with a 400, never a 500, and change nothing. Real HTTP requests to the app, a real
SMTP server for the confirmation emails.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import getaddresses

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.db import session_scope
from newsletter.digest.links import personal_links
from newsletter.web.app import create_app
from subscribers import service
from subscribers.models import MailingList, Subscriber, Subscription
from tests.conftest import make_runtime, make_settings
from tests.fuzzing import snapshot
from tests.helpers import seed_list, seed_topics, subscribe
from tests.smtpserver import RecordingServer
from tests.webapp import WebEnv, hidden, wait_for

SECRET = b"test-secret-key-0123456789"
BAD_ZONES = [
    "Europe",
    "Etc/../../etc/passwd",
    "../../../../etc/passwd",
    "Europe/" + "x" * 293,  # 300 characters
    "x" * 300,
    "UTC\x00",
    "Europe/Paris\x00/../../x",
    "\x00",
    "9" * 5000,
]
BAD_HOURS = ["Europe", "8.5", "24", "-1", "9" * 25, "²", "9" * 5000, "\x00"]
BAD_WEEKDAYS = ["7", "²", "9" * 5000, "\x00", "x" * 300]


@pytest.fixture
def web(sqlite_url: str, smtp_server: RecordingServer) -> Iterator[WebEnv]:
    """Two double opt-in lists; Alice (no name) and Bob (named) are on the first."""
    runtime = make_runtime(make_settings(sqlite_url, smtp_server, base_url="http://testserver"))
    now = runtime.clock()
    seed_list(runtime.engine, now, ["tech", "science"])
    seed_topics(runtime.engine, now, "sport")
    with session_scope(runtime.engine) as session:
        service.create_list(
            session,
            slug="weekly",
            name="Example Weekly",
            from_name="Example Newsroom",
            from_address="weekly@news.example.org",
            topics=["tech", "sport"],
        )
    subscribe(runtime.engine, now, "alice@example.com", ["tech"])
    subscribe(runtime.engine, now, "bob@example.com", ["tech"], name="Bob Owner")
    with TestClient(create_app(runtime)) as client:
        yield WebEnv(runtime=runtime, client=client)
    runtime.dispose()


def _app(web: WebEnv) -> FastAPI:
    app: FastAPI = web.client.app  # type: ignore[assignment]
    return app


def _sign_up(web: WebEnv, slug: str, **fields: str) -> int:
    """Post the sign-up form of list ``slug`` (through the client that runs the app's loop, where
    the confirmation emails are sent from)."""
    client = web.client
    page = client.get(f"/l/{slug}")
    data = {
        "name": "",
        "topics": ["tech"],
        "cadence": "daily",
        "send_hour": "8",
        "timezone": "Europe/Paris",
        "form_token": hidden(page.text, "form_token"),
    } | fields
    return client.post(f"/l/{slug}", data=data).status_code


def _name(web: WebEnv, email: str) -> str:
    with session_scope(web.runtime.engine) as session:
        return session.exec(select(Subscriber.name).where(Subscriber.email == email)).one()


def _preferences_path(web: WebEnv, email: str, slug: str = "daily") -> str:
    with session_scope(web.runtime.engine) as session:
        subscriber_id, list_id = session.exec(
            select(Subscriber.id, Subscription.list_id)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .join(MailingList, MailingList.id == Subscription.list_id)
            .where(Subscriber.email == email, MailingList.slug == slug)
        ).one()
    links = personal_links(
        base_url="http://testserver",
        secret=SECRET,
        subscriber_id=subscriber_id or 0,
        list_id=list_id,
        mailto_domain="news.example.org",
    )
    return links.preferences_url.removeprefix("http://testserver")


def test_a_strangers_sign_up_sets_no_name(web: WebEnv, smtp_server: RecordingServer) -> None:
    # Alice has no name, Bob has one; a stranger signs both up to the other list with names.
    assert _sign_up(web, "weekly", email="alice@example.com", name="Mallory") == 200
    assert _sign_up(web, "weekly", email="BOB@example.com", name="Mallory") == 200
    # ... and again on the list they are already on
    assert _sign_up(web, "daily", email="alice@example.com", name="Mallory") == 200
    assert _name(web, "alice@example.com") == ""
    assert _name(web, "bob@example.com") == "Bob Owner"
    # The sign-ups themselves still went through: each gets a confirmation email, and the
    # stranger's name is in none of them.
    wait_for(lambda: len(smtp_server.messages) == 2)
    for received in smtp_server.messages:
        message = received.parsed()
        assert "Mallory" not in received.data.decode("utf-8", "replace")
        assert [name for name, _ in getaddresses([str(message["To"])])] in ([""], ["Bob Owner"])


def test_a_new_person_keeps_the_name_they_gave(web: WebEnv) -> None:
    assert _sign_up(web, "weekly", email="carol@example.com", name="Carol") == 200
    assert _name(web, "carol@example.com") == "Carol"


def test_the_owner_sets_their_name_on_the_preferences_page(web: WebEnv) -> None:
    path = _preferences_path(web, "alice@example.com")
    page = web.client.get(path)
    assert page.status_code == 200 and 'name="name"' in page.text
    form = {
        "name": "Alice Liddell",
        "topics": ["tech"],
        "cadence": "daily",
        "weekday": "0",
        "send_hour": "8",
        "timezone": "Europe/Paris",
        "form_token": hidden(page.text, "form_token"),
        "action": "save",
    }
    assert web.client.post(path, data=form).status_code == 200
    assert _name(web, "alice@example.com") == "Alice Liddell"
    # a form without the field (an older page) leaves the name alone
    del form["name"]
    assert web.client.post(path, data=form).status_code == 200
    assert _name(web, "alice@example.com") == "Alice Liddell"


@pytest.mark.parametrize(
    ("field", "value"),
    [("timezone", zone) for zone in BAD_ZONES]
    + [("send_hour", hour) for hour in BAD_HOURS]
    + [("weekday", day) for day in BAD_WEEKDAYS],
)
def test_sign_up_refuses_bad_values_with_the_form(web: WebEnv, field: str, value: str) -> None:
    before = snapshot(web.runtime.engine)
    client = TestClient(_app(web), client=("192.0.2.50", 40000))
    page = client.get("/l/daily")
    data = {
        "email": "dave@example.com",
        "topics": ["tech"],
        "cadence": "weekly",
        "weekday": "1",
        "send_hour": "8",
        "timezone": "Europe/Paris",
        "form_token": hidden(page.text, "form_token"),
        field: value,
    }
    response = client.post("/l/daily", data=data)
    assert response.status_code == 400, response.text[-300:]
    assert 'role="alert"' in response.text and 'name="form_token"' in response.text
    assert snapshot(web.runtime.engine) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [("timezone", zone) for zone in BAD_ZONES]
    + [("send_hour", hour) for hour in BAD_HOURS]
    + [("weekday", day) for day in BAD_WEEKDAYS],
)
def test_preferences_refuse_bad_values_with_the_form(web: WebEnv, field: str, value: str) -> None:
    path = _preferences_path(web, "bob@example.com")
    page = web.client.get(path)
    before = snapshot(web.runtime.engine)
    data = {
        "name": "Bob Owner",
        "topics": ["tech"],
        "cadence": "weekly",
        "weekday": "1",
        "send_hour": "8",
        "timezone": "Europe/Paris",
        "form_token": hidden(page.text, "form_token"),
        "action": "save",
        field: value,
    }
    response = web.client.post(path, data=data)
    assert response.status_code == 400, response.text[-300:]
    assert 'role="alert"' in response.text
    assert snapshot(web.runtime.engine) == before
