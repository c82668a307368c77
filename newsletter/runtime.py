"""What every entry point builds once: settings, engine, templates, clock, mailer factory."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from jinja2 import Environment
from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.db import check_schema, make_engine
from newsletter.delivery.mailer import FileMailer, Mailer
from newsletter.delivery.smtp import SmtpMailer
from newsletter.render import make_environment
from newsletter.selector import Limits
from newsletter.sending import SendPolicy
from subscribers.dbtypes import utcnow


@dataclass
class Runtime:
    """The wired-up application for one process."""

    settings: Settings
    engine: Engine
    env: Environment
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def create(
        cls, settings: Settings, *, clock: Callable[[], datetime] = utcnow, check: bool = True
    ) -> Runtime:
        """Build engine and templates; refuse a database that was never migrated."""
        engine = make_engine(settings.database_url)
        if check:
            check_schema(engine)
        return cls(settings=settings, engine=engine, env=make_environment(), clock=clock)

    @property
    def limits(self) -> Limits:
        """Digest size caps."""
        return Limits(
            per_topic=self.settings.max_articles_per_topic, total=self.settings.max_articles_total
        )

    @property
    def lookback(self) -> timedelta:
        """How far back a first digest reaches."""
        return timedelta(days=self.settings.first_digest_lookback_days)

    def send_policy(self) -> SendPolicy:
        """The sender's behaviour from the settings."""
        settings = self.settings
        return SendPolicy(
            base_url=settings.base_url,
            secret=settings.secret,
            bounce_domain=settings.bounce_domain,
            bounce_local_part=settings.bounce_local_part,
            retry_base_seconds=settings.retry_base_seconds,
            retry_max_age=timedelta(hours=settings.retry_max_age_hours),
        )

    def mailer(self, dry_run_dir: Path | None = None) -> Mailer:
        """An SMTP pool, or a file writer for dry runs."""
        if dry_run_dir is not None:
            return FileMailer(dry_run_dir)
        settings = self.settings
        tls_context = None
        if settings.smtp_ca_file is not None:
            tls_context = ssl.create_default_context(cafile=str(settings.smtp_ca_file))
        return SmtpMailer(
            settings.smtp,
            pool_size=settings.smtp_pool_size,
            timeout=settings.smtp_timeout,
            messages_per_connection=settings.smtp_messages_per_connection,
            tls_context=tls_context,
        )

    def dispose(self) -> None:
        """Close database connections."""
        self.engine.dispose()
