"""The console's limit on failed sign-ins (issue 11 item 8): one count per address whatever its
spelling, and only failures count.

Through real HTTP requests to the app; each client has its own peer address, so the per-address
count is seen apart from the per-IP one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from newsletter.operations.accounts import login_key
from newsletter.web.app import create_app
from newsletter.web.security import RateLimiter
from subscribers.addresses import normalise_email
from subscribers.errors import InvalidAddress
from tests.conftest import make_runtime, make_settings
from tests.fuzzing import IN_PROCESS
from tests.webapp import ADMIN, EDITOR, add_users, hidden

WRONG = "not-the-password-0"
# Five spellings of ADMIN's address: full-width letters, case, full-width domain, spaces.
VARIANTS = [
    "ａｄｍｉｎ@example.org",
    "Admin@EXAMPLE.org",
    "admin@ｅｘａｍｐｌｅ.org",
    "\u3000ＡＤＭＩＮ＠example.ORG ",
    "admin@example.org",
]


@pytest.fixture
def app(sqlite_url: str) -> Iterator[FastAPI]:
    runtime = make_runtime(make_settings(sqlite_url, base_url="http://testserver"))
    add_users(runtime)
    application = create_app(runtime)
    with TestClient(application):  # runs the app's start-up once
        yield application
    runtime.dispose()


def _from(app: FastAPI, ip: str) -> TestClient:
    """A client whose requests come from ``ip``."""
    return TestClient(app, client=(ip, 40000))


def _sign_in(client: TestClient, email: str, password: str) -> int:
    token = hidden(client.get("/admin/login").text, "form_token")
    response = client.post(
        "/admin/login",
        data={"email": email, "password": password, "form_token": token},
        follow_redirects=False,
    )
    return response.status_code


def test_spellings_of_one_address_share_one_limit(app: FastAPI) -> None:
    # Five failures, each with another spelling from another IP: the address is at its limit,
    # so no spelling gets a sixth try (none bypasses the limit) ...
    for number, spelling in enumerate(VARIANTS):
        assert _sign_in(_from(app, f"192.0.2.{number + 1}"), spelling, WRONG) == 401
    for number, spelling in enumerate(VARIANTS):
        assert _sign_in(_from(app, f"198.51.100.{number + 1}"), spelling, ADMIN[1]) == 429
    # ... and the other account, counted under its own address, is not locked out.
    assert _sign_in(_from(app, "203.0.113.1"), EDITOR[0], EDITOR[1]) == 303


def test_a_variant_that_cannot_sign_in_does_not_lock_out_another_key(app: FastAPI) -> None:
    # A spelling that is not an address at all (a zero-width space) has its own count: its
    # failures leave the real address free.
    for number in range(6):
        _sign_in(_from(app, f"192.0.2.{number + 1}"), "admin\u200b@example.org", WRONG)
    assert _sign_in(_from(app, "203.0.113.9"), ADMIN[0], ADMIN[1]) == 303


def test_successful_sign_ins_do_not_count(app: FastAPI) -> None:
    office = _from(app, "192.0.2.10")
    # many people (or one, many times) signing in from one office address
    assert [_sign_in(office, ADMIN[0], ADMIN[1]) for _ in range(8)] == [303] * 8
    assert [_sign_in(office, EDITOR[0], EDITOR[1]) for _ in range(4)] == [303] * 4


def test_a_success_clears_the_address_failures(app: FastAPI) -> None:
    first, second = _from(app, "192.0.2.20"), _from(app, "192.0.2.21")
    assert [_sign_in(first, ADMIN[0], WRONG) for _ in range(4)] == [401] * 4
    assert _sign_in(first, ADMIN[0], ADMIN[1]) == 303
    # had the four failures stayed, the address would reach its limit of five here
    assert [_sign_in(second, ADMIN[0], WRONG) for _ in range(4)] == [401] * 4
    assert _sign_in(second, ADMIN[0], ADMIN[1]) == 303


def test_failures_still_lock_an_ip_and_an_address(app: FastAPI) -> None:
    attacker = _from(app, "192.0.2.30")
    codes = [_sign_in(attacker, f"user{n}@example.org", WRONG) for n in range(6)]
    assert codes == [401] * 5 + [429]  # per IP, whatever the addresses
    assert _sign_in(attacker, ADMIN[0], ADMIN[1]) == 429  # refused before the password is checked


_LOCAL = st.text("abcdefghijklmnopqrstuvwxyz0123456789._-+", min_size=1, max_size=20).filter(
    lambda local: not local.startswith(".") and not local.endswith(".") and ".." not in local
)
_DOMAIN = st.sampled_from(["example.org", "mail.example.com", "bücher.example", "x.io"])


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, str]:
    """An address and another spelling of it: full-width characters, case, spaces."""
    address = f"{draw(_LOCAL)}@{draw(_DOMAIN)}"
    chars = []
    for ch in address:
        style = draw(st.sampled_from(["same", "upper", "wide", "wide-upper"]))
        if style in ("upper", "wide-upper"):
            ch = ch.upper()
        if style in ("wide", "wide-upper"):
            ch = _full_width(ch)
        chars.append(ch)
    pad = draw(st.sampled_from(["", " ", "\u3000", "\t"]))
    return address, pad + "".join(chars) + pad


@IN_PROCESS
@given(pair=spellings())
def test_every_spelling_counts_under_the_address(pair: tuple[str, str]) -> None:
    address, spelling = pair
    try:
        expected = normalise_email(address)
    except InvalidAddress:
        return  # not an address (the generator can make a few): nothing to compare with
    assert login_key(spelling) == login_key(address) == expected


@IN_PROCESS
@given(text=st.text(max_size=40))
def test_anything_that_can_sign_in_counts_under_its_account(text: str) -> None:
    # the account authenticate() looks up is the key, so no spelling that signs in escapes it
    try:
        account = normalise_email(text)
    except InvalidAddress:
        assert isinstance(login_key(text), str)  # still a key (the folded text), no exception
        return
    assert login_key(text) == account


def test_take_counts_before_the_outcome_and_gives_back_a_success() -> None:
    moment = [0.0]
    limiter = RateLimiter(limit=2, window=60, clock=lambda: moment[0])
    first = limiter.take("ip:a", "email:x")
    assert first is not None
    limiter.give_back(first, "ip:a")  # a success: the IP's count goes back, the address's stays
    assert limiter.take("ip:a", "email:x") is not None
    assert limiter.take("ip:b", "email:x") is None  # the address is at its limit of two
    assert limiter.take("ip:a", "email:y") is not None  # the refusal above counted nothing
    assert limiter.take("ip:a", "email:z") is None  # ip:a has two now
    limiter.clear("email:x")
    assert limiter.take("ip:c", "email:x") is not None
    moment[0] = 61.0  # the window has passed
    assert limiter.take("ip:a", "email:x") is not None
