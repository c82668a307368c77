"""Property tests for signed tokens: round trips, tampering, purpose, subscriber and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subscribers.errors import InvalidToken
from subscribers.tokens import Purpose, make_token, read_token

SECRET = b"token-test-secret-0123456789"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

ids = st.integers(min_value=1, max_value=2**40)
list_ids = st.one_of(st.none(), st.integers(min_value=1, max_value=2**31))
purposes = st.sampled_from(list(Purpose))
ttls = st.one_of(
    st.none(), st.integers(min_value=1, max_value=10**7).map(lambda s: timedelta(seconds=s))
)


@given(purpose=purposes, subscriber=ids, list_id=list_ids, ttl=ttls)
def test_round_trip(
    purpose: Purpose, subscriber: int, list_id: int | None, ttl: timedelta | None
) -> None:
    token = make_token(SECRET, purpose, subscriber, list_id, now=NOW, ttl=ttl)
    claims = read_token(SECRET, token, purpose, now=NOW)
    assert claims.purpose is purpose
    assert claims.subscriber_id == subscriber
    assert claims.list_id == list_id
    if ttl is not None:
        assert claims.expires_at is not None
        with pytest.raises(InvalidToken):
            read_token(SECRET, token, purpose, now=NOW + ttl + timedelta(seconds=1))


@given(purpose=purposes, other=purposes, subscriber=ids, list_id=list_ids)
def test_purpose_is_bound(
    purpose: Purpose, other: Purpose, subscriber: int, list_id: int | None
) -> None:
    token = make_token(SECRET, purpose, subscriber, list_id)
    if other is not purpose:
        with pytest.raises(InvalidToken):
            read_token(SECRET, token, other, now=NOW)


@given(subscriber=ids, list_id=list_ids, position=st.integers(min_value=0), data=st.data())
def test_any_tampering_is_refused(
    subscriber: int, list_id: int | None, position: int, data: st.DataObject
) -> None:
    token = make_token(SECRET, Purpose.UNSUBSCRIBE, subscriber, list_id)
    index = position % len(token)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != token[index]]))
    forged = token[:index] + replacement + token[index + 1 :]
    try:
        claims = read_token(SECRET, forged, Purpose.UNSUBSCRIBE, now=NOW)
    except InvalidToken:
        return
    # base64 padding bits can change without changing the decoded bytes: same claims only
    assert (claims.subscriber_id, claims.list_id) == (subscriber, list_id)


@given(subscriber=ids, other=ids)
def test_cannot_be_moved_to_another_subscriber(subscriber: int, other: int) -> None:
    token = make_token(SECRET, Purpose.CONFIRM, subscriber, 1)
    payload, signature = token.split(".")
    other_token = make_token(SECRET, Purpose.CONFIRM, other, 1)
    spliced = other_token.split(".")[0] + "." + signature
    if other != subscriber:
        with pytest.raises(InvalidToken):
            read_token(SECRET, spliced, Purpose.CONFIRM, now=NOW)


@given(subscriber=ids, secret=st.binary(min_size=16, max_size=64))
def test_other_secret_is_refused(subscriber: int, secret: bytes) -> None:
    token = make_token(SECRET, Purpose.PREFERENCES, subscriber, 3)
    if secret != SECRET:
        with pytest.raises(InvalidToken):
            read_token(secret, token, Purpose.PREFERENCES, now=NOW)


@given(garbage=st.text(max_size=80))
def test_garbage_is_refused_cleanly(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        read_token(SECRET, garbage, Purpose.CONFIRM, now=NOW)
