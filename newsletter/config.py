"""Settings: what operators write and what the code reads.

``SettingsInput`` is what operators write: flat ``NEWSLETTER_*`` environment variables and the
same keys in an optional TOML file (``config init`` and ``config show`` speak these names).
``Settings`` is what the code reads: nested groups of typed values (``settings.smtp``,
``settings.links``, ``settings.dkim``...) built once from the input, each URL parsed once here.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
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

from newsletter.delivery.target import SmtpSecurity, SmtpTarget
from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DEV_SECRET = "insecure-development-secret-change-me"
_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
MODEL_FILE_NAME = "newsletter-topics.model"
SMTP_SCHEMES = {
    "smtp": SmtpSecurity.PLAIN,
    "smtp+starttls": SmtpSecurity.STARTTLS,
    "smtps": SmtpSecurity.TLS,
}
SMTP_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
_T = TypeVar("_T")
_G = TypeVar("_G", bound="DataclassInstance")  # a settings group


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse ``smtp://``, ``smtp+starttls://`` or ``smtps://`` URLs, with optional user:pass."""
    parts = urlsplit(url)
    if parts.scheme not in SMTP_SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SMTP_SCHEMES)}, not {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("no host")
    try:
        port = parts.port or SMTP_PORTS[parts.scheme]
    except ValueError as exc:
        raise ValueError(f"bad port: {exc}") from exc
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        security=SMTP_SCHEMES[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


@dataclass(frozen=True, slots=True)
class BaseUrl:
    """The public base URL, parsed: the text links start with and the origin browsers send."""

    url: str  # without a trailing slash
    host: str
    origin: str  # scheme://host[:port], the port only when it is not the scheme's default


def parse_base_url(value: str) -> BaseUrl:
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
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"bad port: {exc}") from None
    try:
        ipaddress.ip_address(host)  # urlsplit has taken off an IPv6 literal's brackets
    except ValueError:
        labels = host.rstrip(".").split(".")
        if not host or not all(_DNS_LABEL.fullmatch(label) for label in labels):
            raise ValueError(f"host {host!r} is not a valid host name") from None
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[parts.scheme]:
        shown = f"{shown}:{port}"
    return BaseUrl(url=value.rstrip("/"), host=host, origin=f"{parts.scheme}://{shown}")


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
    """One entry of ``smtp_servers`` as written: where, how much of the traffic, how fast."""

    model_config = {"extra": "forbid"}

    url: str
    name: str | None = None
    weight: float = Field(default=1.0, ge=0)
    pool_size: int | None = Field(default=None, ge=1, le=64)
    per_second: float | None = Field(default=None, gt=0)
    per_hour: float | None = Field(default=None, gt=0)


class SettingsInput(BaseSettings):
    """Every setting as operators write it: ``NEWSLETTER_<NAME>`` or ``name`` in the TOML file.

    Code reads ``Settings`` (built from this by ``Settings.from_input``), never this."""

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
    # smtp_url is not sent through (it is still checked).
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
    # An optional second signature with Ed25519 (RFC 8463), beside the RSA one, never alone.
    dkim_ed25519_key_file: Path | None = None
    dkim_ed25519_selector: str | None = None

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

    @field_validator("base_url")
    @classmethod
    def _trim_base_url(cls, value: str) -> str:
        return value.rstrip("/")  # as ``config show`` prints it; parsed by ``Settings.from_input``

    @field_validator("smtp_pipelining")
    @classmethod
    def _check_pipelining(cls, value: str) -> str:
        if value not in ("auto", "on", "off"):
            raise ValueError("must be auto, on or off")
        return value

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
    def _check_cross_fields(self) -> SettingsInput:
        if len(self.secret_key.get_secret_value()) < 16:
            raise ValueError("secret_key: must be at least 16 characters")
        dkim = (self.dkim_key_file, self.dkim_selector, self.dkim_domain)
        if any(dkim) and not all(dkim):
            raise ValueError(
                "dkim_key_file: NEWSLETTER_DKIM_KEY_FILE, NEWSLETTER_DKIM_SELECTOR and "
                "NEWSLETTER_DKIM_DOMAIN must be set together"
            )
        second = (self.dkim_ed25519_key_file, self.dkim_ed25519_selector)
        if any(second) and not all(second):
            raise ValueError(
                "dkim_ed25519_key_file: NEWSLETTER_DKIM_ED25519_KEY_FILE and "
                "NEWSLETTER_DKIM_ED25519_SELECTOR must be set together"
            )
        if any(second) and not all(dkim):
            raise ValueError(
                "dkim_ed25519_key_file: an Ed25519 signature is only added beside the RSA one "
                "(set NEWSLETTER_DKIM_KEY_FILE, NEWSLETTER_DKIM_SELECTOR and "
                "NEWSLETTER_DKIM_DOMAIN too)"
            )
        return self


# What the code reads: one group per concept, typed values, URLs parsed.


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """One SMTP server to send through: its parsed address, share of the traffic and limits."""

    name: str  # the name its state is kept under: as configured, else host:port
    target: SmtpTarget
    weight: float
    pool_size: int  # connections (the server's own, else smtp_pool_size)
    per_second: float | None
    per_hour: float | None


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """How to reach the SMTP servers and how hard to use them."""

    target: SmtpTarget  # NEWSLETTER_SMTP_URL, parsed
    servers: tuple[SmtpServer, ...]  # smtp_servers, else the one server at ``target``
    pool_size: int
    timeout: float
    messages_per_connection: int
    ca_file: Path | None
    pipelining: str  # auto, on or off
    failure_threshold: int  # failures in a row before a server rests
    cooldown_seconds: float
    rate_limit_pause_seconds: float
    max_wait_seconds: float

    @property
    def connections(self) -> int:
        """Connections over every server."""
        return sum(server.pool_size for server in self.servers)

    @property
    def total_rate_per_second(self) -> float | None:
        """The servers' summed per-second caps; None when any server has none."""
        rates = [server.per_second for server in self.servers]
        return None if None in rates else sum(r for r in rates if r is not None)


@dataclass(frozen=True, slots=True)
class LinksSettings:
    """What the links in every message are made of: the public base URL and the signing key."""

    base_url: str  # parsed once (``parse_base_url``); no trailing slash
    origin: str  # the base URL's scheme://host[:port], as browsers send it in ``Origin``
    secret_key: SecretStr
    confirmation_ttl_hours: float  # how long an opt-in confirmation link stays valid

    @property
    def secret(self) -> bytes:
        """The signing secret as bytes."""
        return self.secret_key.get_secret_value().encode()

    @property
    def uses_development_secret(self) -> bool:
        """Whether the secret is the published development key."""
        return self.secret_key.get_secret_value() == DEV_SECRET


@dataclass(frozen=True, slots=True)
class DkimSettings:
    """The DKIM signing key, selector and domain (all three set, or no signing at all), and an
    optional Ed25519 key and selector for a second signature."""

    key_file: Path
    selector: str
    domain: str
    ed25519_key_file: Path | None = None
    ed25519_selector: str | None = None


@dataclass(frozen=True, slots=True)
class SendingSettings:
    """How the engine claims rows."""

    batch_size: int
    lease_seconds: float


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """Back-off for deferred messages and when a run pauses itself."""

    base_seconds: float
    max_age_hours: float
    pause_after_failures: int
    pause_after_policy_failures: int


@dataclass(frozen=True, slots=True)
class DigestSettings:
    """How much a digest offers and how far back it reaches."""

    max_articles_per_topic: int
    max_articles_total: int
    first_lookback_days: int
    max_article_age_days: int


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    """The scheduler daemon's intervals and its clock override for trying it out."""

    fetch_interval_minutes: float
    dispatch_interval_seconds: float
    max_lateness_hours: float
    shutdown_grace_seconds: float
    # The clock starts at ``fake_now`` (UTC) and runs ``clock_speed`` times faster.
    fake_now: datetime | None
    clock_speed: float


@dataclass(frozen=True, slots=True)
class ContentSettings:
    """Content ingest: feed requests and topic tagging."""

    feed_timeout: float
    category_map: dict[str, str]  # case-folded feed category -> topic slug
    classifier_threshold: float
    topic_model_file: Path  # the setting, else next to a SQLite database file


@dataclass(frozen=True, slots=True)
class InboundSettings:
    """Mail coming back: the VERP return path, Maildirs read, provider webhooks accepted."""

    bounce_domain: str | None
    bounce_local_part: str
    soft_bounce_limit: int
    bounce_maildir: Path | None
    unsubscribe_maildir: Path | None
    complaint_maildir: Path | None
    mailgun_signing_key: SecretStr | None
    sendgrid_public_key: str | None
    postmark_webhook_secret: SecretStr | None
    ses_topic_arns: list[str]


@dataclass(frozen=True, slots=True)
class ObservabilitySettings:
    """Log lines and the scheduler's Prometheus endpoint."""

    log_format: Literal["text", "json"]
    metrics_host: str
    metrics_port: int | None


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the product, grouped; built once per entry point and passed down."""

    database_url: str
    links: LinksSettings
    smtp: SmtpSettings
    dkim: DkimSettings | None
    sending: SendingSettings
    retry: RetrySettings
    digest: DigestSettings
    scheduler: SchedulerSettings
    content: ContentSettings
    inbound: InboundSettings
    observability: ObservabilitySettings
    # What the operator wrote, flat: for ``config show`` and ``updated``; code reads the groups.
    entered: SettingsInput = field(repr=False)

    @classmethod
    def build(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from flat operator names only (no environment, no file): tests and tools."""
        return cls.from_input(SettingsInput.model_validate(dict(values)))

    def updated(self, **values: Any) -> Settings:
        """These settings with some flat values replaced, checked again."""
        return self.build({**self.entered.model_dump(exclude_unset=True), **values})

    @classmethod
    def from_input(cls, entered: SettingsInput) -> Settings:
        """Group the flat input, parsing each URL once; a bad one is a ConfigError naming it."""
        base = _parsed("base_url", parse_base_url, entered.base_url)
        if entered.secret_key.get_secret_value() == DEV_SECRET and not is_loopback(base.host):
            # the development key is public: anyone could forge unsubscribe and preference links
            raise ConfigError(
                "NEWSLETTER_SECRET_KEY: set NEWSLETTER_SECRET_KEY (the built-in development key "
                "is only accepted while NEWSLETTER_BASE_URL points at this machine)"
            )
        target = _parsed("smtp_url", parse_smtp_url, entered.smtp_url)
        servers = [
            _server(
                _parsed(f"smtp_servers.{index}.url", parse_smtp_url, server.url),
                server,
                entered.smtp_pool_size,
            )
            for index, server in enumerate(entered.smtp_servers)
        ]
        if not servers:
            single = SmtpServerSettings(
                url=entered.smtp_url,
                per_second=entered.smtp_rate_per_second,
                per_hour=entered.smtp_rate_per_hour,
            )
            servers = [_server(target, single, entered.smtp_pool_size)]
        dkim = None
        if entered.dkim_key_file and entered.dkim_selector and entered.dkim_domain:
            dkim = DkimSettings(
                entered.dkim_key_file,
                entered.dkim_selector,
                entered.dkim_domain,
                entered.dkim_ed25519_key_file,
                entered.dkim_ed25519_selector,
            )
        return cls(
            database_url=entered.database_url,
            links=_group(LinksSettings, entered, base_url=base.url, origin=base.origin),
            smtp=_group(SmtpSettings, entered, "smtp_", target=target, servers=tuple(servers)),
            dkim=dkim,
            sending=_group(SendingSettings, entered, "send_"),
            retry=_group(RetrySettings, entered, "retry_"),
            digest=_group(
                DigestSettings, entered, first_lookback_days=entered.first_digest_lookback_days
            ),
            scheduler=_group(SchedulerSettings, entered),
            content=_group(ContentSettings, entered, topic_model_file=_topic_model_file(entered)),
            inbound=_group(InboundSettings, entered),
            observability=_group(ObservabilitySettings, entered),
            entered=entered,
        )

    def check_listen_address(self, host: str) -> None:
        """Refuse to serve on a non-loopback address with the published development key."""
        if self.links.uses_development_secret and not is_loopback(host):
            raise ConfigError(
                "NEWSLETTER_SECRET_KEY: set a secret of your own before listening on "
                f"{host or 'all addresses'} (the built-in development key is public)"
            )


def _group(group: type[_G], entered: SettingsInput, prefix: str = "", **given: Any) -> _G:
    """A settings group: each field not ``given`` is the flat input of the same name, with
    ``prefix`` or without it (``smtp.timeout`` is ``smtp_timeout``, ``retry.pause_after_failures``
    is ``pause_after_failures``)."""
    values = dict(given)
    for item in fields(group):
        if item.name not in values:
            name = prefix + item.name
            if name not in SettingsInput.model_fields:
                name = item.name
            values[item.name] = getattr(entered, name)
    return group(**values)


def _parsed(name: str, parse: Callable[[str], _T], value: str) -> _T:
    """``parse(value)``, a ValueError turned into one line naming the setting."""
    try:
        return parse(value)
    except ValueError as exc:
        raise ConfigError(f"NEWSLETTER_{name.upper()}: {exc}") from None


def _server(target: SmtpTarget, entry: SmtpServerSettings, default_pool: int) -> SmtpServer:
    return SmtpServer(
        name=entry.name or f"{target.host}:{target.port}",
        target=target,
        weight=entry.weight,
        pool_size=entry.pool_size or default_pool,
        per_second=entry.per_second,
        per_hour=entry.per_hour,
    )


def _topic_model_file(entered: SettingsInput) -> Path:
    """Where the topic model lives: the setting, or next to a SQLite database file."""
    if entered.topic_model_path is not None:
        return entered.topic_model_path
    url = entered.database_url
    if url.startswith("sqlite:///") and ":memory:" not in url:
        database = Path(unquote(url.removeprefix("sqlite:///").split("?")[0]))
        return database.parent / MODEL_FILE_NAME
    return Path(MODEL_FILE_NAME)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning any mistake into one ConfigError line naming the setting."""
    try:
        entered = SettingsInput(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        setting = ".".join(str(part) for part in first["loc"])
        if not setting:
            # cross-field checks name their setting themselves: "secret_key: ..."
            setting, _, message = message.partition(": ")
        raise ConfigError(f"NEWSLETTER_{setting.upper()}: {message}") from None
    except SettingsError as exc:
        # pydantic-settings fails this way when a JSON-valued variable is not JSON.
        named = re.search(r'field "(\w+)" from source "EnvSettingsSource"', str(exc))
        if named:
            raise ConfigError(f"NEWSLETTER_{named.group(1).upper()}: not valid JSON") from None
        raise ConfigError(f"NEWSLETTER_CONFIG: {exc}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"NEWSLETTER_CONFIG: {exc}") from None
    return Settings.from_input(entered)  # a bad URL: a ConfigError naming its setting
