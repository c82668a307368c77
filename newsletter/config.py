"""Settings from NEWSLETTER_* environment variables and an optional TOML file."""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from newsletter.errors import ConfigError

DEV_SECRET = "insecure-development-secret-change-me"
_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
MODEL_FILE_NAME = "newsletter-topics.model"
SMTP_SCHEMES = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}


class SmtpTarget:
    """Where and how to reach one SMTP server, parsed from an ``smtp://`` style URL."""

    __slots__ = ("host", "port", "security", "username", "password")

    def __init__(
        self, host: str, port: int, security: str, username: str | None, password: str | None
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password

    def __repr__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"SmtpTarget({self.security}://{user}{self.host}:{self.port})"


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse ``smtp://``, ``smtp+starttls://`` or ``smtps://`` URLs, with optional user:pass."""
    parts = urlsplit(url)
    if parts.scheme not in SMTP_SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SMTP_SCHEMES)}, not {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("no host")
    default_port = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise ValueError(f"bad port: {exc}") from exc
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        security=SMTP_SCHEMES[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def parse_base_url(value: str) -> str:
    """The public base URL, parsed strictly: http(s), a host name or IP literal, an optional
    port and path; no user info, backslash, query, fragment or control character (browsers
    and ``urlsplit`` disagree on such URLs, so a check could pass on a host nobody visits)."""
    if any(ch in value for ch in "\\@ ") or not value.isprintable() or not value.isascii():
        raise ValueError("must be a plain http:// or https:// URL (no user info or backslash)")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// URL")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError("must not have a query or fragment")
    host = parts.hostname or ""
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"bad port: {exc}") from None
    try:
        ipaddress.ip_address(host)  # urlsplit has taken off an IPv6 literal's brackets
    except ValueError:
        labels = host.rstrip(".").split(".")
        if not host or not all(_DNS_LABEL.fullmatch(label) for label in labels):
            raise ValueError(f"host {host!r} is not a valid host name") from None
    return value.rstrip("/")


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine only (localhost, 127.0.0.0/8, ::1)."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpServerSettings(BaseModel):
    """One of several SMTP servers: where, how much of the traffic, how fast."""

    model_config = {"extra": "forbid"}

    url: str
    name: str | None = None
    weight: float = Field(default=1.0, ge=0)
    pool_size: int | None = Field(default=None, ge=1, le=64)
    per_second: float | None = Field(default=None, gt=0)
    per_hour: float | None = Field(default=None, gt=0)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parse_smtp_url(value)
        return value

    @property
    def label(self) -> str:
        """The name the server's state is kept under."""
        if self.name:
            return self.name
        target = parse_smtp_url(self.url)
        return f"{target.host}:{target.port}"


class Settings(BaseSettings):
    """Every setting of the product; built once per entry point and passed down."""

    model_config = SettingsConfigDict(env_prefix="NEWSLETTER_", extra="forbid")

    database_url: str = "sqlite:///newsletter.db"
    base_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr = SecretStr(DEV_SECRET)

    smtp_url: str = "smtp://127.0.0.1:2525"
    smtp_pool_size: int = Field(default=4, ge=1, le=64)
    smtp_timeout: float = Field(default=30.0, gt=0)
    smtp_messages_per_connection: int = Field(default=1000, ge=1)
    smtp_ca_file: Path | None = None
    smtp_pipelining: str = "auto"
    smtp_rate_per_second: float | None = Field(default=None, gt=0)
    smtp_rate_per_hour: float | None = Field(default=None, gt=0)
    # Several servers (JSON in the environment, an array of tables in TOML); when set,
    # smtp_url is ignored.
    smtp_servers: list[SmtpServerSettings] = Field(default_factory=list)
    smtp_failure_threshold: int = Field(default=5, ge=1)
    smtp_cooldown_seconds: float = Field(default=300.0, gt=0)
    smtp_rate_limit_pause_seconds: float = Field(default=600.0, gt=0)
    smtp_max_wait_seconds: float = Field(default=60.0, ge=0)

    send_batch_size: int = Field(default=500, ge=1, le=10_000)
    send_lease_seconds: float = Field(default=300.0, gt=0)
    pause_after_failures: int = Field(default=50, ge=1)
    pause_after_policy_failures: int = Field(default=10, ge=1)
    soft_bounce_limit: int = Field(default=3, ge=1)

    bounce_domain: str | None = None
    bounce_local_part: str = "bounces"

    max_articles_per_topic: int = Field(default=5, ge=1)
    max_articles_total: int = Field(default=20, ge=1)
    first_digest_lookback_days: int = Field(default=7, ge=0)
    # An article published longer ago than this is not offered, even when it arrives late.
    max_article_age_days: int = Field(default=14, ge=1)

    confirmation_ttl_hours: float = Field(default=72.0, gt=0)

    retry_base_seconds: float = Field(default=900.0, gt=0)
    retry_max_age_hours: float = Field(default=96.0, gt=0)

    dkim_key_file: Path | None = None
    dkim_selector: str | None = None
    dkim_domain: str | None = None

    # The scheduler daemon (``python scheduler.py``).
    fetch_interval_minutes: float = Field(default=15.0, gt=0)
    dispatch_interval_seconds: float = Field(default=60.0, gt=0)
    max_lateness_hours: float = Field(default=6.0, ge=0)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # Clock override for trying the scheduler out: the daemon's clock starts at ``fake_now``
    # (an ISO instant, UTC unless it carries an offset) and runs ``clock_speed`` times faster.
    fake_now: datetime | None = None
    clock_speed: float = Field(default=1.0, gt=0, le=100_000)

    # Content ingest.
    feed_timeout: float = Field(default=20.0, gt=0)
    category_map: dict[str, str] = Field(default_factory=dict)
    classifier_threshold: float = Field(default=0.6, gt=0, le=1)
    topic_model_path: Path | None = None

    # Incoming bounce and complaint webhooks (POST /hooks/PROVIDER); unset: refused.
    mailgun_signing_key: SecretStr | None = None
    sendgrid_public_key: str | None = None  # the base64 key of SendGrid's signed event webhook
    postmark_webhook_secret: SecretStr | None = None  # the basic-auth password in Postmark's URL
    ses_topic_arns: list[str] = Field(default_factory=list)  # SNS topics allowed to post
    # Maildirs the scheduler reads every minute (new/ -> cur/ once applied); unset: not read.
    bounce_maildir: Path | None = None
    unsubscribe_maildir: Path | None = None
    complaint_maildir: Path | None = None
    # Operations: plain or JSON log lines; the scheduler's Prometheus endpoint (off when unset).
    log_format: Literal["text", "json"] = "text"
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment variables win over the TOML file, explicit arguments over both."""
        toml_file = os.environ.get("NEWSLETTER_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            if not Path(toml_file).is_file():
                raise ValueError(f"no such file: {toml_file}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @field_validator("fake_now")
    @classmethod
    def _check_fake_now(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: str) -> str:
        parse_smtp_url(value)
        return value

    @field_validator("smtp_pipelining")
    @classmethod
    def _check_pipelining(cls, value: str) -> str:
        if value not in ("auto", "on", "off"):
            raise ValueError("must be auto, on or off")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        return parse_base_url(value)

    @field_validator("category_map")
    @classmethod
    def _check_category_map(cls, value: dict[str, str]) -> dict[str, str]:
        mapping = {}
        for category, topic in value.items():
            slug = topic.strip().lower()
            if not slug or not all(ch.isalnum() or ch in "-_" for ch in slug):
                raise ValueError(f"category {category!r} maps to {topic!r}, not a topic slug")
            mapping[" ".join(category.split()).casefold()] = slug
        return mapping

    @field_validator("smtp_ca_file")
    @classmethod
    def _check_ca_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _check_cross_fields(self) -> Settings:
        host = urlsplit(self.base_url).hostname or ""
        if self.uses_development_secret and not is_loopback(host):
            # the development key is public: anyone could forge unsubscribe and preference links
            raise ValueError(
                "secret_key: set NEWSLETTER_SECRET_KEY (the built-in development key is only "
                "accepted while NEWSLETTER_BASE_URL points at this machine)"
            )
        if len(self.secret_key.get_secret_value()) < 16:
            raise ValueError("secret_key: must be at least 16 characters")
        dkim = (self.dkim_key_file, self.dkim_selector, self.dkim_domain)
        if any(dkim) and not all(dkim):
            raise ValueError("dkim_key_file, dkim_selector and dkim_domain must be set together")
        return self

    @property
    def uses_development_secret(self) -> bool:
        """Whether the secret is the published development key."""
        return self.secret_key.get_secret_value() == DEV_SECRET

    def check_listen_address(self, host: str) -> None:
        """Refuse to serve on a non-loopback address with the published development key."""
        if self.uses_development_secret and not is_loopback(host):
            raise ConfigError(
                "NEWSLETTER_SECRET_KEY: set a secret of your own before listening on "
                f"{host or 'all addresses'} (the built-in development key is public)"
            )

    def smtp_server_list(self) -> list[SmtpServerSettings]:
        """Every configured SMTP server (NEWSLETTER_SMTP_SERVERS, else NEWSLETTER_SMTP_URL)."""
        if self.smtp_servers:
            return list(self.smtp_servers)
        return [
            SmtpServerSettings(
                url=self.smtp_url,
                per_second=self.smtp_rate_per_second,
                per_hour=self.smtp_rate_per_hour,
            )
        ]

    @property
    def topic_model_file(self) -> Path:
        """Where the topic model lives: the setting, or next to a SQLite database file."""
        if self.topic_model_path is not None:
            return self.topic_model_path
        if self.database_url.startswith("sqlite:///") and ":memory:" not in self.database_url:
            database = Path(unquote(self.database_url.removeprefix("sqlite:///").split("?")[0]))
            return database.parent / MODEL_FILE_NAME
        return Path(MODEL_FILE_NAME)

    @property
    def secret(self) -> bytes:
        """The signing secret as bytes."""
        return self.secret_key.get_secret_value().encode()


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning any mistake into one ConfigError line naming the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        field = ".".join(str(part) for part in first["loc"])
        if not field:
            # cross-field checks name their setting themselves: "secret_key: ..."
            field, _, message = message.partition(": ")
        raise ConfigError(f"NEWSLETTER_{field.upper()}: {message}") from None
    except SettingsError as exc:
        # pydantic-settings fails this way when a JSON-valued variable is not JSON.
        named = re.search(r'field "(\w+)" from source "EnvSettingsSource"', str(exc))
        if named:
            raise ConfigError(f"NEWSLETTER_{named.group(1).upper()}: not valid JSON") from None
        raise ConfigError(f"NEWSLETTER_CONFIG: {exc}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"NEWSLETTER_CONFIG: {exc}") from None
