"""What every entry point builds once: settings, engine, templates, clock, mailer factory."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.config import Settings
from newsletter.db import check_schema, make_engine
from newsletter.digest.selector import Limits
from newsletter.errors import ConfigError
from subscribers.dbtypes import utcnow

if TYPE_CHECKING:
    # The delivery stack (aiosmtplib, dkim, cryptography) is imported by the methods that use
    # it: CLI commands that only read the database start in a fraction of the time.
    from jinja2 import Environment
    from sqlalchemy import Engine

    from newsletter.delivery.mailer import Mailer
    from newsletter.delivery.signing import SigningPool
    from newsletter.sending.engine import SendPolicy


@dataclass
class Runtime:
    """The wired-up application for one process."""

    settings: Settings
    engine: Engine
    clock: Callable[[], datetime] = utcnow
    # The Jinja templates, built on first use: commands that only read the database skip them.
    templates: Environment | None = None

    @property
    def env(self) -> Environment:
        """The Jinja environment of the email and web templates."""
        if self.templates is None:
            from newsletter.digest.render import make_environment

            self.templates = make_environment()
        return self.templates

    @classmethod
    def create(
        cls, settings: Settings, *, clock: Callable[[], datetime] = utcnow, check: bool = True
    ) -> Runtime:
        """Build engine and templates; refuse a database that was never migrated."""
        engine = make_engine(settings.database_url)
        if check:
            check_schema(engine)
        return cls(settings=settings, engine=engine, clock=clock)

    @property
    def limits(self) -> Limits:
        """Digest size caps."""
        digest = self.settings.digest
        return Limits(per_topic=digest.max_articles_per_topic, total=digest.max_articles_total)

    @property
    def lookback(self) -> timedelta:
        """How far back a first digest reaches."""
        return timedelta(days=self.settings.digest.first_lookback_days)

    @property
    def max_age(self) -> timedelta:
        """The oldest publication time a digest still offers (news that arrives late)."""
        return timedelta(days=self.settings.digest.max_article_age_days)

    def send_policy(self) -> SendPolicy:
        """The sender's behaviour from the settings."""
        from newsletter.sending.engine import SendPolicy

        settings = self.settings
        return SendPolicy(
            base_url=settings.links.base_url,
            secret=settings.links.secret,
            bounce_domain=settings.inbound.bounce_domain,
            bounce_local_part=settings.inbound.bounce_local_part,
            confirmation_ttl=timedelta(hours=settings.links.confirmation_ttl_hours),
            send_timeout=settings.smtp.timeout,
            rate_per_second=settings.smtp.total_rate_per_second,
            batch_size=settings.sending.batch_size,
            lease=timedelta(seconds=settings.sending.lease_seconds),
            retry_base_seconds=settings.retry.base_seconds,
            retry_cap_seconds=max(settings.retry.base_seconds, 6 * 3600.0),
            retry_max_age=timedelta(hours=settings.retry.max_age_hours),
            pause_after_failures=settings.retry.pause_after_failures,
            pause_after_policy_failures=settings.retry.pause_after_policy_failures,
            concurrency=settings.smtp.connections,
        )

    def mailer(self, dry_run_dir: Path | None = None) -> Mailer:
        """The configured SMTP servers as one pool, or a file writer for dry runs."""
        from newsletter.delivery.mailer import FileMailer
        from newsletter.delivery.pool import Server, ServerPool, rate_limits
        from newsletter.delivery.smtp import SmtpMailer

        if dry_run_dir is not None:
            return FileMailer(dry_run_dir)
        smtp = self.settings.smtp
        tls_context = None
        if smtp.ca_file is not None:
            tls_context = ssl.create_default_context(cafile=str(smtp.ca_file))
        servers = [
            Server(
                name=server.name,
                mailer=SmtpMailer(
                    server.target,
                    pool_size=server.pool_size,
                    timeout=smtp.timeout,
                    messages_per_connection=smtp.messages_per_connection,
                    pipelining=smtp.pipelining,
                    tls_context=tls_context,
                ),
                weight=server.weight,
                limits=rate_limits(server.per_second, server.per_hour),
            )
            for server in smtp.servers
        ]
        return ServerPool(
            servers,
            clock=utcnow,
            failure_threshold=smtp.failure_threshold,
            cooldown=timedelta(seconds=smtp.cooldown_seconds),
            rate_limit_pause=timedelta(seconds=smtp.rate_limit_pause_seconds),
            max_wait=smtp.max_wait_seconds,
        )

    def signer(self) -> SigningPool | None:
        """A DKIM signing pool when NEWSLETTER_DKIM_* are set; a bad key is one clear error."""
        from newsletter.delivery.signing import SigningPool

        dkim = self.settings.dkim
        if dkim is None:
            return None
        try:
            return SigningPool(
                dkim.key_file,
                dkim.selector,
                dkim.domain,
                ed25519_key_file=dkim.ed25519_key_file,
                ed25519_selector=dkim.ed25519_selector,
            )
        except ValueError as exc:
            raise ConfigError(f"NEWSLETTER_DKIM_KEY_FILE: {exc}") from None

    def dispose(self) -> None:
        """Close database connections."""
        self.engine.dispose()
