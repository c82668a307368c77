"""SMTP URLs: schemes, ports and credentials parsed; other schemes refused."""

from __future__ import annotations

import pytest

from newsletter.config import parse_smtp_url


@pytest.mark.parametrize(
    ("url", "security", "port", "user"),
    [
        ("smtp://127.0.0.1:2525", "plain", 2525, None),
        ("smtp+starttls://me%40x.org:p%3Ass@mail.example.org", "starttls", 587, "me@x.org"),
        ("smtps://u:p@mail.example.org", "tls", 465, "u"),
    ],
)
def test_smtp_url_parsing(url: str, security: str, port: int, user: str | None) -> None:
    target = parse_smtp_url(url)
    assert (target.security, target.port, target.username) == (security, port, user)


def test_smtp_url_refuses_other_schemes() -> None:
    with pytest.raises(ValueError, match="scheme"):
        parse_smtp_url("http://x")
