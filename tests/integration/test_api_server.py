"""The HTTP API through a real uvicorn server on loopback: OpenAPI validated, tokens and roles,
RFC 9457 problems, per-token rate limits, and every action checked in the database and on the
SMTP server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate
from sqlmodel import select

from newsletter.db import session_scope
from newsletter.models import ApiToken, Article, Delivery, DeliveryStatus, Run
from newsletter.operations.accounts import find_user
from newsletter.operations.api_tokens import create_token, revoke_token
from newsletter.runtime import Runtime
from newsletter.schedule.models import ScheduledSend
from newsletter.web.app import create_app
from newsletter.web.security import RateLimiter
from subscribers import service
from subscribers.models import Subscriber, Subscription
from tests.apiserver import api_state_of, serve
from tests.conftest import FIXTURES, make_runtime, make_settings
from tests.feedserver import FeedServer, Page
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingHandler, RecordingServer
from tests.webapp import ADMIN, EDITOR, add_users, wait_for

PROBLEM = "application/problem+json"


@dataclass
class Api:
    """A running server, its runtime, an admin's and an editor's clients."""

    runtime: Runtime
    base: str
    admin: httpx.Client
    editor: httpx.Client
    smtp: RecordingServer
    admin_token_id: int
    app: FastAPI


def _token(runtime: Runtime, email: str) -> tuple[int, str]:
    with session_scope(runtime.engine) as session:
        user_id = find_user(session, email=email).id
        return create_token(session, user_id=user_id or 0, name="tests", now=runtime.clock())


@pytest.fixture
def api(database_url: str, smtp_server: RecordingServer) -> Iterator[Api]:
    """The app under uvicorn with one list of two active people and two articles, on SQLite
    and on PostgreSQL."""
    runtime = make_runtime(make_settings(database_url, smtp_server))
    now = runtime.clock()
    seed_list(runtime.engine, now, ["tech", "science"])
    subscribe(runtime.engine, now, "ann@example.com", ["tech"])
    subscribe(runtime.engine, now, "bob@example.com", ["science"])
    add_articles(runtime.engine, now, [["tech"], ["science"]])
    add_users(runtime)
    admin_id, admin_token = _token(runtime, ADMIN[0])
    _, editor_token = _token(runtime, EDITOR[0])
    app = create_app(runtime)
    with serve(app) as base:
        headers = {"Authorization": f"Bearer {admin_token}"}
        with (
            httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=30) as admin,
            httpx.Client(
                base_url=f"{base}/api/v1",
                headers={"Authorization": f"Bearer {editor_token}"},
                timeout=30,
            ) as editor,
        ):
            yield Api(runtime, base, admin, editor, smtp_server, admin_id, app)
    runtime.dispose()


def assert_problem(response: httpx.Response, status: int, needle: str = "") -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"]
    assert "\n" not in body["detail"] and "Traceback" not in body["detail"]
    assert needle in body["detail"]
    return dict(body)


def test_openapi_document_is_served_and_valid(api: Api) -> None:
    document = httpx.get(f"{api.base}/api/v1/openapi.json").json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    for path in (
        "/lists",
        "/lists/{slug}/subscribers",
        "/lists/{slug}/subscribers/import",
        "/articles",
        "/lists/{slug}/send",
        "/runs/{run_id}",
        "/schedule",
        "/lists/{slug}/archive",
        "/tokens",
    ):
        assert path in document["paths"], path
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "Problem" in document["components"]["schemas"]


def test_tokens_are_required_stored_hashed_and_revocable(api: Api) -> None:
    assert_problem(httpx.get(f"{api.base}/api/v1/lists"), 401, "Bearer")
    bad = httpx.get(f"{api.base}/api/v1/lists", headers={"Authorization": "Bearer nl_nope"})
    assert_problem(bad, 401, "unknown")
    assert bad.headers["www-authenticate"].startswith("Bearer")
    created = api.admin.post("/tokens", json={"name": "ci"})
    assert created.status_code == 201
    token = created.json()["token"]
    with session_scope(api.runtime.engine) as session:
        stored = [row.token_hash for row in session.exec(select(ApiToken))]
    assert token not in stored and all(len(h) == 64 for h in stored)
    with httpx.Client(
        base_url=f"{api.base}/api/v1", headers={"Authorization": f"Bearer {token}"}
    ) as fresh:
        assert fresh.get("/me").json()["email"] == ADMIN[0]
        assert api.admin.delete(f"/tokens/{created.json()['id']}").status_code == 204
        assert_problem(fresh.get("/me"), 401, "revoked")
    with session_scope(api.runtime.engine) as session:
        revoke_token(session, token_id=api.admin_token_id, now=api.runtime.clock())
    assert_problem(api.admin.get("/me"), 401)


def test_an_editor_token_is_refused_admin_work(api: Api) -> None:
    assert_problem(api.editor.get("/lists"), 403, "admin")
    assert_problem(api.editor.post("/lists/daily/subscribers", json={"email": "x@y.org"}), 403)
    assert api.editor.get("/runs").status_code == 200
    assert api.editor.get("/articles").status_code == 200
    assert api.admin.get("/lists").json()[0]["counts"]["active"] == 2


def test_subscribers_added_with_and_without_double_opt_in(api: Api) -> None:
    pending = api.admin.post(
        "/lists/daily/subscribers", json={"email": "Cat@Example.com", "topics": ["tech"]}
    )
    assert pending.status_code == 201 and pending.json()["status"] == "pending"
    wait_for(lambda: any("cat@example.com" in m.rcpt_tos for m in api.smtp.messages))
    active = api.admin.post(
        "/lists/daily/subscribers", json={"email": "dan@example.com", "double_opt_in": False}
    )
    assert active.json()["status"] == "active"
    listed = api.admin.get("/lists/daily/subscribers", params={"status": "active"}).json()
    assert listed["total"] == 3
    assert [m["email"] for m in listed["items"]] == [
        "ann@example.com",
        "bob@example.com",
        "dan@example.com",
    ]
    assert not any("dan@example.com" in m.rcpt_tos for m in api.smtp.messages)
    assert_problem(api.admin.post("/lists/daily/subscribers", json={"email": "nope"}), 400)
    assert_problem(api.admin.post("/lists/daily/subscribers", json={}), 422, "email")
    assert_problem(api.admin.get("/lists/daily/subscribers", params={"status": "bogus"}), 400)
    assert_problem(api.admin.get("/lists/daily/subscribers", params={"page": "x"}), 422, "page")
    assert_problem(api.admin.get("/lists/nosuch"), 404, "nosuch")


def test_preferences_unsubscribe_and_erase(api: Api) -> None:
    changed = api.admin.patch(
        "/lists/daily/subscribers/ann@example.com",
        json={"cadence": "weekly", "weekday": 2, "topics": ["tech", "science"]},
    )
    assert changed.status_code == 200, changed.text
    bad = api.admin.patch("/lists/daily/subscribers/ann@example.com", json={"cadence": "hourly"})
    assert_problem(bad, 400, "cadence")
    with session_scope(api.runtime.engine) as session:
        row = service.get_subscription(session, email="ann@example.com", slug="daily")
        assert (row.cadence, row.weekday, sorted(row.topics)) == ("weekly", 2, ["science", "tech"])
    gone = api.admin.post("/lists/daily/subscribers/ann@example.com/unsubscribe")
    assert gone.json() == {"changed": 1}
    assert api.admin.delete("/subscribers/bob@example.com").status_code == 200
    with session_scope(api.runtime.engine) as session:
        emails = {s.email: s for s in session.exec(select(Subscriber))}
        statuses = {sub.subscriber_id: sub.status for sub in session.exec(select(Subscription))}
    assert "bob@example.com" not in emails
    assert statuses[emails["ann@example.com"].id] == "unsubscribed"
    assert_problem(api.admin.delete("/subscribers/bob@example.com"), 404)


def test_csv_import(api: Api) -> None:
    body = "email,name,topics\nerin@example.com,Erin,tech\nnot-an-address,X,tech\n"
    report = api.admin.post(
        "/lists/daily/subscribers/import",
        params={"confirmed": "true"},
        content=body.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert report.status_code == 200, report.text
    assert report.json() | {} == {
        "rows": 2,
        "added": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
        "suppressed": 0,
        "confirmations_queued": 0,
    }
    with session_scope(api.runtime.engine) as session:
        assert service.find_subscriber(session, email="erin@example.com").name == "Erin"
    assert_problem(
        api.admin.post("/lists/daily/subscribers/import", json={"email": "x"}), 415, "text/csv"
    )


def test_article_ingest_by_body(api: Api) -> None:
    markdown = "# Quantum chips ship\n\nA longer paragraph about quantum chips shipping at last.\n"
    body = {
        "body": markdown,
        "format": "markdown",
        "topics": ["tech"],
        "published_at": "2026-11-25T07:00:00Z",
    }
    first = api.editor.post("/articles", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["added"] == 1
    again = api.editor.post("/articles", json=body)
    assert again.json()["added"] == 0 and again.json()["duplicates"] == 1
    with session_scope(api.runtime.engine) as session:
        titles = [a.title for a in session.exec(select(Article))]
    assert "Quantum chips ship" in titles
    assert_problem(api.editor.post("/articles", json={}), 400, "either a url or a body")
    unknown = {"body": "# Title\n\nSome text here.", "format": "markdown", "topics": ["nosuch"]}
    assert_problem(api.editor.post("/articles", json=unknown), 400, "unknown topic")
    assert_problem(api.editor.post("/articles", json={"body": "x"}), 400, "headline")
    flagged = api.editor.patch(f"/articles/{first.json()['article_ids'][0]}", json={"pinned": True})
    assert flagged.json()["pinned"] is True


def test_preview_test_send_now_and_progress(api: Api) -> None:
    preview = api.editor.get("/lists/daily/preview").json()
    assert preview["article_count"] == 2 and "Story 0" in preview["html"]
    sent = api.editor.post("/lists/daily/test", json={"to": "qa@example.net"})
    assert sent.status_code == 200, sent.text
    wait_for(lambda: any("qa@example.net" in m.rcpt_tos for m in api.smtp.messages))
    started = api.editor.post("/lists/daily/send")
    assert started.status_code == 202
    run_id = started.json()["run_id"]
    assert started.json()["queued"] == 2
    wait_for(lambda: api.editor.get(f"/runs/{run_id}").json()["done"])
    detail = api.editor.get(f"/runs/{run_id}").json()
    assert detail["counts"]["sent"] == 2 and detail["pending"] == 0
    received = {r for m in api.smtp.messages for r in m.rcpt_tos}
    assert {"ann@example.com", "bob@example.com"} <= received
    assert run_id in [r["id"] for r in api.editor.get("/runs").json()]
    assert_problem(api.editor.post(f"/runs/{run_id}/explode"), 404, "explode")
    assert_problem(api.editor.get("/runs/999"), 404, "999")
    archive = api.editor.get("/lists/daily/archive").json()
    assert archive and archive[0]["run_id"] == run_id
    page = httpx.get(archive[0]["url"].replace("https://news.example.test", api.base))
    assert page.status_code == 200 and "Story" in page.text


def test_schedule_list_and_cancel(api: Api) -> None:
    created = api.editor.post(
        "/schedule", json={"list": "daily", "at": "2026-12-01 08:00", "timezone": "Europe/Paris"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["at"].startswith("2026-12-01T07:00")
    assert [s["id"] for s in api.editor.get("/schedule").json()] == [created.json()["id"]]
    assert api.editor.delete(f"/schedule/{created.json()['id']}").status_code == 200
    with session_scope(api.runtime.engine) as session:
        assert session.exec(select(ScheduledSend.status)).one() == "cancelled"
    past = api.editor.post("/schedule", json={"list": "daily", "at": "2020-01-01 08:00"})
    assert_problem(past, 400, "past")


def test_rate_limit_per_token(api: Api) -> None:
    api_state_of(api.app).limiter = RateLimiter(limit=3, window=60)
    for _ in range(3):
        assert api.admin.get("/me").status_code == 200
    limited = api.admin.get("/me")
    assert_problem(limited, 429, "3 requests")
    assert limited.headers["retry-after"] == "60"
    assert api.editor.get("/me").status_code == 200  # another token is not affected
    with session_scope(api.runtime.engine) as session:
        assert session.exec(select(Run)).all() == []


def test_unknown_paths_are_problems(api: Api) -> None:
    assert_problem(api.admin.get("/nothing-here"), 404)


def test_lists_create_and_change(api: Api) -> None:
    body = {
        "slug": "weekly",
        "name": "Weekly",
        "from_name": "Desk",
        "from_address": "desk@news.example.org",
        "topics": ["tech"],
        "default_cadence": "weekly",
    }
    created = api.admin.post("/lists", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["topics"] == ["tech"]
    assert_problem(api.admin.post("/lists", json=body), 400, "weekly")
    assert_problem(api.admin.post("/lists", json=body | {"slug": "x2", "topics": ["nope"]}), 400)
    changed = api.admin.patch("/lists/weekly", json={"name": "Weekly Digest", "reply_to": ""})
    assert changed.json()["name"] == "Weekly Digest"
    with session_scope(api.runtime.engine) as session:
        stored = service.get_list(session, slug="weekly")
    assert (stored.name, stored.default_cadence, stored.reply_to) == (
        "Weekly Digest",
        "weekly",
        None,
    )


def test_article_ingest_by_url(api: Api) -> None:
    served = FeedServer()
    served.pages["/feed.xml"] = Page(body=(FIXTURES / "feeds" / "tech-rss2.xml").read_bytes())
    served.start()
    try:
        first = api.editor.post(
            "/articles", json={"url": served.url("/feed.xml"), "topics": ["tech"]}
        )
        assert first.status_code == 201, first.text
        assert first.json()["added"] >= 1
        again = api.editor.post("/articles", json={"url": served.url("/feed.xml")})
        assert again.json()["added"] == 0 and again.json()["duplicates"] == first.json()["added"]
        assert [hit.path for hit in served.hits] == ["/feed.xml", "/feed.xml"]
        missing = api.editor.post("/articles", json={"url": served.url("/nothing.xml")})
        assert_problem(missing, 400, "404")
    finally:
        served.stop()
    with session_scope(api.runtime.engine) as session:
        assert len(session.exec(select(Article)).all()) == 2 + first.json()["added"]


def test_a_confirmation_started_before_shutdown_is_sent_not_cut_off(sqlite_url: str) -> None:
    """The server waits for its background sends when it stops: a confirmation requested just
    before is delivered and recorded sent, not cancelled half-way (and no connection leaks)."""
    slow = RecordingServer(RecordingHandler(delay=1.5))  # the relay answers DATA after 1.5 s
    slow.start()
    try:
        runtime = make_runtime(make_settings(sqlite_url, slow))
        seed_list(runtime.engine, runtime.clock(), ["tech"])
        add_users(runtime)
        _, token = _token(runtime, ADMIN[0])
        with serve(create_app(runtime)) as base:
            answer = httpx.post(
                f"{base}/api/v1/lists/daily/subscribers",
                json={"email": "eve@example.com"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert answer.status_code == 201 and answer.json()["status"] == "pending"
        # the server has stopped: the send it started must have finished and been recorded
        with session_scope(runtime.engine) as session:
            rows = session.exec(select(Delivery).where(Delivery.email == "eve@example.com")).all()
            assert [row.status for row in rows] == [DeliveryStatus.SENT]
        assert [m.rcpt_tos for m in slow.messages] == [("eve@example.com",)]
        runtime.dispose()
    finally:
        slow.stop()
