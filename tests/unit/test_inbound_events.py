"""Hostile provider webhook payloads, reports and signatures never crash the parsers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from newsletter.inbound import parse, verify

MAILGUN_KEY = "key-mailgun-test-0123456789"


POSTMARK_SECRET = "postmark-hook-secret"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON)
def test_hostile_payloads_never_crash_the_parsers(payload: object) -> None:
    for parser in (parse.parse_postmark, parse.parse_ses):
        assert isinstance(parser(payload if isinstance(payload, dict) else {}), list)
    assert isinstance(parse.parse_sendgrid(payload if isinstance(payload, list) else []), list)
    try:
        assert isinstance(parse.parse_mailgun(payload if isinstance(payload, dict) else {}), list)
    except ValueError as exc:
        assert "\n" not in str(exc)


@given(st.binary(max_size=2000))
def test_hostile_reports_are_ignored(raw: bytes) -> None:
    found = parse.parse_arf(raw)
    assert found is None or found.kind is parse.EventKind.COMPLAINT


@given(st.text(max_size=200), st.text(max_size=40))
def test_hostile_signatures_are_refused(signature: str, stamp: str) -> None:
    assert not verify.check_mailgun(
        MAILGUN_KEY, {"timestamp": stamp, "token": "t", "signature": signature}, now=0
    )
    assert not verify.check_basic_auth(POSTMARK_SECRET, signature)
    assert not verify.check_sns(
        {"Type": "Notification", "Signature": signature, "SignatureVersion": "2"}, b""
    )
