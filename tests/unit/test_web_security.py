"""Session cookies, CSRF and form tokens, and the rate limiter (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from newsletter.web.security import (
    RateLimiter,
    check_csrf,
    check_form_token,
    csrf_token,
    make_form_token,
    make_session_cookie,
    read_session_cookie,
)

SECRET = b"test-secret-key-0123456789"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_session_cookie_round_trip_expiry_and_tampering() -> None:
    cookie = make_session_cookie(SECRET, user_id=7, now=NOW)
    claims = read_session_cookie(SECRET, cookie, now=NOW + timedelta(hours=1))
    assert claims is not None and claims.user_id == 7
    assert read_session_cookie(SECRET, cookie, now=NOW + timedelta(hours=13)) is None
    assert read_session_cookie(SECRET, cookie, now=NOW - timedelta(minutes=5)) is None
    assert read_session_cookie(b"another-secret-000000", cookie, now=NOW) is None
    forged = "1" + cookie[1:] if not cookie.startswith("1") else "2" + cookie[1:]
    assert read_session_cookie(SECRET, forged, now=NOW) is None
    assert read_session_cookie(SECRET, "garbage", now=NOW) is None


@given(st.text(max_size=80))
def test_random_cookies_and_tokens_never_pass(value: str) -> None:
    assert read_session_cookie(SECRET, value, now=NOW) is None
    assert not check_form_token(SECRET, value, purpose="login", now=NOW)
    assert not check_csrf(SECRET, "nonce", value)


def test_csrf_token_is_bound_to_the_session() -> None:
    token = csrf_token(SECRET, "nonce-a")
    assert check_csrf(SECRET, "nonce-a", token)
    assert not check_csrf(SECRET, "nonce-b", token)
    assert not check_csrf(SECRET, "nonce-a", None)


def test_form_token_is_bound_to_its_purpose_and_expires() -> None:
    token = make_form_token(SECRET, purpose="signup:daily", now=NOW)
    assert check_form_token(SECRET, token, purpose="signup:daily", now=NOW + timedelta(hours=1))
    assert not check_form_token(SECRET, token, purpose="signup:weekly", now=NOW)
    assert not check_form_token(SECRET, token, purpose="signup:daily", now=NOW + timedelta(hours=5))


def test_rate_limiter_counts_every_key_within_its_window() -> None:
    moment = [0.0]
    limiter = RateLimiter(limit=2, window=60, clock=lambda: moment[0])
    assert limiter.hit("ip", "a") and limiter.hit("ip", "b")
    assert not limiter.hit("ip", "c")  # the IP is over its limit, whatever the address
    moment[0] = 61.0
    assert limiter.hit("ip", "a")
