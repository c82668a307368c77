"""Fuzzing the web forms: any value gives a page (never a 500); a refused form writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from newsletter.digest.links import personal_links
from newsletter.web.app import create_app
from newsletter.web.security import RateLimiter
from tests.conftest import make_runtime, make_settings
from tests.fuzzing import IN_PROCESS, deadline, snapshot
from tests.helpers import seed_list, subscribe
from tests.smtpserver import RecordingServer
from tests.webapp import ADMIN, WebEnv, add_users, hidden, login, wait_for

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
    app = create_app(runtime)
    # Sign-ups are limited per IP and per address (10 and 3 an hour): without lifting the limits
    # nearly every generated sign-up would stop at the limit before its values are read.
    app.state.web.signup_ip_limiter = RateLimiter(limit=10**9, window=3600)
    app.state.web.signup_address_limiter = RateLimiter(limit=10**9, window=3600)
    with TestClient(app) as client:
        yield WebEnv(runtime=runtime, client=client)
    runtime.dispose()


BAD_ZONES = st.sampled_from(
    [
        "Europe",
        "America",
        "Etc/../../etc/passwd",
        "../../../../etc/passwd",
        "Europe/" + "x" * 293,
        "x" * 300,
        "UTC\x00",
        "Europe/Paris\x00",
        "9" * 5000,
    ]
)
# A valid value for every field, so that a form with one or two hostile fields gets as far as
# reading them (a form where everything is wrong stops at its first field).
VALID = {
    "email": st.integers(0, 10**6).map(lambda n: f"new{n}@example.com")
    | st.just("alice@example.com"),
    "name": st.sampled_from(["", "Ann", "Zoë Ünal"]),
    "topics": st.just(["tech"]),
    "cadence": st.sampled_from(["daily", "weekly"]),
    "weekday": st.integers(0, 6).map(str),
    "send_hour": st.integers(0, 23).map(str),
    "timezone": st.sampled_from(["UTC", "Europe/Paris", "America/New_York"]),
}
HOSTILE_FOR = {
    "email": HOSTILE,
    "name": HOSTILE,
    "topics": st.lists(HOSTILE, max_size=3),
    "cadence": HOSTILE,
    "weekday": st.one_of(HOSTILE, INTEGERS),
    "send_hour": st.one_of(HOSTILE, INTEGERS),
    "timezone": st.one_of(HOSTILE, BAD_ZONES),
}


@st.composite
def forms(draw: st.DrawFn, fields: tuple[str, ...]) -> dict[str, object]:
    """Valid values, with one or two fields hostile."""
    hostile = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=2, unique=True))
    return {
        field: draw(HOSTILE_FOR[field] if field in hostile else VALID[field]) for field in fields
    }


SIGNUP_FIELDS = ("email", "name", "topics", "cadence", "weekday", "send_hour", "timezone")
PREFERENCE_FIELDS = ("topics", "cadence", "weekday", "send_hour", "timezone")


@IN_PROCESS
@given(values=forms(SIGNUP_FIELDS))
def test_signup_form(web: WebEnv, values: dict[str, object]) -> None:
    page = web.client.get("/l/daily")
    form = values | {"form_token": hidden(page.text, "form_token")}
    before = snapshot(web.runtime.engine)
    with deadline():
        response = web.client.post("/l/daily", data=form)
    # the confirmation email goes out in the background: let it finish before the next input
    wait_for(lambda: not web.client.app.state.web.tasks)  # type: ignore[attr-defined]
    assert response.status_code < 500, response.text[-500:]
    if response.status_code >= 400:
        assert snapshot(web.runtime.engine) == before


@IN_PROCESS
@given(values=forms(PREFERENCE_FIELDS))
def test_preferences_form(web: WebEnv, values: dict[str, object]) -> None:
    link = personal_links(
        base_url="", secret=SECRET, subscriber_id=1, list_id=1, mailto_domain="x.org"
    ).preferences_url
    page = web.client.get(link)
    form = values | {"action": "save"}
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
