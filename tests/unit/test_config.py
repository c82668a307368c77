"""Settings: environment, TOML file, one-line errors naming the setting."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from newsletter.config import DkimSettings, Settings, SettingsInput, load_settings, parse_smtp_url
from newsletter.delivery.target import SmtpSecurity, SmtpTarget
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
        ("NEWSLETTER_DKIM_KEY_FILE", "dkim.pem", "NEWSLETTER_DKIM_KEY_FILE: NEWSLETTER_DKIM_KEY"),
    ],
)
def test_bad_values_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(needle) and "\n" not in str(caught.value)


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


def _flat_values(tmp_path: Path) -> dict[str, object]:
    """A value unlike the default for every setting, in the operators' flat names."""
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("not read here\n")
    return {
        "database_url": "postgresql://app@127.0.0.1/news",
        "base_url": "https://news.example.org:8443/letters/",
        "secret_key": "a-real-secret-0123456789",
        "smtp_url": "smtp+starttls://u:p@relay.example.org",
        "smtp_pool_size": 7,
        "smtp_timeout": 12.5,
        "smtp_messages_per_connection": 99,
        "smtp_ca_file": ca_file,
        "smtp_pipelining": "off",
        "smtp_rate_per_second": 3.0,
        "smtp_rate_per_hour": 9000.0,
        "smtp_servers": [],
        "smtp_failure_threshold": 9,
        "smtp_cooldown_seconds": 31.0,
        "smtp_rate_limit_pause_seconds": 61.0,
        "smtp_max_wait_seconds": 5.0,
        "send_batch_size": 77,
        "send_lease_seconds": 45.0,
        "pause_after_failures": 11,
        "pause_after_policy_failures": 4,
        "soft_bounce_limit": 6,
        "bounce_domain": "bounces.example.org",
        "bounce_local_part": "returns",
        "max_articles_per_topic": 2,
        "max_articles_total": 8,
        "first_digest_lookback_days": 3,
        "max_article_age_days": 9,
        "confirmation_ttl_hours": 24.0,
        "retry_base_seconds": 120.0,
        "retry_max_age_hours": 12.0,
        "dkim_key_file": tmp_path / "dkim.pem",
        "dkim_selector": "news",
        "dkim_domain": "example.org",
        "dkim_ed25519_key_file": tmp_path / "dkim-ed.pem",
        "dkim_ed25519_selector": "news-ed",
        "fetch_interval_minutes": 5.0,
        "dispatch_interval_seconds": 20.0,
        "max_lateness_hours": 2.0,
        "shutdown_grace_seconds": 7.0,
        "fake_now": datetime(2026, 3, 29, 0, 59, tzinfo=UTC),
        "clock_speed": 60.0,
        "feed_timeout": 4.0,
        "category_map": {"tech": "technology"},
        "classifier_threshold": 0.8,
        "topic_model_path": tmp_path / "topics.model",
        "mailgun_signing_key": "key-mailgun",
        "sendgrid_public_key": "MFkw",
        "postmark_webhook_secret": "postmark-password",
        "ses_topic_arns": ["arn:aws:sns:eu-west-1:1:bounces"],
        "bounce_maildir": tmp_path / "bounces",
        "unsubscribe_maildir": tmp_path / "unsubscribe",
        "complaint_maildir": tmp_path / "complaints",
        "log_format": "json",
        "metrics_host": "127.0.0.2",
        "metrics_port": 9464,
    }


# Where each flat setting lives in the groups (those not listed here are checked by hand below).
HOMES = {
    "database_url": "database_url",
    "secret_key": "links.secret_key",
    "confirmation_ttl_hours": "links.confirmation_ttl_hours",
    "smtp_pool_size": "smtp.pool_size",
    "smtp_timeout": "smtp.timeout",
    "smtp_messages_per_connection": "smtp.messages_per_connection",
    "smtp_ca_file": "smtp.ca_file",
    "smtp_pipelining": "smtp.pipelining",
    "smtp_failure_threshold": "smtp.failure_threshold",
    "smtp_cooldown_seconds": "smtp.cooldown_seconds",
    "smtp_rate_limit_pause_seconds": "smtp.rate_limit_pause_seconds",
    "smtp_max_wait_seconds": "smtp.max_wait_seconds",
    "send_batch_size": "sending.batch_size",
    "send_lease_seconds": "sending.lease_seconds",
    "retry_base_seconds": "retry.base_seconds",
    "retry_max_age_hours": "retry.max_age_hours",
    "pause_after_failures": "retry.pause_after_failures",
    "pause_after_policy_failures": "retry.pause_after_policy_failures",
    "max_articles_per_topic": "digest.max_articles_per_topic",
    "max_articles_total": "digest.max_articles_total",
    "first_digest_lookback_days": "digest.first_lookback_days",
    "max_article_age_days": "digest.max_article_age_days",
    "dkim_key_file": "dkim.key_file",
    "dkim_selector": "dkim.selector",
    "dkim_domain": "dkim.domain",
    "dkim_ed25519_key_file": "dkim.ed25519_key_file",
    "dkim_ed25519_selector": "dkim.ed25519_selector",
    "fetch_interval_minutes": "scheduler.fetch_interval_minutes",
    "dispatch_interval_seconds": "scheduler.dispatch_interval_seconds",
    "max_lateness_hours": "scheduler.max_lateness_hours",
    "shutdown_grace_seconds": "scheduler.shutdown_grace_seconds",
    "fake_now": "scheduler.fake_now",
    "clock_speed": "scheduler.clock_speed",
    "feed_timeout": "content.feed_timeout",
    "category_map": "content.category_map",
    "classifier_threshold": "content.classifier_threshold",
    "topic_model_path": "content.topic_model_file",
    "bounce_domain": "inbound.bounce_domain",
    "bounce_local_part": "inbound.bounce_local_part",
    "soft_bounce_limit": "inbound.soft_bounce_limit",
    "bounce_maildir": "inbound.bounce_maildir",
    "unsubscribe_maildir": "inbound.unsubscribe_maildir",
    "complaint_maildir": "inbound.complaint_maildir",
    "mailgun_signing_key": "inbound.mailgun_signing_key",
    "sendgrid_public_key": "inbound.sendgrid_public_key",
    "postmark_webhook_secret": "inbound.postmark_webhook_secret",
    "ses_topic_arns": "inbound.ses_topic_arns",
    "log_format": "observability.log_format",
    "metrics_host": "observability.metrics_host",
    "metrics_port": "observability.metrics_port",
}


def _at(settings: object, path: str) -> object:
    for part in path.split("."):
        settings = getattr(settings, part)
    return settings


def test_every_flat_setting_arrives_in_its_group(tmp_path: Path) -> None:
    values = _flat_values(tmp_path)
    assert set(values) == set(SettingsInput.model_fields)
    settings = Settings.build(values)
    defaults = Settings.build({})
    for name, path in HOMES.items():
        expected = values[name]
        if isinstance(_at(settings, path), SecretStr):
            expected = SecretStr(str(expected))
        assert _at(settings, path) == expected, name
        if not path.startswith("dkim."):  # no DKIM group by default
            assert _at(defaults, path) != expected, name  # a default would prove nothing
    # the URLs, parsed once into typed values
    assert settings.links.base_url == "https://news.example.org:8443/letters"
    assert settings.links.origin == "https://news.example.org:8443"
    assert settings.smtp.target == SmtpTarget(
        "relay.example.org", 587, SmtpSecurity.STARTTLS, username="u", password="p"
    )
    (server,) = settings.smtp.servers
    assert (server.name, server.target, server.pool_size) == (
        "relay.example.org:587",
        settings.smtp.target,
        7,
    )
    assert (server.per_second, server.per_hour) == (3.0, 9000.0)
    assert settings.smtp.total_rate_per_second == 3.0 and settings.smtp.connections == 7
    assert set(HOMES) | {
        "base_url",
        "smtp_url",
        "smtp_servers",
        "smtp_rate_per_second",
        "smtp_rate_per_hour",
    } == set(SettingsInput.model_fields)


def test_several_servers_are_parsed_once_each_with_its_name_and_pool() -> None:
    settings = Settings.build(
        {
            "smtp_pool_size": 3,
            "smtp_servers": [
                {"url": "smtps://a:b@one.example.org", "name": "first", "per_second": 2.0},
                {"url": "smtp://127.0.0.1:2526", "pool_size": 5, "weight": 0.5, "per_second": 4},
            ],
        }
    )
    first, second = settings.smtp.servers
    assert (first.name, first.target.security, first.target.port, first.pool_size) == (
        "first",
        SmtpSecurity.TLS,
        465,
        3,
    )
    assert (second.name, second.pool_size, second.weight) == ("127.0.0.1:2526", 5, 0.5)
    assert settings.smtp.connections == 8 and settings.smtp.total_rate_per_second == 6.0
    # NEWSLETTER_SMTP_URL is still parsed (and checked), but not sent through
    assert settings.smtp.target.port == 2525
    assert "password" not in repr(first.target) and "b@" not in repr(first.target)


def test_a_bad_server_url_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SMTP_SERVERS", '[{"url": "smtp://ok:25"}, {"url": "ftp://x"}]')
    with pytest.raises(ConfigError, match=r"^NEWSLETTER_SMTP_SERVERS\.1\.URL: scheme"):
        load_settings()


@pytest.mark.parametrize(
    ("base", "origin"),
    [
        ("http://localhost:8000/", "http://localhost:8000"),
        ("http://[::1]:8080/news", "http://[::1]:8080"),
        ("https://127.0.0.1:443", "https://127.0.0.1"),
        ("http://127.0.0.1:80/a/b/", "http://127.0.0.1"),
    ],
)
def test_the_base_url_is_parsed_once_with_its_origin(base: str, origin: str) -> None:
    links = Settings.build({"base_url": base}).links
    assert links.origin == origin and links.base_url == base.rstrip("/")


def test_dkim_is_one_group_or_none(tmp_path: Path) -> None:
    assert Settings.build({}).dkim is None
    dkim = {"dkim_key_file": tmp_path / "k.pem", "dkim_selector": "s", "dkim_domain": "d.org"}
    assert Settings.build(dkim).dkim == DkimSettings(tmp_path / "k.pem", "s", "d.org")
    second = {"dkim_ed25519_key_file": tmp_path / "ed.pem", "dkim_ed25519_selector": "ed"}
    both = Settings.build({**dkim, **second}).dkim
    assert both is not None and (both.ed25519_key_file, both.ed25519_selector) == (
        tmp_path / "ed.pem",
        "ed",
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"NEWSLETTER_DKIM_ED25519_KEY_FILE": "ed.pem"}, "set together"),
        (
            {
                "NEWSLETTER_DKIM_ED25519_KEY_FILE": "ed.pem",
                "NEWSLETTER_DKIM_ED25519_SELECTOR": "ed",
            },
            "beside the RSA",
        ),
    ],
)
def test_an_ed25519_signature_never_comes_alone(
    monkeypatch: pytest.MonkeyPatch, given: dict[str, str], message: str
) -> None:
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings()
    assert str(caught.value).startswith("NEWSLETTER_DKIM_ED25519_KEY_FILE: ")
    assert "\n" not in str(caught.value)


def test_updated_keeps_the_rest_and_checks_again() -> None:
    settings = Settings.build({"smtp_pool_size": 2})
    moved = settings.updated(base_url="http://127.0.0.1:9000")
    assert moved.smtp.pool_size == 2 and moved.links.origin == "http://127.0.0.1:9000"
    assert settings.links.base_url == "http://127.0.0.1:8000"
    with pytest.raises(ConfigError, match="NEWSLETTER_SECRET_KEY"):
        settings.updated(base_url="https://news.example.org")  # the public development key


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=60), st.from_regex(r"smtps?(\+starttls)?://[^\s]{0,40}")))
def test_any_smtp_url_is_one_typed_target_or_one_line_naming_the_setting(value: str) -> None:
    try:
        target = Settings.build({"smtp_url": value}).smtp.target
    except ConfigError as exc:
        assert str(exc).startswith("NEWSLETTER_SMTP_URL: ") and "\n" not in str(exc)
        return
    assert target.host and 0 < target.port < 65536 and target.security in SmtpSecurity
    assert target == parse_smtp_url(value)
    user = f"{target.username}@" if target.username else ""
    assert repr(target) == f"SmtpTarget({target.security}://{user}{target.host}:{target.port})"
