"""Security headers on every page, cross-site state changes refused, tokens kept out of logs."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from newsletter.db import session_scope
from newsletter.digest.links import personal_links
from newsletter.web.app import create_app
from newsletter.web.guard import is_cross_site, redact, site_origins
from subscribers.models import Subscriber
from tests.cli_helpers import SECRET as CLI_SECRET
from tests.conftest import make_runtime, make_settings
from tests.helpers import seed_list, subscribe
from tests.smtpserver import RecordingServer
from tests.webapp import ADMIN, WebEnv, add_users, hidden, login

SECRET = b"test-secret-key-0123456789"
EVIL = "https://evil.example"


@pytest.fixture
def web(sqlite_url: str, smtp_server: RecordingServer) -> Iterator[WebEnv]:
    runtime = make_runtime(make_settings(sqlite_url, smtp_server, base_url="http://testserver"))
    seed_list(runtime.engine, runtime.clock(), ["tech", "science"])
    subscribe(runtime.engine, runtime.clock(), "alice@example.com", ["tech"], name="Alice")
    add_users(runtime)
    with TestClient(create_app(runtime)) as client:
        yield WebEnv(runtime=runtime, client=client)
    runtime.dispose()


def _links(web: WebEnv) -> tuple[str, str]:
    links = personal_links(
        base_url="", secret=SECRET, subscriber_id=1, list_id=1, mailto_domain="x.org"
    )
    return links.unsubscribe_url, links.preferences_url


def _people(web: WebEnv) -> int:
    with session_scope(web.runtime.engine) as session:
        return session.exec(select(func.count()).select_from(Subscriber)).one()


def _check_headers(path: str, response: httpx.Response) -> None:
    csp = response.headers.get("content-security-policy", "")
    directives = dict(
        (part.strip().split(" ", 1) + [""])[:2] for part in csp.split(";") if part.strip()
    )
    assert "frame-ancestors" in directives, path
    if path != "/admin/preview/frame":
        assert directives["frame-ancestors"] == "'none'", path
    script = directives.get("script-src", directives.get("default-src", ""))
    assert "unsafe-inline" not in script and "unsafe-eval" not in script, path
    assert response.headers["x-content-type-options"] == "nosniff", path
    assert response.headers["referrer-policy"] == "same-origin", path
    if path.startswith(("/admin", "/u/", "/p/")):
        assert response.headers["cache-control"] == "no-store", path
    if "text/html" in response.headers.get("content-type", ""):
        # No inline script and no inline event handler in any page.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), path
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", response.text), path


def test_every_page_carries_the_security_headers(web: WebEnv) -> None:
    unsubscribe, preferences = _links(web)
    public = [
        "/",
        "/l/daily",
        "/admin/login",
        unsubscribe,
        preferences,
        "/nothing-here",
        "/static/style.css",
        "/static/prefs.js",
        "/static/run.js",
        "/healthz",
    ]
    for path in public:
        response = web.client.get(path)
        assert response.status_code in (200, 404), path
        _check_headers(path, response)
    login(web.client, ADMIN)
    console = [
        "/admin",
        "/admin/subscribers",
        "/admin/subscribers/export?list=daily",
        "/admin/lists",
        "/admin/users",
        "/admin/articles",
        "/admin/runs",
        "/admin/preview?list=daily",
        "/admin/preview/frame?list=daily",
        "/admin/send",
    ]
    for path in console:
        response = web.client.get(path)
        assert response.status_code in (200, 404), path
        _check_headers(path.split("?")[0], response)
    export = web.client.get("/admin/subscribers/export?list=daily")
    assert "alice@example.com" in export.text and export.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Origin": "http://testserver.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Referer": f"{EVIL}/page"},
    ],
)
def test_cross_site_posts_are_refused_before_anything_happens(
    web: WebEnv, smtp_server: RecordingServer, headers: dict[str, str]
) -> None:
    before = _people(web)
    page = web.client.get("/l/daily")
    form = {
        "email": "csrf@example.com",
        "name": "X",
        "topics": ["tech"],
        "cadence": "daily",
        "send_hour": "8",
        "timezone": "UTC",
        "form_token": hidden(page.text, "form_token"),
    }
    refused = web.client.post("/l/daily", data=form, headers=headers)
    assert refused.status_code == 403 and "another site" in refused.text
    _check_headers("/l/daily", refused)
    assert _people(web) == before and smtp_server.messages == []
    # Login CSRF: a cross-site page cannot sign the victim's browser into another account.
    login_page = web.client.get("/admin/login")
    attempt = web.client.post(
        "/admin/login",
        data={
            "email": ADMIN[0],
            "password": ADMIN[1],
            "next": "/admin",
            "form_token": hidden(login_page.text, "form_token"),
        },
        headers=headers,
        follow_redirects=False,
    )
    assert attempt.status_code == 403 and "set-cookie" not in attempt.headers


def test_same_site_posts_and_one_click_unsubscribe_still_work(web: WebEnv) -> None:
    page = web.client.get("/admin/login")
    ok = web.client.post(
        "/admin/login",
        data={
            "email": ADMIN[0],
            "password": ADMIN[1],
            "next": "/admin",
            "form_token": hidden(page.text, "form_token"),
        },
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and "set-cookie" in ok.headers
    unsubscribe, _ = _links(web)
    # RFC 8058: the mail provider posts from its own servers, with whatever Origin it likes.
    done = web.client.post(
        unsubscribe, data={"List-Unsubscribe": "One-Click"}, headers={"Origin": EVIL}
    )
    assert done.status_code == 200


ORIGINS = st.sampled_from(
    [
        "http://testserver",
        "https://news.example.org",
        EVIL,
        "null",
        "http://testserver:81",
        "https://news.example.org.evil.example",
        "http://[::1]",
        "file://",
        "javascript:x",
    ]
)


@settings(max_examples=300)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]),
    path=st.sampled_from(["/l/daily", "/admin/login", "/p/abc", "/u/abc", "/u/abc/x", "/c/a"]),
    origin=st.none() | ORIGINS | st.text(max_size=30),
    fetch_site=st.none() | st.sampled_from(["same-origin", "same-site", "cross-site", "none"]),
)
def test_origin_rule(method: str, path: str, origin: str | None, fetch_site: str | None) -> None:
    allowed = site_origins("https://news.example.org", "http", "testserver")
    headers = {k: v for k, v in (("origin", origin), ("sec-fetch-site", fetch_site)) if v}
    refused = is_cross_site(method, path, headers, allowed)
    if method in ("GET", "HEAD") or re.fullmatch(r"/u/[^/]+", path):
        assert not refused
    elif origin is not None and origin != "":
        assert refused == (origin not in ("http://testserver", "https://news.example.org"))
    elif fetch_site is not None:
        assert refused == (fetch_site not in ("same-origin", "none"))


@pytest.mark.parametrize(
    ("line", "leaked"),
    [
        ('1.2.3.4 - "GET /u/dS4xLjEuMA.abc-_DEF HTTP/1.1" 200', "dS4xLjEuMA"),
        ('"GET /p/cC4xLjEuMA.xyz?email=bob%40example.org HTTP/1.1"', "bob"),
        ('"GET /admin/subscribers/edit?email=carol@example.net HTTP/1.1"', "carol"),
        ('"GET /v/12/abcdef0123456789 HTTP/1.1"', "abcdef0123456789"),
        ("background task failed: test send to dave@example.com", "dave"),
        ('"POST /c/Yy4xLjEuMC4x HTTP/1.1" 303', "Yy4xLjEuMC4x"),
    ],
)
def test_redact(line: str, leaked: str) -> None:
    assert leaked not in redact(line)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_access_log_of_a_real_server_holds_no_tokens_or_addresses(
    sqlite_url: str, tmp_path: Path
) -> None:
    runtime = make_runtime(make_settings(sqlite_url))
    seed_list(runtime.engine, runtime.clock(), ["tech"])
    subscribe(runtime.engine, runtime.clock(), "erin@example.com", ["tech"])
    runtime.dispose()
    links = personal_links(
        base_url="", secret=CLI_SECRET.encode(), subscriber_id=1, list_id=1, mailto_domain="x"
    )
    port = _free_port()
    log = tmp_path / "web.log"
    env = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": sqlite_url,
        "NEWSLETTER_SECRET_KEY": CLI_SECRET,
        "NEWSLETTER_BASE_URL": f"http://127.0.0.1:{port}",
    }
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "web", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            assert httpx.get(base + links.preferences_url).status_code == 200
            assert httpx.get(base + links.unsubscribe_url).status_code == 200
            httpx.get(f"{base}/admin/login?next=/admin/subscribers/edit?email=erin@example.com")
            httpx.get(
                f"{base}/p/{links.preferences_url.rsplit('/', 1)[1]}?email=erin%40example.com"
            )
        finally:
            server.terminate()
            server.wait(timeout=10)
    text = log.read_text()
    assert '"GET /p/[token]' in text and '"GET /u/[token]' in text  # requests are still logged
    for secret in (
        links.preferences_url.rsplit("/", 1)[1],
        links.unsubscribe_url.rsplit("/", 1)[1],
        "erin",
    ):
        assert secret not in text


@pytest.mark.parametrize(
    "path",
    [
        "/admin/runs/9223372036854775808",
        "/v/99999999999999999999/abcdef0123456789",
        "/admin/subscribers?list=daily&page=99999999999999999999",
    ],
)
def test_numbers_beyond_64_bits_are_not_found(web: WebEnv, path: str) -> None:
    login(web.client, ADMIN)
    response = web.client.get(path)
    assert response.status_code == 404 and "Page not found" in response.text
