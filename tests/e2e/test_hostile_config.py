"""The published development secret is refused off this machine; the base URL is parsed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.config import DEV_SECRET, is_loopback, load_settings, parse_base_url
from newsletter.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NEWSLETTER_SECRET_KEY", "NEWSLETTER_BASE_URL", "NEWSLETTER_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "base",
    [
        "https://news.example.org\\@127.0.0.1",  # issue 11 item 3: browsers go to news.example.org
        "https://news.example.org@127.0.0.1",
        "https://127.0.0.1.news.example.org",
        "http://localhost.example.org",
        "http://0.0.0.0:8000",
        "http://[::]:8000",
        "http://10.0.0.5",
    ],
)
def test_the_development_secret_is_refused_for_any_public_base_url(
    monkeypatch: pytest.MonkeyPatch, base: str
) -> None:
    monkeypatch.setenv("NEWSLETTER_BASE_URL", base)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(("NEWSLETTER_SECRET_KEY", "NEWSLETTER_BASE_URL"))
    assert "\n" not in message


@pytest.mark.parametrize(
    "base",
    [
        "https://news.example.org\\@127.0.0.1",
        "https://user:pass@news.example.org",
        "https://news.example.org/?next=/x",
        "https://news.example.org/#top",
        "https://news example.org",
        "https://news.example.org:99999",
        "https://-bad-.example.org",
        "https://nëws.example.org",
        "javascript://news.example.org",
        "https:///path-only",
    ],
)
def test_hostile_base_urls_are_refused_even_with_a_real_secret(
    monkeypatch: pytest.MonkeyPatch, base: str
) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "a-real-secret-0123456789")
    monkeypatch.setenv("NEWSLETTER_BASE_URL", base)
    with pytest.raises(ConfigError, match="^NEWSLETTER_BASE_URL: "):
        load_settings()


@pytest.mark.parametrize(
    "base",
    ["http://127.0.0.1:8000", "http://127.1.2.3", "http://localhost:8000", "http://[::1]:80"],
)
def test_the_development_secret_works_on_loopback(
    monkeypatch: pytest.MonkeyPatch, base: str
) -> None:
    monkeypatch.setenv("NEWSLETTER_BASE_URL", base)
    assert load_settings().links.uses_development_secret


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.10", "example.org"])
def test_listening_off_loopback_needs_a_real_secret(host: str) -> None:
    with pytest.raises(ConfigError, match="^NEWSLETTER_SECRET_KEY: "):
        load_settings().check_listen_address(host)
    real = load_settings(secret_key="a-real-secret-0123456789")
    real.check_listen_address(host)  # no error


def test_newsletter_web_refuses_to_listen_publicly_with_the_development_key(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env["NEWSLETTER_DATABASE_URL"] = sqlite_url
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "web", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode != 0
    assert "NEWSLETTER_SECRET_KEY" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert DEV_SECRET not in result.stderr


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_base_url_is_accepted_only_if_its_host_is_what_browsers_see(value: str) -> None:
    try:
        base = parse_base_url(value)
    except ValueError:
        return
    from urllib.parse import urlsplit

    parsed = base.url
    host = urlsplit(parsed).hostname or ""
    assert base.host == host
    # What a WHATWG parser treats as the host ends at the first "/", "\\", "?" or "#".
    authority = parsed.split("://", 1)[1].split("/", 1)[0]
    assert "@" not in authority and "\\" not in parsed
    assert host and (is_loopback(host) == is_loopback(authority.rsplit(":", 1)[0]) or "[" in host)
