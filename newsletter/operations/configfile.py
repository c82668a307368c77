"""The commented ``newsletter.toml`` that ``init`` writes, and the effective settings with sources.

Pure: both functions take the settings class or object and the environment as arguments.
``SETTING_HELP`` documents every field of ``newsletter.config.SettingsInput``; a test fails when a
new setting has no line here, so the generated file always lists every setting.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

from newsletter.config import DEV_SECRET, Settings, SettingsInput

MASK = "********"

#: Every setting, grouped as the generated file shows them, with one line of help each.
SETTING_HELP: dict[str, dict[str, str]] = {
    "Database and web": {
        "database_url": "sqlite:///PATH or postgresql://user:pass@host/db",
        "base_url": "public URL of the web app; links in every digest point here",
        "secret_key": "signs unsubscribe and preference links (at least 16 characters)",
    },
    "SMTP": {
        "smtp_url": "smtp://, smtp+starttls:// or smtps://[user:pass@]host[:port]",
        "smtp_pool_size": "connections per server (1-64)",
        "smtp_timeout": "seconds to wait for the server",
        "smtp_messages_per_connection": "reconnect after this many messages",
        "smtp_ca_file": "PEM file of CAs to trust for TLS (default: the system's)",
        "smtp_pipelining": "auto, on or off (RFC 2920)",
        "smtp_rate_per_second": "cap per server (unset: no cap)",
        "smtp_rate_per_hour": "cap per server (unset: no cap)",
        "smtp_servers": "several servers as [[smtp_servers]] tables (url, name, weight, "
        "pool_size, per_second, per_hour); when set, smtp_url is ignored",
        "smtp_failure_threshold": "failures in a row before a server rests",
        "smtp_cooldown_seconds": "how long a failing server rests",
        "smtp_rate_limit_pause_seconds": "pause after a rate-limit reply (4.7.28)",
        "smtp_max_wait_seconds": "longest wait for a free server before deferring",
    },
    "Sending": {
        "send_batch_size": "rows claimed per batch",
        "send_lease_seconds": "a claimed row returns to the queue after this long",
        "pause_after_failures": "pause a run after this many failures in a row",
        "pause_after_policy_failures": "pause a run after this many 5.7.x refusals in a row",
        "soft_bounce_limit": "soft bounces before an address is suppressed",
        "bounce_domain": "domain of the VERP return path (unset: no VERP)",
        "bounce_local_part": "local part of the VERP return path",
        "retry_base_seconds": "first retry delay after a 4xx reply",
        "retry_max_age_hours": "give up on a deferred message after this long",
        "confirmation_ttl_hours": "how long an opt-in confirmation link stays valid",
    },
    "Digests": {
        "max_articles_per_topic": "articles per topic section",
        "max_articles_total": "articles per digest",
        "first_digest_lookback_days": "how far back a subscriber's first digest reaches",
        "max_article_age_days": "an article published longer ago is never offered, "
        "even when it arrives late",
    },
    "DKIM (set all three or none)": {
        "dkim_key_file": "PEM private key (RSA 2048)",
        "dkim_selector": "selector, as in SELECTOR._domainkey.DOMAIN",
        "dkim_domain": "signing domain (d=)",
        "dkim_ed25519_key_file": "optional second signature: PEM Ed25519 key (RFC 8463)",
        "dkim_ed25519_selector": "the Ed25519 key's selector (both or neither)",
    },
    "Scheduler": {
        "fetch_interval_minutes": "how often feeds are fetched",
        "dispatch_interval_seconds": "how often due periods are looked for",
        "max_lateness_hours": "a period missed by more than this is skipped, not sent",
        "shutdown_grace_seconds": "time in-flight work gets on SIGTERM",
        "fake_now": "trying it out: the scheduler clock starts here (ISO 8601)",
        "clock_speed": "trying it out: the scheduler clock runs this many times faster",
    },
    "Content": {
        "feed_timeout": "seconds per feed request",
        "category_map": 'feed category -> topic slug, e.g. {"Technology" = "tech"}',
        "classifier_threshold": "lowest classifier confidence that tags an article",
        "topic_model_path": "topic model file (default: next to a SQLite database)",
    },
    "Operations": {
        "log_format": "text, or json for one JSON object per line",
        "metrics_host": "address of the scheduler's /metrics endpoint",
        "metrics_port": "port of the scheduler's /metrics endpoint (unset: off)",
    },
    "Mail coming back (Maildirs the scheduler reads every minute; unset: not read)": {
        "bounce_maildir": "delivery reports (DSNs) sent to the bounce address",
        "unsubscribe_maildir": "mails to the List-Unsubscribe mailto address",
        "complaint_maildir": "ARF complaint reports (RFC 5965)",
    },
    "Provider webhooks (POST /hooks/PROVIDER; unset: refused)": {
        "mailgun_signing_key": "Mailgun's webhook signing key",
        "sendgrid_public_key": "the base64 public key of SendGrid's signed event webhook",
        "postmark_webhook_secret": "the basic-auth password in Postmark's webhook URL",
        "ses_topic_arns": "SNS topic ARNs allowed to post SES events",
    },
}

#: Examples shown for settings that are unset by default.
EXAMPLES: dict[str, str] = {
    "smtp_ca_file": '"/etc/ssl/certs/relay-ca.pem"',
    "smtp_rate_per_second": "10.0",
    "smtp_rate_per_hour": "20000.0",
    "bounce_domain": '"bounces.example.org"',
    "dkim_key_file": '"/etc/newsletter/dkim.pem"',
    "dkim_selector": '"news"',
    "dkim_domain": '"example.org"',
    "dkim_ed25519_key_file": '"/etc/newsletter/dkim-ed25519.pem"',
    "dkim_ed25519_selector": '"news-ed"',
    "fake_now": '"2026-11-30T06:55:00Z"',
    "topic_model_path": '"/var/lib/newsletter/newsletter-topics.model"',
    "metrics_port": "9464",
    "bounce_maildir": '"/var/mail/newsletter/bounces"',
    "unsubscribe_maildir": '"/var/mail/newsletter/unsubscribe"',
    "complaint_maildir": '"/var/mail/newsletter/complaints"',
    "mailgun_signing_key": '"key-..."',
    "sendgrid_public_key": '"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE..."',
    "postmark_webhook_secret": '"a-long-random-password"',
}


@dataclass(frozen=True)
class EffectiveSetting:
    """One setting as ``config show`` prints it: the value (secrets masked) and its origin."""

    name: str
    value: str
    source: str


def toml_value(value: Any) -> str:
    """``value`` written as TOML (strings JSON-quoted, which TOML basic strings accept)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_none=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(str(value))


def config_template(secret_key: str) -> str:
    """The commented ``newsletter.toml``: every setting with its default, a fresh secret key."""
    fields = SettingsInput.model_fields
    lines = [
        "# newsletter configuration: point NEWSLETTER_CONFIG at this file.",
        "# Every setting is listed with its default, commented out; uncomment to change it.",
        "# NEWSLETTER_<NAME> environment variables win over this file.",
        "# `newsletter config show` prints what is in effect and where each value came from.",
    ]
    for group, helps in SETTING_HELP.items():
        lines += ["", f"# --- {group} " + "-" * max(0, 76 - len(group))]
        for name, text in helps.items():
            lines += [
                f"# {line}" for line in textwrap.wrap(f"{text} (NEWSLETTER_{name.upper()})", 96)
            ]
            if name == "secret_key":
                lines.append(f"secret_key = {json.dumps(secret_key)}")
                continue
            default = fields[name].get_default(call_default_factory=True)
            if default is None:
                lines.append(f"# {name} = {EXAMPLES.get(name, '...')}  (unset by default)")
            else:
                lines.append(f"# {name} = {toml_value(default)}")
    return "\n".join(lines) + "\n"


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``MASK`` (a value that is no URL is left as is)."""
    try:
        parts = urlsplit(url)
        password, port = parts.password, parts.port
    except ValueError:
        return url
    if password is None:
        return url
    host = parts.hostname or ""
    if port is not None:
        host = f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{MASK}@{host}"))


SECRET_WORDS = ("secret", "password", "token", "private")


def _displayed(name: str, value: Any) -> Any:
    if isinstance(value, SecretStr) or any(word in name for word in SECRET_WORDS):
        return MASK if value else value
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    if isinstance(value, BaseModel):
        return {key: _displayed(key, item) for key, item in value}
    if isinstance(value, list):
        return [_displayed(name, item) for item in value]
    return value


def masked_settings(settings: Settings) -> list[tuple[str, Any]]:
    """Every setting with its effective value as the console shows it: secrets and URL
    passwords masked."""
    return [(name, _displayed(name, value)) for name, value in settings.entered]


def _shown(name: str, value: Any) -> str:
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        return f'"{MASK}" (the public development key)' if secret == DEV_SECRET else f'"{MASK}"'
    if name in ("database_url", "smtp_url") and isinstance(value, str):
        return toml_value(mask_url(value))
    if name == "smtp_servers":
        servers = [{**s.model_dump(exclude_none=True), "url": mask_url(s.url)} for s in value]
        return toml_value(servers)
    if value is None:
        return "(unset)"
    return toml_value(value)


def effective_settings(
    settings: Settings, environ: Mapping[str, str], file_keys: set[str], file_name: str | None
) -> list[EffectiveSetting]:
    """Every setting with its value (secrets and URL passwords masked) and where it came from."""
    from_env = {key.lower() for key in environ}
    found = []
    for name in SettingsInput.model_fields:
        if f"newsletter_{name}" in from_env:
            source = f"environment (NEWSLETTER_{name.upper()})"
        elif name in file_keys:
            source = f"file ({file_name})"
        else:
            source = "default"
        found.append(EffectiveSetting(name, _shown(name, getattr(settings.entered, name)), source))
    return found
