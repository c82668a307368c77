"""Property tests for address normalisation: the fast path agrees with email-validator."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from subscribers.addresses import address_hash, normalise_email, normalise_email_slow
from subscribers.errors import InvalidAddress

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-"
local_parts = st.text(alphabet=ATEXT + '."@ é', min_size=0, max_size=70)
labels = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-éß",
    min_size=0,
    max_size=20,
)
domains = st.lists(labels, min_size=1, max_size=4).map(".".join)
addresses = st.builds(
    lambda local, d, s: f"{s}{local}@{d}{s}", local_parts, domains, st.sampled_from(["", " ", "\t"])
)


def _outcome(function: object, address: str) -> str:
    try:
        return function(address)  # type: ignore[operator,no-any-return]
    except InvalidAddress:
        return "invalid"


@settings(max_examples=400, deadline=None)
@given(address=st.one_of(addresses, st.text(max_size=40)))
@example("Alice@Example.COM")
@example("a..b@example.com")
@example("a@straße.de")
@example("a@localhost")
@example("a@example.test")
@example("x" * 65 + "@example.com")
@example("a@" + "b" * 64 + ".com")
def test_fast_path_agrees_with_email_validator(address: str) -> None:
    assert _outcome(normalise_email, address) == _outcome(normalise_email_slow, address)


@given(address=addresses)
def test_normalising_is_idempotent(address: str) -> None:
    try:
        once = normalise_email(address)
    except InvalidAddress:
        return
    assert normalise_email(once) == once
    assert once == once.strip().lower()
    assert once.isascii()


@given(
    local=st.text(alphabet="abcdefghij", min_size=1, max_size=10),
    pad=st.sampled_from(["", " ", "  "]),
)
def test_case_and_spaces_do_not_matter(local: str, pad: str) -> None:
    assert normalise_email(f"{pad}{local.upper()}@EXAMPLE.org{pad}") == f"{local}@example.org"


def test_idna_domain_uses_idna2008() -> None:
    # the stdlib codec would map straße to strasse, another domain
    assert normalise_email("Erin@Straße.de") == "erin@xn--strae-oqa.de"


@pytest.mark.parametrize(
    "bad", ["", "  ", "no-at-sign", "a@b@c.com", "jörg@example.com", "a\n@example.com", "a@-x.com"]
)
def test_invalid_addresses_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        normalise_email(bad)
    assert caught.value.reason


def test_address_hash_is_salted_and_stable() -> None:
    first = address_hash(b"secret-one-0123456", "a@example.com")
    assert first == address_hash(b"secret-one-0123456", "a@example.com")
    assert first != address_hash(b"secret-two-0123456", "a@example.com")
    assert "example" not in first
