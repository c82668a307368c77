"""Tables and enums of content and sending: articles, topics, feeds, runs, the ledger."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from subscribers.dbtypes import UTCDateTime, status_type, utcnow
from subscribers.models import (  # noqa: F401  (registers the audience tables on the metadata)
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
    UnsubscribeEvent,
)


class RunStatus(StrEnum):
    """Where a digest send stands."""

    SENDING = "sending"
    PAUSED = "paused"
    DONE = "done"
    CANCELLED = "cancelled"


class RunKind(StrEnum):
    """What started a run."""

    MANUAL = "manual"
    SCHEDULED = "scheduled"
    TEST = "test"
    CONFIRM = "confirm"  # confirmation emails: deliveries without a digest
    DRY_RUN = "dry-run"  # digests written as .eml files: recorded, but no subscriber history
    WELCOME = "welcome"  # the list's welcome email after a confirmation


# Runs whose sent rows are digests that reached a subscriber (they record sent articles).
DIGEST_KINDS = (RunKind.MANUAL, RunKind.SCHEDULED)


class DeliveryStatus(StrEnum):
    """Where one message of a run stands."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    BOUNCED = "bounced"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


# A row in one of these states may still be sent: the one definition of "open".
OPEN_STATES = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING)


class TopicOrigin(StrEnum):
    """How an article got a topic."""

    FEED = "feed"
    CATEGORY = "category"
    MANUAL = "manual"
    CLASSIFIER = "classifier"


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _ts() -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class Topic(SQLModel, table=True):
    """A subject articles are tagged with and subscribers choose."""

    __tablename__ = "topics"

    slug: str = Field(sa_column=Column(String(64), primary_key=True))
    name: str = Field(max_length=200)
    created_at: datetime = _created()


class Article(SQLModel, table=True):
    """One cleaned article."""

    __tablename__ = "articles"

    id: int | None = Field(default=None, primary_key=True)
    guid: str = Field(sa_column=Column(String(1000), unique=True, nullable=False))
    canonical_url: str | None = Field(
        default=None, sa_column=Column(String(2000), unique=True, nullable=True)
    )
    url: str | None = Field(default=None, sa_column=Column(String(2000)))
    title: str = Field(sa_column=Column(Text, nullable=False))
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    body_html: str = Field(default="", sa_column=Column(Text, nullable=False))
    body_text: str = Field(default="", sa_column=Column(Text, nullable=False))
    source: str = Field(default="", max_length=500)
    author: str | None = Field(default=None, max_length=500)
    image_url: str | None = Field(default=None, sa_column=Column(String(2000)))
    fingerprint: str | None = Field(default=None, max_length=64, index=True)
    language: str | None = Field(default=None, max_length=8)  # ISO 639-1, None when unknown
    pinned: bool = False
    excluded: bool = False
    published_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    ingested_at: datetime = _created()


class ArticleTopic(SQLModel, table=True):
    """An article's topic, with how it was assigned."""

    __tablename__ = "article_topics"

    article_id: int = Field(foreign_key="articles.id", primary_key=True, ondelete="CASCADE")
    topic: str = Field(foreign_key="topics.slug", primary_key=True, max_length=64)
    origin: TopicOrigin = Field(default=TopicOrigin.FEED, sa_type=status_type(TopicOrigin))
    confidence: float | None = None


class Feed(SQLModel, table=True):
    """A feed we fetch, with its topics and the state of the last fetch."""

    __tablename__ = "feeds"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(sa_column=Column(String(2000), unique=True, nullable=False))
    name: str = Field(default="", max_length=200)
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    etag: str | None = Field(default=None, max_length=500)
    last_modified: str | None = Field(default=None, max_length=100)
    last_success_at: datetime | None = _ts()
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_at: datetime | None = _ts()
    article_count: int = 0
    created_at: datetime = _created()


class Run(SQLModel, table=True):
    """One digest send of one list."""

    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("list_id", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="lists.id", index=True, ondelete="CASCADE")
    kind: RunKind = Field(default=RunKind.MANUAL, sa_type=status_type(RunKind))
    status: RunStatus = Field(default=RunStatus.SENDING, sa_type=status_type(RunStatus), index=True)
    period: str | None = Field(default=None, max_length=64)
    pause_reason: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _created()
    finished_at: datetime | None = _ts()


class Digest(SQLModel, table=True):
    """One distinct digest content within a run: the article ids, rendered once."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("run_id", "content_key"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", index=True, ondelete="CASCADE")
    content_key: str = Field(max_length=64)
    sections: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # topic -> ids of eligible articles the caps left out ("4 more in Technology")
    more: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    created_at: datetime = _created()


class Delivery(SQLModel, table=True):
    """The ledger: one message of one run to one subscriber, and its fate."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("run_id", "subscriber_id"),
        UniqueConstraint("subscription_id", "period"),
        Index("ix_deliveries_claim", "run_id", "status", "next_attempt_at"),
        Index("ix_deliveries_lease", "status", "lease_until"),
        Index("ix_deliveries_queue", "run_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runs.id", ondelete="CASCADE")
    subscriber_id: int | None = Field(
        default=None, foreign_key="subscribers.id", index=True, ondelete="SET NULL"
    )
    subscription_id: int | None = Field(
        default=None, foreign_key="subscriptions.id", ondelete="SET NULL"
    )
    digest_id: int | None = Field(default=None, foreign_key="digests.id", ondelete="SET NULL")
    email: str = Field(max_length=320)
    period: str | None = Field(default=None, max_length=64)
    status: DeliveryStatus = Field(
        default=DeliveryStatus.QUEUED, sa_type=status_type(DeliveryStatus)
    )
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    message_id: str | None = Field(default=None, max_length=500)
    first_attempt_at: datetime | None = _ts()
    next_attempt_at: datetime | None = _ts()
    lease_until: datetime | None = _ts()
    claimed_by: str | None = Field(default=None, max_length=100)
    sent_at: datetime | None = _ts()
    created_at: datetime = _created()


class SentArticle(SQLModel, table=True):
    """An article that reached a subscriber: never send it to them again.

    The busiest table (one row per article per message sent), so its rows are written as
    cheaply as the guarantee allows: the key is the pair itself and there are no foreign-key
    checks, which made up about two thirds of the cost of recording a sent digest on
    PostgreSQL (bench/sent_articles.py). What the foreign keys did on a delete is done by
    triggers (migration 0020): a deleted subscriber or article takes its rows along, a deleted
    delivery leaves its rows without ``delivery_id``."""

    __tablename__ = "sent_articles"

    subscriber_id: int = Field(sa_column_kwargs={"autoincrement": False}, primary_key=True)
    article_id: int = Field(sa_column_kwargs={"autoincrement": False}, primary_key=True, index=True)
    delivery_id: int | None = Field(default=None)
    sent_at: datetime = _created()


class ChangeCounter(SQLModel, table=True):
    """A counter bumped by database triggers (``audience``: someone left, was suppressed or
    erased), so a sender notices a change with one cheap read instead of one query per message."""

    __tablename__ = "change_counters"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


class Installation(SQLModel, table=True):
    """This installation's random identity (one row, written by migration 0017): it makes
    Message-IDs unique between installations that share a secret and a base URL."""

    __tablename__ = "installation"

    id: int = Field(default=1, primary_key=True)
    token: str = Field(sa_column=Column(String(64), nullable=False))


class UserRole(StrEnum):
    """What a console account may do: editors handle content and sends, admins everything."""

    ADMIN = "admin"
    EDITOR = "editor"


class User(SQLModel, table=True):
    """An account of the admin and editor console."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), unique=True, nullable=False))
    password_hash: str = Field(max_length=200)
    role: UserRole = Field(default=UserRole.EDITOR, sa_type=status_type(UserRole))
    created_at: datetime = _created()
    last_login_at: datetime | None = _ts()
    disabled_at: datetime | None = _ts()


class ConsoleSession(SQLModel, table=True):
    """One signed-in console session, so signing out (or removing it) ends a copied cookie too."""

    __tablename__ = "console_sessions"

    nonce: str = Field(sa_column=Column(String(64), primary_key=True))
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class SmtpServerState(SQLModel, table=True):
    """One SMTP server's rate-limit buckets and rest period, kept across restarts."""

    __tablename__ = "smtp_servers"

    name: str = Field(sa_column=Column(String(200), primary_key=True))
    tokens_sec: float
    tokens_hour: float
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    down_until: datetime | None = _ts()
    last_error: str | None = Field(default=None, sa_column=Column(Text))


class ApiToken(SQLModel, table=True):
    """A user's HTTP API token: only its SHA-256 is stored; it acts with the user's role."""

    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    created_at: datetime = _created()
    last_used_at: datetime | None = _ts()
    revoked_at: datetime | None = _ts()


class WebhookStatus(StrEnum):
    """Where one webhook delivery stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last attempt


class WebhookEndpoint(SQLModel, table=True):
    """A URL that receives signed event notifications."""

    __tablename__ = "webhook_endpoints"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=100)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    created_at: datetime = _created()


class WebhookEvent(SQLModel, table=True):
    """Something that happened, recorded once (``UNIQUE(kind, ref)``) for the webhooks."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("kind", "ref"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    ref: str = Field(max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = _created()


class WebhookDelivery(SQLModel, table=True):
    """One event queued for one endpoint: the durable queue the webhook sender drains."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoints.id", index=True, ondelete="CASCADE")
    event_id: int = Field(foreign_key="webhook_events.id", ondelete="CASCADE")
    status: WebhookStatus = Field(default=WebhookStatus.PENDING, sa_type=status_type(WebhookStatus))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    lease_until: datetime | None = _ts()
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = _created()
    delivered_at: datetime | None = _ts()


class IssueNote(SQLModel, table=True):
    """An editor's note and lead story: for the list's next issue (``run_id`` empty) or one run's.

    The first manual or scheduled run whose digests are rendered takes the pending note
    (``newsletter.publish.editorial.note_for_run``), so a note reaches exactly one issue.
    """

    __tablename__ = "issue_notes"

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="lists.id", index=True, ondelete="CASCADE")
    run_id: int | None = Field(
        default=None, foreign_key="runs.id", unique=True, nullable=True, ondelete="CASCADE"
    )
    note_markdown: str = Field(default="", sa_column=Column(Text, nullable=False))
    lead_article_id: int | None = Field(
        default=None, foreign_key="articles.id", nullable=True, ondelete="SET NULL"
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
