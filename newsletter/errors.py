"""Errors raised by the newsletter package.

NewsletterError (root)
 +-- ConfigError (ValueError)           a setting that cannot be used
 +-- IngestError (ValueError)           input that cannot be ingested (names the input)
 +-- UnknownTopic (LookupError)
 +-- FeedNotFound (LookupError)
 +-- ArticleNotFound (LookupError)
 +-- TopicModelError (ValueError)       no usable topic model, or nothing to train it on
 +-- RunNotFound (LookupError)
 +-- RunStateError (ValueError)         an operation the run's state does not allow
 +-- AccountError (ValueError)          a console account that cannot be created or used
 +-- LedgerError (RuntimeError)         the ledger cannot be read or written: sending stops
 +-- DeliveryError                      the SMTP server as a whole cannot be used
      +-- SmtpUnavailable (ConnectionError)
      +-- SmtpAuthError (PermissionError)

A failure of one recipient is data (a DeliveryOutcome), never one of these.
"""

from __future__ import annotations


class NewsletterError(Exception):
    """Root of every error the newsletter package raises on purpose."""


class ConfigError(NewsletterError, ValueError):
    """A configuration value that cannot be used; the message names the setting."""


class IngestError(NewsletterError, ValueError):
    """An input that cannot be ingested."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class UnknownTopic(NewsletterError, LookupError):
    """A topic that does not exist."""

    def __init__(self, topic: str, known: list[str] | None = None) -> None:
        hint = f" (known: {', '.join(known)})" if known else ""
        super().__init__(f"unknown topic {topic!r}{hint}")
        self.topic = topic


class FeedNotFound(NewsletterError, LookupError):
    """No feed has this id or URL."""

    def __init__(self, feed: str) -> None:
        super().__init__(f"unknown feed {feed!r} (see: newsletter feeds ls)")
        self.feed = feed


class ArticleNotFound(NewsletterError, LookupError):
    """No article has this id."""

    def __init__(self, article_id: int) -> None:
        super().__init__(f"unknown article {article_id}")
        self.article_id = article_id


class TopicModelError(NewsletterError, ValueError):
    """The topic model cannot be trained, read or used."""


class RunNotFound(NewsletterError, LookupError):
    """No run has this id."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"unknown run {run_id}")
        self.run_id = run_id


class RunStateError(NewsletterError, ValueError):
    """The run is in a state that does not allow the operation."""


class AccountError(NewsletterError, ValueError):
    """A console account that cannot be created, or a role that does not exist."""


class LedgerError(NewsletterError, RuntimeError):
    """The delivery ledger cannot be read or written (database locked, disk full, connection
    lost): the send engine stops every stage rather than send what it cannot record."""

    def __init__(self, cause: str) -> None:
        super().__init__(f"sending stopped, the ledger cannot be written: {cause}")
        self.cause = cause


class DeliveryError(NewsletterError):
    """The SMTP service as a whole cannot be used."""


class SmtpUnavailable(DeliveryError, ConnectionError):
    """The SMTP server cannot be reached."""


class SmtpAuthError(DeliveryError, PermissionError):
    """The SMTP server refused our credentials or TLS setup."""
