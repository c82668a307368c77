"""The console through FastAPI's test client: sign-in, roles, CSRF, every page and action."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.db import session_scope
from newsletter.models import Article, Delivery, DeliveryStatus, Run, User
from newsletter.web.app import create_app
from subscribers.models import Subscriber, Subscription, Suppression
from tests.conftest import make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer
from tests.webapp import ADMIN, EDITOR, WebEnv, add_users, hidden, login, wait_for


@pytest.fixture
def web(sqlite_url: str, smtp_server: RecordingServer) -> Iterator[WebEnv]:
    """An app on a seeded database: a list, two subscribers, articles, an admin and an editor."""
    runtime = make_runtime(make_settings(sqlite_url, smtp_server, base_url="http://testserver"))
    now = runtime.clock()
    seed_list(runtime.engine, now, ["tech", "science"])
    subscribe(runtime.engine, now, "alice@example.com", ["tech"], name="Alice")
    subscribe(runtime.engine, now, "bob@example.com", ["science"], name="Bob")
    add_articles(runtime.engine, now, [["tech"], ["science"], ["tech", "science"]])
    add_users(runtime)
    with TestClient(create_app(runtime)) as client:
        yield WebEnv(runtime=runtime, client=client)
    runtime.dispose()


CONSOLE_PAGES = [
    "/admin",
    "/admin/articles",
    "/admin/preview?list=daily",
    "/admin/runs",
    "/admin/send?list=daily",
]
ADMIN_PAGES = ["/admin/lists", "/admin/lists/daily", "/admin/subscribers", "/admin/users"]


def test_pages_need_a_session(web: WebEnv) -> None:
    for path in CONSOLE_PAGES + ADMIN_PAGES:
        response = web.client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/admin/login?next=")
    assert web.client.post("/admin/send", data={"list": "daily"}).status_code == 401
    assert web.client.get("/admin/runs/1/progress", follow_redirects=False).status_code == 303


def test_login_sets_a_hardened_cookie_and_logout_needs_csrf(web: WebEnv) -> None:
    page = web.client.get("/admin/login")
    response = web.client.post(
        "/admin/login",
        data={
            "email": ADMIN[0],
            "password": ADMIN[1],
            "form_token": hidden(page.text, "form_token"),
        },
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    csrf = hidden(web.client.get("/admin").text, "csrf")
    assert web.client.post("/admin/logout", data={}).status_code == 403
    assert web.client.post("/admin/logout", data={"csrf": "forged"}).status_code == 403
    out = web.client.post("/admin/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert web.client.get("/admin", follow_redirects=False).status_code == 303


def test_cookie_is_secure_behind_an_https_base_url(sqlite_url: str) -> None:
    runtime = make_runtime(make_settings(sqlite_url, base_url="https://news.example.test"))
    add_users(runtime)
    with TestClient(create_app(runtime), base_url="https://testserver") as client:
        page = client.get("/admin/login")
        response = client.post(
            "/admin/login",
            data={
                "email": ADMIN[0],
                "password": ADMIN[1],
                "form_token": hidden(page.text, "form_token"),
            },
            follow_redirects=False,
        )
        assert "secure" in response.headers["set-cookie"].lower()
    runtime.dispose()


def test_wrong_password_forged_form_token_and_rate_limit(web: WebEnv) -> None:
    token = hidden(web.client.get("/admin/login").text, "form_token")
    wrong = {"email": ADMIN[0], "password": "nope-nope-nope", "form_token": token}
    assert web.client.post("/admin/login", data=wrong).status_code == 401
    forged = {"email": ADMIN[0], "password": ADMIN[1], "form_token": "1.forged"}
    assert web.client.post("/admin/login", data=forged).status_code == 403
    assert web.client.post("/admin/login", data=wrong | {"form_token": ""}).status_code == 403
    codes = [web.client.post("/admin/login", data=wrong).status_code for _ in range(5)]
    assert codes[-1] == 429
    right = {"email": ADMIN[0], "password": ADMIN[1], "form_token": token}
    assert web.client.post("/admin/login", data=right).status_code == 429


def test_login_does_not_redirect_off_site(web: WebEnv) -> None:
    page = web.client.get("/admin/login")
    response = web.client.post(
        "/admin/login",
        data={
            "email": EDITOR[0],
            "password": EDITOR[1],
            "form_token": hidden(page.text, "form_token"),
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/admin"


def test_editor_sees_content_but_not_lists_people_or_users(web: WebEnv) -> None:
    csrf = login(web.client, EDITOR)
    for path in CONSOLE_PAGES:
        assert web.client.get(path).status_code == 200, path
    for path in ADMIN_PAGES:
        assert web.client.get(path).status_code == 403, path
    response = web.client.post(
        "/admin/users",
        data={"csrf": csrf, "email": "x@example.org", "password": "long-enough-1", "role": "admin"},
    )
    assert response.status_code == 403
    assert "Lists" not in web.client.get("/admin").text.split("<main")[0]


def test_every_admin_page_renders(web: WebEnv) -> None:
    login(web.client, ADMIN)
    for path in (
        CONSOLE_PAGES
        + ADMIN_PAGES
        + [
            "/admin/subscribers?list=daily&status=active&topic=tech&q=ali",
            "/admin/subscribers/edit?list=daily&email=alice@example.com",
            "/admin/articles?q=story&topic=tech&flag=pinned",
            "/admin/preview?list=daily&email=alice@example.com&view=mobile",
            "/admin/preview?list=daily&view=text",
            "/admin/preview/frame?list=daily",
        ]
    ):
        assert web.client.get(path).status_code == 200, path
    dashboard = web.client.get("/admin").text
    assert "Example Daily" in dashboard
    assert web.client.get("/admin/lists/nope").status_code == 404
    assert web.client.get("/admin/runs/999").status_code == 404


def test_posts_without_or_with_wrong_csrf_are_refused(web: WebEnv) -> None:
    login(web.client, ADMIN)
    for path, data in [
        ("/admin/lists", {"slug": "x", "name": "X"}),
        ("/admin/lists/daily", {"name": "Renamed"}),
        ("/admin/subscribers/add", {"list": "daily", "email": "new@example.com"}),
        ("/admin/subscribers/edit", {"list": "daily", "email": "alice@example.com"}),
        ("/admin/articles/1", {"action": "pin"}),
        ("/admin/preview/test", {"list": "daily", "to": "t@example.com"}),
        ("/admin/send", {"list": "daily", "confirm": "yes"}),
        ("/admin/runs/1/pause", {}),
        ("/admin/users", {"email": "u@example.org"}),
    ]:
        assert web.client.post(path, data=data).status_code == 403, path
        assert web.client.post(path, data=data | {"csrf": "wrong"}).status_code == 403, path
    with session_scope(web.runtime.engine) as session:
        assert session.exec(select(Article).where(Article.pinned)).first() is None


def test_lists_create_and_edit(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    response = web.client.post(
        "/admin/lists",
        data={
            "csrf": csrf,
            "slug": "weekly",
            "name": "The Weekly",
            "from_name": "Desk",
            "from_address": "weekly@news.example.org",
            "topics": ["science"],
            "default_cadence": "weekly",
            "default_weekday": "4",
            "default_send_hour": "9",
            "default_timezone": "Europe/Paris",
            "double_opt_in": "yes",
        },
    )
    assert "List weekly created" in response.text
    response = web.client.post(
        "/admin/lists/weekly",
        data={
            "csrf": csrf,
            "name": "The Friday Weekly",
            "from_name": "Desk",
            "from_address": "weekly@news.example.org",
            "topics": ["science", "tech"],
            "default_cadence": "weekly",
            "default_weekday": "4",
            "default_send_hour": "9",
            "default_timezone": "Europe/Paris",
            "double_opt_in": "yes",
        },
    )
    assert "Saved" in response.text and "The Friday Weekly" in response.text
    bad = web.client.post(
        "/admin/lists", data={"csrf": csrf, "slug": "bad slug!", "name": "x", "topics": ["tech"]}
    )
    assert "slug" in bad.text


def test_subscribers_add_edit_unsubscribe_suppress_erase(
    web: WebEnv, smtp_server: RecordingServer
) -> None:
    csrf = login(web.client, ADMIN)
    added = web.client.post(
        "/admin/subscribers/add",
        data={"csrf": csrf, "list": "daily", "email": "Carol@Example.com", "topics": ["tech"]},
    )
    assert "Added (pending)" in added.text
    # double opt-in: carol's confirmation email goes out through the engine
    wait_for(lambda: any(m.rcpt_tos == ("carol@example.com",) for m in smtp_server.messages))
    page = web.client.get("/admin/subscribers?list=daily&status=pending")
    assert "carol@example.com" in page.text and "alice@example.com" not in page.text
    base = {"csrf": csrf, "list": "daily", "email": "alice@example.com"}
    saved = web.client.post(
        "/admin/subscribers/edit",
        data=base
        | {
            "action": "save",
            "name": "Alice A.",
            "topics": ["tech", "science"],
            "cadence": "weekly",
            "weekday": "2",
            "send_hour": "7",
            "timezone": "Europe/Berlin",
        },
    )
    assert "Saved" in saved.text
    web.client.post("/admin/subscribers/edit", data=base | {"action": "unsubscribe"})
    web.client.post("/admin/subscribers/edit", data=base | {"action": "suppress"})
    refused = web.client.post(
        "/admin/subscribers/edit", data=base | {"action": "erase", "confirm_erase": "wrong"}
    )
    assert "Type the address" in refused.text
    with session_scope(web.runtime.engine) as session:
        alice = session.exec(
            select(Subscriber).where(Subscriber.email == "alice@example.com")
        ).one()
        subscription = session.exec(
            select(Subscription).where(Subscription.subscriber_id == alice.id)
        ).one()
        assert alice.name == "Alice A."
        assert subscription.cadence == "weekly" and subscription.send_hour == 7
        assert subscription.status == "unsubscribed"
        assert session.exec(select(Suppression).where(Suppression.value == alice.email)).first()
    erased = web.client.post(
        "/admin/subscribers/edit",
        data=base | {"action": "erase", "confirm_erase": "alice@example.com"},
    )
    assert "Erased" in erased.text
    with session_scope(web.runtime.engine) as session:
        assert (
            session.exec(select(Subscriber).where(Subscriber.email == "alice@example.com")).first()
            is None
        )


def test_csv_import_shows_counts_and_rejects_and_export_downloads(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    csv_text = (
        "email,name,topics\n"
        "dave@example.com,Dave,tech\n"
        "not-an-address,Nobody,tech\n"
        "erin@example.com,Erin,tech;science\n"
        "frank@example.com,Frank,gardening\n"
    )
    response = web.client.post(
        "/admin/subscribers/import",
        data={"csrf": csrf, "list": "daily", "confirmed": "yes"},
        files={"file": ("people.csv", csv_text.encode(), "text/csv")},
    )
    assert response.status_code == 200
    assert 'id="import-added">2<' in response.text
    assert 'id="import-rejected">2<' in response.text
    assert "not-an-address" in response.text and "gardening" in response.text
    export = web.client.get("/admin/subscribers/export?list=daily&status=active")
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    assert "dave@example.com" in export.text and "erin@example.com" in export.text
    broken = web.client.post(
        "/admin/subscribers/import",
        data={"csrf": csrf, "list": "daily"},
        files={"file": ("bad.csv", b"name\nnobody\n", "text/csv")},
    )
    assert broken.status_code == 400


def test_articles_pin_exclude_and_retopic(web: WebEnv) -> None:
    csrf = login(web.client, EDITOR)
    with session_scope(web.runtime.engine) as session:
        article_id = session.exec(select(Article.id)).first()
    for action in ("pin", "exclude"):
        web.client.post(f"/admin/articles/{article_id}", data={"csrf": csrf, "action": action})
    web.client.post(
        f"/admin/articles/{article_id}",
        data={"csrf": csrf, "action": "topics", "topics": ["science"]},
    )
    bad = web.client.post(
        f"/admin/articles/{article_id}",
        data={"csrf": csrf, "action": "topics", "topics": ["nope"]},
    )
    assert "unknown topic" in bad.text
    with session_scope(web.runtime.engine) as session:
        article = session.get(Article, article_id)
        assert article is not None and article.pinned and article.excluded
    listed = web.client.get("/admin/articles?flag=pinned&topic=science")
    assert article.title in listed.text
    assert (
        web.client.post("/admin/articles/9999", data={"csrf": csrf, "action": "pin"}).status_code
        == 404
    )


def test_preview_test_send_and_manual_send_to_done(
    web: WebEnv, smtp_server: RecordingServer
) -> None:
    csrf = login(web.client, EDITOR)
    preview = web.client.get("/admin/preview?list=daily&email=alice@example.com&view=text")
    assert "Story 0" in preview.text
    missing = web.client.get("/admin/preview?list=daily&email=nobody@example.com")
    assert "not subscribed" in missing.text
    sent = web.client.post(
        "/admin/preview/test", data={"csrf": csrf, "list": "daily", "to": "desk@example.org"}
    )
    assert "Test sent to desk@example.org" in sent.text
    assert [m.rcpt_tos for m in smtp_server.messages] == [("desk@example.org",)]
    unconfirmed = web.client.post("/admin/send", data={"csrf": csrf, "list": "daily"})
    assert unconfirmed.status_code == 400
    page = web.client.post("/admin/send", data={"csrf": csrf, "list": "daily", "confirm": "yes"})
    assert page.status_code == 200 and "Run #" in page.text
    run_id = int(str(page.url).rsplit("/", 1)[1])

    def done() -> bool:
        progress = web.client.get(f"/admin/runs/{run_id}/progress").json()
        return bool(progress["done"])

    wait_for(done)
    progress = web.client.get(f"/admin/runs/{run_id}/progress").json()
    assert progress["counts"]["sent"] == 2 and progress["pending"] == 0
    assert len(smtp_server.messages) == 3
    assert "done" in web.client.get("/admin/runs").text


def test_runs_pause_resume_and_retry_failed(web: WebEnv, smtp_server: RecordingServer) -> None:
    csrf = login(web.client, EDITOR)
    smtp_server.handler.rcpt_reply = lambda address: (
        "550 5.7.1 policy" if "bob" in address else None
    )
    page = web.client.post("/admin/send", data={"csrf": csrf, "list": "daily", "confirm": "yes"})
    run_id = int(str(page.url).rsplit("/", 1)[1])
    wait_for(lambda: bool(web.client.get(f"/admin/runs/{run_id}/progress").json()["done"]))
    counts = web.client.get(f"/admin/runs/{run_id}/progress").json()["counts"]
    assert counts["sent"] == 1 and counts["failed"] == 1
    refused = web.client.post(f"/admin/runs/{run_id}/pause", data={"csrf": csrf})
    assert "only a sending run can be paused" in refused.text
    smtp_server.handler.rcpt_reply = lambda address: None
    retried = web.client.post(f"/admin/runs/{run_id}/retry", data={"csrf": csrf})
    assert "1 failed message(s) queued again" in retried.text

    def retried_and_done() -> bool:
        progress = web.client.get(f"/admin/runs/{run_id}/progress").json()
        return bool(progress["done"]) and progress["counts"]["sent"] == 2

    wait_for(retried_and_done)
    with session_scope(web.runtime.engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.status = "sending"
        session.add(
            Delivery(run_id=run_id, email="late@example.com", status=DeliveryStatus.SKIPPED)
        )
    assert "Run paused" in web.client.post(f"/admin/runs/{run_id}/pause", data={"csrf": csrf}).text
    assert web.client.get(f"/admin/runs/{run_id}/progress").json()["status"] == "paused"
    resumed = web.client.post(f"/admin/runs/{run_id}/resume", data={"csrf": csrf})
    assert "Run resumed" in resumed.text
    wait_for(lambda: web.client.get(f"/admin/runs/{run_id}/progress").json()["done"])


def test_admin_creates_users(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    made = web.client.post(
        "/admin/users",
        data={
            "csrf": csrf,
            "email": "new@example.org",
            "password": "a-long-password",
            "role": "editor",
        },
    )
    assert "User new@example.org created" in made.text
    short = web.client.post(
        "/admin/users",
        data={"csrf": csrf, "email": "x@example.org", "password": "short", "role": "editor"},
    )
    assert "at least 10 characters" in short.text
    with session_scope(web.runtime.engine) as session:
        user = session.exec(select(User).where(User.email == "new@example.org")).one()
        assert user.password_hash.startswith("$argon2id$")


@pytest.mark.postgres
def test_console_and_one_click_on_postgresql(
    postgres_url: str, smtp_server: RecordingServer
) -> None:
    runtime = make_runtime(make_settings(postgres_url, smtp_server, base_url="http://testserver"))
    now = runtime.clock()
    seed_list(runtime.engine, now, ["tech"])
    subscribe(runtime.engine, now, "alice@example.com", ["tech"])
    add_articles(runtime.engine, now, [["tech"]])
    add_users(runtime)
    with TestClient(create_app(runtime)) as client:
        csrf = login(client, ADMIN)
        for path in CONSOLE_PAGES + ADMIN_PAGES:
            assert client.get(path).status_code == 200, path
        page = client.post("/admin/send", data={"csrf": csrf, "list": "daily", "confirm": "yes"})
        run_id = int(str(page.url).rsplit("/", 1)[1])
        wait_for(lambda: bool(client.get(f"/admin/runs/{run_id}/progress").json()["done"]))
        assert client.get(f"/admin/runs/{run_id}/progress").json()["counts"]["sent"] == 1
        message = smtp_server.messages[-1].parsed()
        unsubscribe = str(message["List-Unsubscribe"]).split("<", 1)[1].split(">", 1)[0]
        client.cookies.clear()
        path = unsubscribe.removeprefix("http://testserver")
        assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    with session_scope(runtime.engine) as session:
        assert session.exec(select(Subscription.status)).one() == "unsubscribed"
    runtime.dispose()
