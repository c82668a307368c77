"""Fuzzing the web forms: any value gives a page (never a 500); a refused form writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from newsletter.links import personal_links
from newsletter.web.app import create_app
from tests.conftest import make_runtime, make_settings
from tests.fuzzing import IN_PROCESS, deadline, snapshot
from tests.helpers import seed_list, subscribe
from tests.smtpserver import RecordingServer
from tests.webapp import ADMIN, WebEnv, add_users, hidden, login

SECRET = b"test-secret-key-0123456789"
HOSTILE = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "Europe",
            "Europe/" + "x" * 300,
            "UTC",
            "Etc/GMT+14",
            "../../etc/passwd",
            "-1",
            "24",
            "8.5",
            "99999999999999999999999",
            "1e9",
            "NaN",
            "",
            " ",
            "\x00",
            "mon",
            "weekly",
            "tech",
            "<script>alert(1)</script>",
            "=1+1",
            "a@example.com",
        ]
    ),
)
INTEGERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["0", "-0", "1.5", "abc", "", "१२"]),
)


@pytest.fixture
def web(sqlite_url: str, smtp_server: RecordingServer) -> Iterator[WebEnv]:
    runtime = make_runtime(make_settings(sqlite_url, smtp_server, base_url="http://testserver"))
    seed_list(runtime.engine, runtime.clock(), ["tech", "science"])
    subscribe(runtime.engine, runtime.clock(), "alice@example.com", ["tech"], name="Alice")
    add_users(runtime)
    with TestClient(create_app(runtime)) as client:
        yield WebEnv(runtime=runtime, client=client)
    runtime.dispose()


@IN_PROCESS
@given(
    email=st.one_of(HOSTILE, st.just("new@example.com")),
    name=HOSTILE,
    topics=st.lists(HOSTILE, max_size=3),
    cadence=HOSTILE,
    weekday=HOSTILE,
    send_hour=st.one_of(HOSTILE, INTEGERS),
    timezone=HOSTILE,
)
def test_signup_form(
    web: WebEnv,
    email: str,
    name: str,
    topics: list[str],
    cadence: str,
    weekday: str,
    send_hour: str,
    timezone: str,
) -> None:
    page = web.client.get("/l/daily")
    form = {
        "email": email,
        "name": name,
        "topics": topics,
        "cadence": cadence,
        "weekday": weekday,
        "send_hour": send_hour,
        "timezone": timezone,
        "form_token": hidden(page.text, "form_token"),
    }
    before = snapshot(web.runtime.engine)
    with deadline():
        response = web.client.post("/l/daily", data=form)
    assert response.status_code < 500, response.text[-500:]
    if response.status_code >= 400:
        assert snapshot(web.runtime.engine) == before


@IN_PROCESS
@given(
    cadence=HOSTILE,
    weekday=HOSTILE,
    send_hour=st.one_of(HOSTILE, INTEGERS),
    timezone=HOSTILE,
    topics=st.lists(HOSTILE, max_size=3),
)
def test_preferences_form(
    web: WebEnv, cadence: str, weekday: str, send_hour: str, timezone: str, topics: list[str]
) -> None:
    link = personal_links(
        base_url="", secret=SECRET, subscriber_id=1, list_id=1, mailto_domain="x.org"
    ).preferences_url
    page = web.client.get(link)
    form = {
        "cadence": cadence,
        "weekday": weekday,
        "send_hour": send_hour,
        "timezone": timezone,
        "topics": topics,
        "action": "save",
    }
    if 'name="form_token"' in page.text:
        form["form_token"] = hidden(page.text, "form_token")
    before = snapshot(web.runtime.engine)
    with deadline():
        response = web.client.post(link, data=form)
    assert response.status_code < 500, response.text[-500:]
    if response.status_code >= 400:
        assert snapshot(web.runtime.engine) == before


@IN_PROCESS
@given(
    path=st.sampled_from(
        [
            "/admin/runs/{}",
            "/admin/subscribers/edit?email={}",
            "/admin/subscribers/export?list=daily&status={}",
            "/admin/subscribers?list=daily&page={}",
            "/v/{}/abc",
            "/admin/articles?page={}",
            "/u/{}",
            "/p/{}",
            "/c/{}",
        ]
    ),
    value=st.one_of(INTEGERS, HOSTILE),
)
def test_console_and_public_urls(web: WebEnv, path: str, value: str) -> None:
    if not getattr(web, "signed_in", False):
        login(web.client, ADMIN)
        web.signed_in = True  # type: ignore[attr-defined]
    with deadline():
        response = web.client.get(path.format(quote(value, safe="")))
    assert response.status_code < 500, (path, value, response.text[-300:])
