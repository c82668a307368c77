"""Subscriber pages through FastAPI's test client: sign-up, confirm, preferences, RFC 8058."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.db import session_scope
from newsletter.digest.links import archive_url, personal_links
from newsletter.models import Digest, Run
from newsletter.web.app import create_app
from subscribers.models import Subscriber, Subscription, UnsubscribeEvent
from subscribers.service import suppress
from subscribers.tokens import Purpose, make_token
from tests.conftest import make_runtime, make_settings
from tests.helpers import seed_list, subscribe
from tests.smtpserver import RecordingServer
from tests.webapp import WebEnv, hidden, wait_for

SECRET = b"test-secret-key-0123456789"


@pytest.fixture
def web(sqlite_url: str, smtp_server: RecordingServer) -> Iterator[WebEnv]:
    """An app with one double opt-in list and one active subscriber."""
    runtime = make_runtime(make_settings(sqlite_url, smtp_server, base_url="http://testserver"))
    seed_list(runtime.engine, runtime.clock(), ["tech", "science"])
    subscribe(runtime.engine, runtime.clock(), "alice@example.com", ["tech"], name="Alice")
    with TestClient(create_app(runtime)) as client:
        yield WebEnv(runtime=runtime, client=client)
    runtime.dispose()


def _ids(web: WebEnv, email: str) -> tuple[int, int]:
    with session_scope(web.runtime.engine) as session:
        row = session.exec(
            select(Subscriber.id, Subscription.list_id)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscriber.email == email)
        ).one()
    return row[0] or 0, row[1]


def _status(web: WebEnv, email: str) -> str:
    with session_scope(web.runtime.engine) as session:
        return session.exec(
            select(Subscription.status)
            .join(Subscriber, Subscription.subscriber_id == Subscriber.id)
            .where(Subscriber.email == email)
        ).one()


def _signup(web: WebEnv, email: str, **extra: object) -> str:
    page = web.client.get("/l/daily")
    data = {
        "email": email,
        "name": "Someone",
        "topics": ["tech"],
        "cadence": "daily",
        "send_hour": "8",
        "timezone": "Europe/Paris",
        "form_token": hidden(page.text, "form_token"),
    } | extra
    return web.client.post("/l/daily", data=data).text


def test_signup_confirm_flow_through_the_captured_email(
    web: WebEnv, smtp_server: RecordingServer
) -> None:
    page = web.client.get("/l/daily")
    assert page.status_code == 200 and 'name="website"' in page.text
    assert 'value="Europe/Paris"' in page.text
    answer = _signup(web, "new@example.com")
    assert "a confirmation email is on its way" in answer
    wait_for(lambda: len(smtp_server.messages) == 1)
    body = smtp_server.messages[0].parsed().get_body(("plain",))
    assert body is not None
    link = re.search(r"http://testserver(/c/\S+)", body.get_content())
    assert link is not None
    assert _status(web, "new@example.com") == "pending"
    landing = web.client.get(link.group(1))
    assert "Confirm my subscription" in landing.text
    assert _status(web, "new@example.com") == "pending"  # a GET (a link scanner) changes nothing
    done = web.client.post(link.group(1))
    assert done.status_code == 200 and "You're subscribed" in done.text
    assert _status(web, "new@example.com") == "active"


def test_signup_answer_is_the_same_for_new_active_and_suppressed(
    web: WebEnv, smtp_server: RecordingServer
) -> None:
    with session_scope(web.runtime.engine) as session:
        suppress(session, value="blocked@example.com", reason="manual")
    answers = {
        email: _signup(web, email)
        for email in ("fresh@example.com", "alice@example.com", "blocked@example.com")
    }
    assert len(set(answers.values())) == 1
    wait_for(lambda: len(smtp_server.messages) == 1)
    assert smtp_server.messages[0].rcpt_tos == ("fresh@example.com",)
    with session_scope(web.runtime.engine) as session:
        assert (
            session.exec(
                select(Subscriber).where(Subscriber.email == "blocked@example.com")
            ).first()
            is None
        )


def test_signup_honeypot_bad_token_bad_input_and_rate_limits(web: WebEnv) -> None:
    assert "confirmation email" in _signup(web, "bot@example.com", website="http://spam")
    with session_scope(web.runtime.engine) as session:
        assert (
            session.exec(select(Subscriber).where(Subscriber.email == "bot@example.com")).first()
            is None
        )
    assert "The form expired" in _signup(web, "x@example.com", form_token="1.forged")
    assert "Choose at least one topic" in _signup(web, "x@example.com", topics=[])
    assert "unknown time zone" in _signup(web, "x@example.com", timezone="Mars/Olympus").lower()
    page = web.client.get("/l/daily")
    bad = web.client.post(
        "/l/daily", data={"email": "nope", "form_token": hidden(page.text, "form_token")}
    )
    assert bad.status_code == 400
    for _ in range(3):
        _signup(web, "target@example.com")
    assert "Too many sign-ups" in _signup(web, "target@example.com")
    assert web.client.get("/l/no-such-list").status_code == 404


def test_preferences_change_and_unsubscribe(web: WebEnv) -> None:
    subscriber_id, list_id = _ids(web, "alice@example.com")
    links = personal_links(
        base_url="http://testserver",
        secret=SECRET,
        subscriber_id=subscriber_id,
        list_id=list_id,
        mailto_domain="news.example.org",
    )
    path = links.preferences_url.removeprefix("http://testserver")
    page = web.client.get(path)
    assert page.status_code == 200 and "alice@example.com" in page.text
    token = hidden(page.text, "form_token")
    saved = web.client.post(
        path,
        data={
            "form_token": token,
            "action": "save",
            "topics": ["tech", "science"],
            "cadence": "weekly",
            "weekday": "4",
            "send_hour": "18",
            "timezone": "America/New_York",
        },
    )
    assert "Your preferences are saved" in saved.text
    with session_scope(web.runtime.engine) as session:
        row = session.exec(
            select(Subscription).where(Subscription.subscriber_id == subscriber_id)
        ).one()
        assert row.topics == ["tech", "science"] and row.cadence == "weekly"
        assert (row.weekday, row.send_hour, row.timezone) == (4, 18, "America/New_York")
    wrong = web.client.post(path, data={"form_token": token, "topics": ["tech"], "send_hour": "25"})
    assert wrong.status_code == 400
    forged = web.client.post(path, data={"form_token": "1.x", "action": "unsubscribe-all"})
    assert forged.status_code == 400 and _status(web, "alice@example.com") == "active"
    gone = web.client.post(path, data={"form_token": token, "action": "unsubscribe"})
    assert "no more <strong>Example Daily</strong>" in gone.text
    assert _status(web, "alice@example.com") == "unsubscribed"


@pytest.mark.parametrize("encoding", ["form-urlencoded", "multipart"])
def test_one_click_unsubscribe_per_rfc_8058(web: WebEnv, encoding: str) -> None:
    subscriber_id, list_id = _ids(web, "alice@example.com")
    token = make_token(SECRET, Purpose.UNSUBSCRIBE, subscriber_id, list_id)
    page = web.client.get(f"/u/{token}")
    assert page.status_code == 200 and "Unsubscribe" in page.text
    assert _status(web, "alice@example.com") == "active"  # a GET never unsubscribes
    web.client.cookies.clear()
    if encoding == "multipart":
        response = web.client.post(
            f"/u/{token}",
            files={"List-Unsubscribe": (None, "One-Click")},
            follow_redirects=False,
        )
    else:
        response = web.client.post(
            f"/u/{token}", data={"List-Unsubscribe": "One-Click"}, follow_redirects=False
        )
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert _status(web, "alice@example.com") == "unsubscribed"
    with session_scope(web.runtime.engine) as session:
        event = session.exec(select(UnsubscribeEvent)).one()
        assert event.source == "one-click"
    again = web.client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200


def test_forged_tampered_wrong_purpose_and_expired_tokens_get_400(web: WebEnv) -> None:
    subscriber_id, list_id = _ids(web, "alice@example.com")
    good = make_token(SECRET, Purpose.UNSUBSCRIBE, subscriber_id, list_id)
    other = make_token(b"another-secret-0123456789", Purpose.UNSUBSCRIBE, subscriber_id, list_id)
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    preferences = make_token(SECRET, Purpose.PREFERENCES, subscriber_id, list_id)
    now = web.runtime.clock()
    expired = make_token(
        SECRET,
        Purpose.CONFIRM,
        subscriber_id,
        list_id,
        now=now - timedelta(days=10),
        ttl=timedelta(days=1),
    )
    cases = [
        ("post", f"/u/{other}"),
        ("post", f"/u/{tampered}"),
        ("post", f"/u/{preferences}"),
        ("post", "/u/garbage"),
        ("get", f"/u/{other}"),
        ("get", f"/p/{good}"),
        ("post", f"/p/{tampered}"),
        ("get", f"/c/{expired}"),
        ("post", f"/c/{expired}"),
        ("post", f"/c/{good}"),
    ]
    bodies = set()
    for method, path in cases:
        if method == "get":
            response = web.client.get(path)
        else:
            response = web.client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 400, path
        bodies.add(response.text)
    assert len(bodies) == 1 and "alice" not in bodies.pop()
    assert _status(web, "alice@example.com") == "active"
    no_body = web.client.post(f"/u/{good}", data={})
    assert no_body.status_code == 400 and _status(web, "alice@example.com") == "active"


def test_view_in_browser_answers_404_for_unsent_digests_and_bad_signatures(web: WebEnv) -> None:
    """The sent case is in tests/integration/test_archive.py (a real send, then the page)."""
    with session_scope(web.runtime.engine) as session:
        run = Run(list_id=1, created_at=web.runtime.clock())
        session.add(run)
        session.flush()
        unsent = Digest(run_id=run.id or 0, content_key="k2")
        session.add(unsent)
        session.flush()
        unsent_id = unsent.id or 0
    unsent_url = archive_url(base_url="http://testserver", secret=SECRET, digest_id=unsent_id)
    page = web.client.get(unsent_url.removeprefix("http://testserver"))
    assert page.status_code == 404 and "old copy" not in page.text
    assert web.client.get(f"/v/{unsent_id}/0000000000000000").status_code == 404
    assert web.client.get(f"/v/{unsent_id}/%C3%A9t%C3%A9").status_code == 404
    assert web.client.get("/u/%C3%A9t%C3%A9").status_code == 400


def test_home_health_and_stylesheet(web: WebEnv) -> None:
    assert web.client.get("/").status_code == 200
    assert web.client.get("/healthz").json() == {"status": "ok"}
    assert web.client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert web.client.get("/nowhere").status_code == 404


def test_an_erased_subscribers_old_links_never_reach_the_next_person(web: WebEnv) -> None:
    from subscribers.erasure import erase_subscriber
    from subscribers.errors import InvalidToken
    from subscribers.service import subscription_for_token

    now = web.runtime.clock()
    subscribe(web.runtime.engine, now, "dmitri@example.com", ["tech"], name="Dmitri")
    dmitri, list_id = _ids(web, "dmitri@example.com")
    old = personal_links(
        base_url="http://testserver",
        secret=SECRET,
        subscriber_id=dmitri,
        list_id=list_id,
        mailto_domain="example.org",
    )
    with session_scope(web.runtime.engine) as session:
        person = session.exec(select(Subscriber).where(Subscriber.id == dmitri)).one()
        erase_subscriber(session, subscriber=person, secret=SECRET, now=now)
    subscribe(web.runtime.engine, now, "eve@example.com", ["tech"], name="Eve")
    eve, _ = _ids(web, "eve@example.com")
    assert eve != dmitri
    token = old.preferences_url.rsplit("/", 1)[1]
    with session_scope(web.runtime.engine) as session, pytest.raises(InvalidToken):
        subscription_for_token(
            session, token=token, purpose=Purpose.PREFERENCES, secret=SECRET, now=now
        )
    page = web.client.get(f"/p/{token}")
    assert page.status_code == 400 and "Eve" not in page.text
    unsubscribe = old.unsubscribe_url.rsplit("/", 1)[1]
    answer = web.client.post(f"/u/{unsubscribe}", data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert _status(web, "eve@example.com") == "active"
