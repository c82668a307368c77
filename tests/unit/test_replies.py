"""Tests for SMTP reply classification and the retry policy."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.delivery.replies import (
    ReplyKind,
    classify_reply,
    classify_status,
    enhanced_status,
    is_rate_limited,
    retry_delay,
    should_give_up,
)

GMAIL_NO_SUCH_USER = (
    "5.1.1 The email account that you tried to reach does not exist. Please try\n"
    "5.1.1 double-checking the recipient's email address for typos or\n"
    "5.1.1 https://support.google.com/mail/?p=NoSuchUser a1si123 - gsmtp"
)
GMAIL_RATE = (
    "4.7.28 [203.0.113.5] Our system has detected an unusual rate of\n"
    "4.7.28 unsolicited mail originating from your IP address. - gsmtp"
)
GMAIL_DMARC = (
    "5.7.26 Unauthenticated email from example.org is not accepted due to domain's\n"
    "5.7.26 DMARC policy. - gsmtp"
)


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ("5.1.1 <a@example.com>: Recipient address rejected", "5.1.1"),
        ("550 5.1.1 user unknown", "5.1.1"),
        ("550-5.7.1 blocked", "5.7.1"),
        (GMAIL_NO_SUCH_USER, "5.1.1"),
        ("#5.1.1 qmail style", "5.1.1"),
        ("4.7.650 The mail server has been temporarily rate limited", "4.7.650"),
        ("Requested action not taken: mailbox unavailable (5.1.1)", "5.1.1"),
        ("Mailbox full", None),
        ("blocked, see https://example.net/5.1.1.1", None),  # part of an address, not a code
        ("connection from 192.5.1.1 refused", None),
        ("Exim 4.94.2 says no", None),  # a version string, not a status
        ("", None),
    ],
)
def test_enhanced_status(message: str, status: str | None) -> None:
    assert enhanced_status(message) == status


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (250, "2.0.0 OK queued as 1234", ReplyKind.SENT),
        (None, "connection lost", ReplyKind.TEMPORARY),
        (421, "4.7.0 Try again later, closing connection.", ReplyKind.TEMPORARY),
        (451, "4.3.0 Temporary system failure", ReplyKind.TEMPORARY),
        (452, "4.2.2 Mailbox full", ReplyKind.TEMPORARY),
        (450, "4.1.1 user unknown (for now)", ReplyKind.TEMPORARY),
        (354, "Start mail input", ReplyKind.TEMPORARY),  # not a final reply: retry
        (550, GMAIL_NO_SUCH_USER, ReplyKind.BAD_MAILBOX),
        (550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", ReplyKind.BAD_MAILBOX),
        (553, "5.1.3 Bad recipient address syntax", ReplyKind.BAD_MAILBOX),
        (550, "5.1.2 Host unknown", ReplyKind.BAD_MAILBOX),
        (553, "5.1.8 Sender address rejected: Domain not found", ReplyKind.POLICY),
        (550, "User unknown", ReplyKind.BAD_MAILBOX),
        (550, "Recipient address rejected: User unknown in local recipient table", "bad_mailbox"),
        (551, "User not local; no such user here", ReplyKind.BAD_MAILBOX),
        (553, "sorry, no mailbox here by that name. mailbox does not exist", "bad_mailbox"),
        (554, "no such user", ReplyKind.PERMANENT),  # only 550/551/553 without a status
        (550, GMAIL_DMARC, ReplyKind.POLICY),
        (554, "5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org", "policy"),
        (550, "Message rejected as spam", ReplyKind.POLICY),
        (550, "5.2.2 Mailbox full", ReplyKind.PERMANENT),
        (552, "5.3.4 Message size exceeds fixed limit", ReplyKind.PERMANENT),
        (554, "Transaction failed", ReplyKind.PERMANENT),
        (550, "4.1.1 odd server", ReplyKind.PERMANENT),  # the basic code wins over the status
    ],
)
def test_classify_reply(code: int | None, message: str, kind: ReplyKind) -> None:
    assert classify_reply(code, message) == kind


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("2.0.0", ReplyKind.SENT),
        ("4.2.2", ReplyKind.TEMPORARY),
        ("5.1.1", ReplyKind.BAD_MAILBOX),
        ("5.1.7", ReplyKind.POLICY),
        ("5.7.1", ReplyKind.POLICY),
        ("5.4.4", ReplyKind.PERMANENT),
    ],
)
def test_classify_status(status: str, kind: ReplyKind) -> None:
    assert classify_status(status) == kind


@given(st.one_of(st.none(), st.integers(-1000, 1000)), st.text())
def test_classify_never_raises_and_sends_only_on_2xx(code: int | None, message: str) -> None:
    kind = classify_reply(code, message)
    assert (kind is ReplyKind.SENT) == (code is not None and 200 <= code < 300)
    if kind is ReplyKind.TEMPORARY:
        assert code is None or not 500 <= code < 600


@pytest.mark.parametrize(
    ("code", "message", "limited"),
    [
        (421, GMAIL_RATE, True),
        (450, GMAIL_RATE, True),
        (421, "4.7.0 Try again later, closing connection. - gsmtp", True),
        (421, "4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred", True),
        (451, "4.7.650 The mail server has been temporarily rate limited", True),
        (421, "Too many concurrent SMTP connections from this IP", True),
        (450, "Rate limit exceeded, slow down", True),
        (451, "4.7.1 Greylisted, please try again in 300 seconds", False),
        (450, "4.2.1 The user you are trying to contact is receiving mail at a rate", False),
        (452, "4.5.3 Too many recipients", False),
        (451, "4.3.0 Temporary local problem", False),
        (550, "5.7.1 rate limited", False),  # permanent: never a pause-and-retry
        (None, "timeout", False),
    ],
)
def test_is_rate_limited(code: int | None, message: str, limited: bool) -> None:
    assert is_rate_limited(code, message) is limited


def test_retry_delay_grows_then_caps() -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    ceilings = [retry_delay(n, base=60, cap=3600, rng=Top()) for n in range(1, 10)]
    assert ceilings == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert retry_delay(10**6, base=60, cap=3600, rng=Top()) == 3600


@given(st.integers(1, 10_000), st.integers(0, 2**32))
def test_retry_delay_is_jittered_within_bounds(attempt: int, seed: int) -> None:
    delay = retry_delay(attempt, base=30.0, cap=7200.0, rng=random.Random(seed))
    ceiling = min(7200.0, 30.0 * 2 ** min(attempt - 1, 60))
    assert ceiling / 2 <= delay <= ceiling


def test_retry_delay_is_reproducible_with_a_seeded_rng() -> None:
    a = [retry_delay(3, base=1, cap=100, rng=random.Random(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2]


@pytest.mark.parametrize(
    ("attempt", "base", "cap"), [(0, 1.0, 10.0), (1, 0.0, 10.0), (1, 10.0, 5.0)]
)
def test_retry_delay_refuses_nonsense(attempt: int, base: float, cap: float) -> None:
    with pytest.raises(ValueError):
        retry_delay(attempt, base=base, cap=cap, rng=random.Random(0))


def test_should_give_up() -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    max_age = timedelta(days=4)
    assert not should_give_up(first, first + timedelta(days=3, hours=23), max_age)
    assert should_give_up(first, first + max_age, max_age)
    assert should_give_up(first, first + timedelta(days=5), max_age)


def test_should_give_up_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        should_give_up(datetime(2026, 1, 1), datetime.now(UTC), timedelta(days=1))
