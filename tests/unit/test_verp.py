"""Tests for per-delivery return paths."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.delivery.verp import make_return_path, parse_return_path

SECRET = b"s3cret-for-tests"
DOMAIN = "news.example.org"


def test_shape() -> None:
    address = make_return_path(42, secret=SECRET, domain=DOMAIN)
    assert re.fullmatch(r"bounces\+42-[a-z2-7]{10}@news\.example\.org", address)
    assert parse_return_path(address, secret=SECRET) == 42


def test_custom_local_part() -> None:
    address = make_return_path(7, secret=SECRET, local="return", domain=DOMAIN)
    assert address.startswith("return+7-")
    assert parse_return_path(address, secret=SECRET, local="return") == 7
    assert parse_return_path(address, secret=SECRET) is None  # other local part


@given(st.integers(0, 10**19 - 1), st.binary(min_size=1, max_size=64))
def test_round_trip(delivery_id: int, secret: bytes) -> None:
    address = make_return_path(delivery_id, secret=secret, domain=DOMAIN)
    assert len(address.partition("@")[0]) <= 64  # RFC 5321 local-part limit
    assert parse_return_path(address, secret=secret) == delivery_id


def test_tolerates_case_folding_and_angle_brackets() -> None:
    address = make_return_path(9, secret=SECRET, domain=DOMAIN)
    assert parse_return_path(f"<{address.upper()}>", secret=SECRET) == 9
    assert parse_return_path(f"  {address}\n", secret=SECRET) == 9


def test_forgeries_are_rejected() -> None:
    address = make_return_path(42, secret=SECRET, domain=DOMAIN)
    mac = address.split("-", 1)[1].split("@")[0]
    assert parse_return_path(address, secret=b"another secret") is None
    assert parse_return_path(address.replace("+42-", "+43-"), secret=SECRET) is None
    assert parse_return_path(address.replace("+42-", "+042-"), secret=SECRET) is None
    assert parse_return_path(f"bounces+42-{mac[:-1]}@{DOMAIN}", secret=SECRET) is None
    flipped = mac[:-1] + ("a" if mac[-1] != "a" else "b")
    assert parse_return_path(f"bounces+42-{flipped}@{DOMAIN}", secret=SECRET) is None


@pytest.mark.parametrize(
    "address",
    [
        "",
        "bounces@news.example.org",
        "bounces+42@news.example.org",
        "bounces+-abcdefghij@news.example.org",
        "bounces+42-abcdefghij",
        "bounces+99999999999999999999999-abcdefghij@x",
        "someone@example.com",
        "\x00@@@",
    ],
)
def test_unparseable_addresses(address: str) -> None:
    assert parse_return_path(address, secret=SECRET) is None


@given(st.text(max_size=120))
def test_parse_never_raises(address: str) -> None:
    assert parse_return_path(address, secret=SECRET) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delivery_id": -1},
        {"delivery_id": True},
        {"delivery_id": 10**19},
        {"secret": b""},
        {"local": "bad+local"},
        {"local": "a@b"},
        {"local": ""},
        {"domain": ""},
        {"domain": "a@b"},
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {"delivery_id": 1, "secret": SECRET, "domain": DOMAIN}
    arguments.update(kwargs)
    with pytest.raises(ValueError):
        make_return_path(**arguments)  # type: ignore[arg-type]
