"""Settings: environment, TOML file, one-line errors naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.errors import ConfigError


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NEWSLETTER_DATABASE_URL", "NEWSLETTER_SMTP_URL", "NEWSLETTER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///newsletter.db"
    smtp = settings.smtp.target
    assert smtp.host == "127.0.0.1" and smtp.port == 2525


def test_toml_file_and_environment_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "newsletter.toml"
    config.write_text('smtp_url = "smtps://u:p@mail.example.org"\nsmtp_pool_size = 8\n')
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(config))
    monkeypatch.setenv("NEWSLETTER_SMTP_POOL_SIZE", "2")
    settings = load_settings()
    smtp = settings.smtp.target
    assert smtp.security == "tls" and smtp.username == "u"
    assert settings.smtp.pool_size == 2


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("NEWSLETTER_SMTP_URL", "ftp://x", "NEWSLETTER_SMTP_URL: scheme"),
        ("NEWSLETTER_DATABASE_URL", "mysql://x", "NEWSLETTER_DATABASE_URL"),
        ("NEWSLETTER_SMTP_POOL_SIZE", "0", "NEWSLETTER_SMTP_POOL_SIZE"),
        ("NEWSLETTER_BASE_URL", "not a url", "NEWSLETTER_BASE_URL"),
        ("NEWSLETTER_SECRET_KEY", "short", "NEWSLETTER_SECRET_KEY"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert needle in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("base", ["https://news.example.org", "http://news.example.org"])
def test_a_public_base_url_needs_a_real_secret(monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY", raising=False)
    monkeypatch.setenv("NEWSLETTER_BASE_URL", base)
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET_KEY"):
        load_settings()


def test_the_development_secret_is_fine_on_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY", raising=False)
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "http://localhost:8000")
    assert load_settings().links.base_url == "http://localhost:8000"


def test_missing_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(tmp_path / "nope.toml"))
    monkeypatch.setenv("NEWSLETTER_SMTP_POOL_SIZE", "2")
    with pytest.raises(ConfigError, match="NEWSLETTER_CONFIG: no such file"):
        load_settings()


def test_malformed_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("smtp_url = \n")
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(config))
    with pytest.raises(ConfigError, match="NEWSLETTER_CONFIG"):
        load_settings()


def test_unknown_key_in_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text('smtp_ulr = "smtp://x:25"\n')
    monkeypatch.setenv("NEWSLETTER_CONFIG", str(config))
    with pytest.raises(ConfigError, match="SMTP_ULR"):
        load_settings()
