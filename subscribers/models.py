"""Tables and enums of the audience: subscribers, lists, subscriptions, suppression."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

from subscribers.dbtypes import UTCDateTime, status_type, utcnow


class SubscriberStatus(StrEnum):
    """Whether an address may be mailed at all."""

    ACTIVE = "active"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"


class SubscriptionStatus(StrEnum):
    """Where one subscription stands in its consent life cycle."""

    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"


class Cadence(StrEnum):
    """How often a subscriber gets a digest."""

    DAILY = "daily"
    WEEKLY = "weekly"


class UnsubscribeSource(StrEnum):
    """How an unsubscribe reached us."""

    LINK = "link"
    ONE_CLICK = "one-click"
    MAILTO = "mailto"
    ADMIN = "admin"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"


class SuppressionReason(StrEnum):
    """Why an address or domain must never be mailed."""

    HARD_BOUNCE = "hard-bounce"
    SOFT_BOUNCES = "soft-bounces"
    COMPLAINT = "complaint"
    MANUAL = "manual"
    ERASED = "erased"


class SuppressionKind(StrEnum):
    """What a suppression entry matches."""

    ADDRESS = "address"
    DOMAIN = "domain"
    HASH = "hash"


def _default(value: Any) -> dict[str, Any]:
    return {"server_default": value}


def _ts(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class Subscriber(SQLModel, table=True):
    """One person, identified by a normalised e-mail address."""

    __tablename__ = "subscribers"
    # Ids are never reused: old links carry them and must not reach the next person.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(320), unique=True, nullable=False))
    name: str = Field(default="", max_length=200)
    status: SubscriberStatus = Field(
        default=SubscriberStatus.ACTIVE, sa_type=status_type(SubscriberStatus), index=True
    )
    timezone: str = Field(default="UTC", max_length=64)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    soft_bounces: int = 0
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class MailingList(SQLModel, table=True):
    """A list people subscribe to: its sender, topics and defaults."""

    __tablename__ = "lists"
    # Ids are never reused: old links carry them and must not reach the next person.
    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    name: str = Field(max_length=200)
    from_name: str = Field(max_length=200)
    from_address: str = Field(max_length=320)
    reply_to: str | None = Field(default=None, max_length=320)
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    default_cadence: Cadence = Field(default=Cadence.DAILY, sa_type=status_type(Cadence))
    default_weekday: int = 0
    default_send_hour: int = 8
    default_timezone: str = Field(default="UTC", max_length=64)
    double_opt_in: bool = True
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    # Branding and the public archive (migration 0012).
    description: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    logo_url: str | None = Field(default=None, max_length=2000)
    accent_color: str = Field(default="#1d4ed8", max_length=7, sa_column_kwargs=_default("#1d4ed8"))
    footer_text: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    postal_address: str = Field(
        default="", sa_column=Column(Text, nullable=False, server_default="")
    )
    archive_public: bool = Field(default=False, sa_column_kwargs=_default(sa_false()))
    show_images: bool = Field(default=False, sa_column_kwargs=_default(sa_false()))
    # Markdown sent to each new subscriber once they confirm; None: no welcome email.
    welcome_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Subscription(SQLModel, table=True):
    """One subscriber on one list, with the topics and rhythm they chose."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "list_id"),
        # planning pages through a list's active subscriptions in id order (migration 0018)
        Index("ix_subscriptions_audience", "list_id", "status", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscribers.id", index=True, ondelete="CASCADE")
    list_id: int = Field(foreign_key="lists.id", index=True, ondelete="CASCADE")
    status: SubscriptionStatus = Field(
        default=SubscriptionStatus.PENDING, sa_type=status_type(SubscriptionStatus), index=True
    )
    topics: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cadence: Cadence = Field(default=Cadence.DAILY, sa_type=status_type(Cadence))
    weekday: int = 0
    send_hour: int = 8
    timezone: str | None = Field(default=None, max_length=64)
    last_sent_at: datetime | None = _ts()
    # When the last digest that reached this subscription was planned: everything that arrived
    # or was published after it is still to be offered (see newsletter/digest/selector.py).
    offered_until: datetime | None = _ts()
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    confirmed_at: datetime | None = _ts()
    unsubscribed_at: datetime | None = _ts()
    unsubscribe_source: UnsubscribeSource | None = Field(
        default=None, sa_type=status_type(UnsubscribeSource)
    )
    # Bumped by every sign-up request awaiting confirmation; confirm links carry it, so a link
    # sent before the latest request no longer confirms anything.
    confirm_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class UnsubscribeEvent(SQLModel, table=True):
    """A record of one unsubscribe: who, from which list (or all), when and how."""

    __tablename__ = "unsubscribe_events"

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int | None = Field(
        default=None, foreign_key="subscribers.id", index=True, ondelete="SET NULL"
    )
    list_id: int | None = Field(default=None, foreign_key="lists.id", ondelete="SET NULL")
    source: UnsubscribeSource = Field(sa_type=status_type(UnsubscribeSource))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Suppression(SQLModel, table=True):
    """An address, domain or address hash that must never be mailed."""

    __tablename__ = "suppressions"

    id: int | None = Field(default=None, primary_key=True)
    value: str = Field(sa_column=Column(String(320), unique=True, nullable=False))
    kind: SuppressionKind = Field(
        default=SuppressionKind.ADDRESS, sa_type=status_type(SuppressionKind)
    )
    reason: SuppressionReason = Field(sa_type=status_type(SuppressionReason))
    note: str = ""
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
