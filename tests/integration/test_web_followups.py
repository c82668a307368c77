"""Console follow-ups: revocable sessions, subscriber paging in SQL, early upload refusal."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import delete, select

from newsletter.db import session_scope
from newsletter.models import ConsoleSession, User
from newsletter.web.admin_subscribers import MAX_UPLOAD_BYTES
from newsletter.web.app import create_app
from newsletter.web.security import SESSION_COOKIE, make_session_cookie
from subscribers import service
from subscribers.models import Subscriber
from tests.conftest import make_runtime, make_settings
from tests.helpers import seed_list, subscribe
from tests.smtpserver import RecordingServer
from tests.webapp import ADMIN, WebEnv, add_users, login

PEOPLE = 120


@pytest.fixture
def web(sqlite_url: str, smtp_server: RecordingServer) -> Iterator[WebEnv]:
    """An app with one list of 120 active people (even ones on tech, odd ones on science)."""
    runtime = make_runtime(make_settings(sqlite_url, smtp_server, base_url="http://testserver"))
    now = runtime.clock()
    seed_list(runtime.engine, now, ["tech", "science"])
    with session_scope(runtime.engine) as session:
        mailing_list = service.get_list(session, slug="daily")
        for number in range(PEOPLE):
            service.add_subscriber(
                session,
                mailing_list=mailing_list,
                email=f"m{number:03d}@example.com",
                now=now,
                name=f"Member {number:03d}",
                topics=["tech" if number % 2 == 0 else "science"],
                confirmed=True,
                by_admin=True,
            )
    add_users(runtime)
    with TestClient(create_app(runtime)) as client:
        yield WebEnv(runtime=runtime, client=client)
    runtime.dispose()


def shown(html: str) -> list[str]:
    """The member addresses a subscribers page lists, in order."""
    return re.findall(r">(m\d{3}@example\.com)</a>", html)


def test_logout_revokes_a_copied_cookie(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    copied = web.client.cookies[SESSION_COOKIE]
    out = web.client.post("/admin/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    with session_scope(web.runtime.engine) as session:
        assert session.exec(select(ConsoleSession)).all() == []
    with TestClient(web.client.app) as thief:
        thief.cookies.set(SESSION_COOKIE, copied)
        page = thief.get("/admin", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/admin/login?next=")
        assert thief.post("/admin/logout", data={"csrf": csrf}).status_code == 401


def test_a_cookie_without_a_live_session_record_is_refused(web: WebEnv) -> None:
    login(web.client, ADMIN)
    assert web.client.get("/admin", follow_redirects=False).status_code == 200
    with session_scope(web.runtime.engine) as session:
        recorded = session.exec(select(ConsoleSession)).one()
        assert recorded.expires_at > web.runtime.clock()
        session.execute(delete(ConsoleSession))
    assert web.client.get("/admin", follow_redirects=False).status_code == 303
    # a validly signed cookie whose nonce was never recorded is refused too
    with session_scope(web.runtime.engine) as session:
        admin_id = session.exec(select(User.id).where(User.email == ADMIN[0])).one()
    forged = make_session_cookie(
        web.runtime.settings.links.secret, user_id=admin_id or 0, now=web.runtime.clock()
    )
    web.client.cookies.set(SESSION_COOKIE, forged)
    assert web.client.get("/admin", follow_redirects=False).status_code == 303


def test_each_login_is_its_own_session(web: WebEnv) -> None:
    first = login(web.client, ADMIN)
    copied = web.client.cookies[SESSION_COOKIE]
    with TestClient(web.client.app) as other:
        login(other, ADMIN)
        web.client.post("/admin/logout", data={"csrf": first})
        assert other.get("/admin", follow_redirects=False).status_code == 200
        other.cookies.set(SESSION_COOKIE, copied)
        assert other.get("/admin", follow_redirects=False).status_code == 303


def test_subscribers_page_in_sql_with_filters(web: WebEnv) -> None:
    login(web.client, ADMIN)
    first = web.client.get("/admin/subscribers?list=daily")
    assert shown(first.text) == [f"m{n:03d}@example.com" for n in range(50)]
    assert "Page 1 of 3 · 120 matching" in first.text
    second = web.client.get("/admin/subscribers?list=daily&page=2")
    assert shown(second.text) == [f"m{n:03d}@example.com" for n in range(50, 100)]
    assert "page=3" in second.text and "page=1" in second.text
    third = web.client.get("/admin/subscribers?list=daily&page=3")
    assert shown(third.text) == [f"m{n:03d}@example.com" for n in range(100, 120)]
    assert "page=4" not in third.text
    tech = web.client.get("/admin/subscribers?list=daily&topic=tech&page=2")
    assert shown(tech.text) == [f"m{n:03d}@example.com" for n in range(100, 120, 2)]
    assert "Page 2 of 2 · 60 matching" in tech.text
    found = web.client.get("/admin/subscribers?list=daily&q=member+11")
    assert shown(found.text) == [f"m{n:03d}@example.com" for n in range(110, 120)]
    assert "10 matching" in found.text
    both = web.client.get("/admin/subscribers?list=daily&q=m11&topic=science&status=active")
    assert shown(both.text) == [f"m{n:03d}@example.com" for n in range(111, 120, 2)]
    pending = web.client.get("/admin/subscribers?list=daily&status=pending")
    assert shown(pending.text) == [] and "0 matching" in pending.text
    assert shown(web.client.get("/admin/subscribers?list=daily&topic=te_h").text) == []
    assert web.client.get("/admin/subscribers?list=daily&status=bogus").status_code == 400


def _multipart(csrf: str, body_bytes: int) -> tuple[str, Iterator[bytes]]:
    """A multipart form (csrf, list, a CSV file of at least ``body_bytes``) as chunks."""
    boundary = "testboundary1234"

    def chunks() -> Iterator[bytes]:
        for name, value in (("csrf", csrf), ("list", "daily")):
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\nemail\r\n'
        ).encode()
        line = b"x" * 1023 + b"\n"
        block = line * 1024
        for _ in range(body_bytes // len(block) + 1):
            yield block
        yield f"\r\n--{boundary}--\r\n".encode()

    return f"multipart/form-data; boundary={boundary}", chunks()


def test_upload_with_a_large_content_length_is_refused_before_reading(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    content_type, chunks = _multipart(csrf, MAX_UPLOAD_BYTES + 1)
    read = 0

    def counted() -> Iterator[bytes]:
        nonlocal read
        for chunk in chunks:
            read += len(chunk)
            yield chunk

    response = web.client.post(
        "/admin/subscribers/import",
        content=counted(),
        headers={"content-type": content_type, "content-length": str(MAX_UPLOAD_BYTES + 2**20)},
    )
    assert response.status_code == 413
    assert "File too large" in response.text
    assert read < MAX_UPLOAD_BYTES  # refused on the header, not after reading the body
    with session_scope(web.runtime.engine) as session:
        assert len(session.exec(select(Subscriber.id)).all()) == PEOPLE


def test_chunked_upload_over_the_limit_is_refused_while_streaming(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    content_type, chunks = _multipart(csrf, MAX_UPLOAD_BYTES + 1)
    response = web.client.post(
        "/admin/subscribers/import", content=chunks, headers={"content-type": content_type}
    )
    assert response.status_code == 413
    assert "File too large" in response.text


@pytest.mark.postgres
def test_paging_topic_filter_and_sessions_on_postgresql(
    postgres_url: str, smtp_server: RecordingServer
) -> None:
    runtime = make_runtime(make_settings(postgres_url, smtp_server, base_url="http://testserver"))
    now = runtime.clock()
    seed_list(runtime.engine, now, ["tech", "science"])
    for number in range(60):
        topics = ["tech", "science"] if number % 3 == 0 else ["science"]
        subscribe(runtime.engine, now, f"m{number:03d}@example.com", topics)
    add_users(runtime)
    with TestClient(create_app(runtime)) as client:
        csrf = login(client, ADMIN)
        tech = client.get("/admin/subscribers?list=daily&topic=tech")
        assert shown(tech.text) == [f"m{n:03d}@example.com" for n in range(0, 60, 3)]
        assert "20 matching" in tech.text
        second = client.get("/admin/subscribers?list=daily&topic=science&page=2")
        assert shown(second.text) == [f"m{n:03d}@example.com" for n in range(50, 60)]
        copied = client.cookies[SESSION_COOKIE]
        client.post("/admin/logout", data={"csrf": csrf})
        client.cookies.set(SESSION_COOKIE, copied)
        assert client.get("/admin", follow_redirects=False).status_code == 303
    runtime.dispose()
