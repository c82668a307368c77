"""Outgoing webhooks' pure rules: signatures over the exact body, hostile headers, back-off."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from newsletter.webhooks.signing import backoff, signature, verify


@given(st.binary(max_size=500), st.integers(min_value=0, max_value=2**40))
def test_signatures_verify_only_the_signed_body(body: bytes, stamp: int) -> None:
    header = signature("whsec_k", stamp, body)
    assert verify("whsec_k", header, body, now=stamp)
    assert not verify("whsec_k", header, body + b"x", now=stamp)
    assert not verify("whsec_k", header, body, now=stamp + 301)


@given(st.text(max_size=80))
def test_hostile_signature_headers_are_refused(header: str) -> None:
    assert not verify("whsec_k", header, b"{}", now=0)


def test_backoff_doubles_and_is_capped() -> None:
    waits = [backoff(n) for n in range(1, 20)]
    assert waits[0] == timedelta(seconds=30) and waits[1] == timedelta(seconds=60)
    assert waits == sorted(waits) and max(waits) == timedelta(hours=6)


@given(st.text(max_size=120))
def test_hostile_signature_values_are_refused(value: str) -> None:
    assert not verify("whsec_k", f"t=0,v1={value}", b"{}", now=0)
