"""Mailing lists: create, read, update and delete, with their validation rules."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from subscribers.addresses import normalise_email
from subscribers.errors import DuplicateList, InvalidPreference, ListNotEmpty, ListNotFound
from subscribers.models import MailingList, Subscription
from subscribers.names import clean_name
from subscribers.preferences import check_cadence, check_hour, check_timezone, check_weekday


def _check_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not slug or not all(ch.isalnum() or ch in "-_" for ch in slug):
        raise InvalidPreference(f"list slug {slug!r} may only hold letters, digits, - and _")
    return slug


HEX_COLOUR = re.compile(r"#[0-9a-f]{6}")
MAX_FOOTER_CHARS = 1000
BRANDING_FIELDS = (
    "description",
    "logo_url",
    "accent_color",
    "footer_text",
    "postal_address",
    "archive_public",
    "show_images",
)


def check_colour(value: str) -> str:
    """``#rrggbb`` in lower case (``#abc`` is expanded), or InvalidPreference."""
    text = value.strip().lower()
    if len(text) == 4 and text.startswith("#"):
        text = "#" + "".join(ch * 2 for ch in text[1:])
    if not HEX_COLOUR.fullmatch(text):
        raise InvalidPreference(f"accent colour {value[:20]!r} is not of the form #rrggbb")
    return text


def check_logo_url(value: str) -> str | None:
    """An absolute https URL of at most 2000 characters, or None for ""; else InvalidPreference."""
    text = value.strip()
    if not text:
        return None
    parts = urlsplit(text)
    if (
        parts.scheme != "https"
        or not parts.netloc
        or len(text) > 2000
        or any(ch.isspace() or ch in '"<>' for ch in text)
    ):
        raise InvalidPreference("the logo URL must be an absolute https:// address")
    return text


def check_text(value: str, *, field: str, limit: int = MAX_FOOTER_CHARS) -> str:
    """Plain text with normalised line ends, control characters refused, at most ``limit``."""
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise InvalidPreference(f"the {field} holds control characters")
    if len(text) > limit:
        raise InvalidPreference(f"the {field} has {len(text)} characters; at most {limit}")
    return text


def branding_values(
    *,
    description: str | None = None,
    logo_url: str | None = None,
    accent_color: str | None = None,
    footer_text: str | None = None,
    postal_address: str | None = None,
    archive_public: bool | None = None,
    show_images: bool | None = None,
) -> dict[str, object]:
    """The validated branding changes (only the fields given)."""
    values: dict[str, object] = {}
    if description is not None:
        values["description"] = check_text(description, field="description", limit=500)
    if logo_url is not None:
        values["logo_url"] = check_logo_url(logo_url)
    if accent_color is not None:
        values["accent_color"] = check_colour(accent_color)
    if footer_text is not None:
        values["footer_text"] = check_text(footer_text, field="footer text")
    if postal_address is not None:
        values["postal_address"] = check_text(postal_address, field="postal address", limit=500)
    if archive_public is not None:
        values["archive_public"] = archive_public
    if show_images is not None:
        values["show_images"] = show_images
    return values


def _check_offered(topics: Sequence[str], known_topics: Collection[str] | None) -> list[str]:
    offered = list(dict.fromkeys(topic.strip().lower() for topic in topics if topic.strip()))
    if not offered:
        raise InvalidPreference("a list must offer at least one topic")
    if known_topics is not None:
        unknown = [topic for topic in offered if topic not in known_topics]
        if unknown:
            raise InvalidPreference(
                f"unknown topic {unknown[0]!r} (known: {', '.join(sorted(known_topics)) or 'none'})"
            )
    return offered


def create_list(
    session: Session,
    *,
    slug: str,
    name: str,
    from_name: str,
    from_address: str,
    topics: Sequence[str],
    reply_to: str | None = None,
    default_cadence: str = "daily",
    default_weekday: int | str = 0,
    default_send_hour: int | str = 8,
    default_timezone: str = "UTC",
    double_opt_in: bool = True,
    known_topics: Collection[str] | None = None,
) -> MailingList:
    """Create a list after validating its sender, topics (against ``known_topics``) and defaults."""
    slug = _check_slug(slug)
    offered = _check_offered(topics, known_topics)
    name = clean_name(name, field="list name")
    from_name = clean_name(from_name, field="from name")
    if not name:
        raise InvalidPreference("a list needs a name")
    if session.exec(select(MailingList).where(MailingList.slug == slug)).first():
        raise DuplicateList(slug)
    mailing_list = MailingList(
        slug=slug,
        name=name,
        from_name=from_name,
        from_address=normalise_email(from_address),
        reply_to=normalise_email(reply_to) if reply_to else None,
        topics=offered,
        default_cadence=check_cadence(default_cadence),
        default_weekday=check_weekday(default_weekday),
        default_send_hour=check_hour(default_send_hour),
        default_timezone=check_timezone(default_timezone),
        double_opt_in=double_opt_in,
    )
    session.add(mailing_list)
    session.flush()
    return mailing_list


def get_list(session: Session, *, slug: str) -> MailingList:
    """The list with this slug, or ListNotFound."""
    found = session.exec(
        select(MailingList).where(MailingList.slug == slug.strip().lower())
    ).first()
    if found is None:
        raise ListNotFound(slug)
    return found


def all_lists(session: Session) -> list[MailingList]:
    """Every list, by slug."""
    return list(session.exec(select(MailingList).order_by(col(MailingList.slug))))


@dataclass(frozen=True)
class ListUpdate:
    """What changed when a list was updated."""

    mailing_list: MailingList
    changed: tuple[str, ...]
    subscriptions_trimmed: int


def update_list(
    session: Session,
    *,
    slug: str,
    name: str | None = None,
    from_name: str | None = None,
    from_address: str | None = None,
    reply_to: str | None = None,
    topics: Sequence[str] | None = None,
    default_cadence: str | None = None,
    default_weekday: int | str | None = None,
    default_send_hour: int | str | None = None,
    default_timezone: str | None = None,
    double_opt_in: bool | None = None,
    known_topics: Collection[str] | None = None,
    welcome_text: str | None = None,
    **branding: Any,
) -> ListUpdate:
    """Change a list's settings (validated first); topics it stops offering leave subscriptions.

    ``reply_to=""`` removes the Reply-To address, ``welcome_text=""`` the welcome email;
    ``branding`` takes the keyword arguments of ``branding_values`` (``logo_url=""`` removes the
    logo).
    """
    unknown = set(branding) - set(BRANDING_FIELDS)
    if unknown:
        raise TypeError(f"unknown list settings: {', '.join(sorted(unknown))}")
    mailing_list = get_list(session, slug=slug)
    values: dict[str, object] = {}
    if name is not None:
        values["name"] = clean_name(name, field="list name")
        if not values["name"]:
            raise InvalidPreference("a list needs a name")
    if from_name is not None:
        values["from_name"] = clean_name(from_name, field="from name")
    if from_address is not None:
        values["from_address"] = normalise_email(from_address)
    if reply_to is not None:
        values["reply_to"] = normalise_email(reply_to) if reply_to.strip() else None
    if topics is not None:
        values["topics"] = _check_offered(topics, known_topics)
    if default_cadence is not None:
        values["default_cadence"] = check_cadence(default_cadence)
    if default_weekday is not None:
        values["default_weekday"] = check_weekday(default_weekday)
    if default_send_hour is not None:
        values["default_send_hour"] = check_hour(default_send_hour)
    if default_timezone is not None:
        values["default_timezone"] = check_timezone(default_timezone)
    if double_opt_in is not None:
        values["double_opt_in"] = double_opt_in
    if welcome_text is not None:
        text = welcome_text.replace("\r\n", "\n").strip()
        if len(text) > 20_000:
            raise InvalidPreference("the welcome text is longer than 20,000 characters")
        values["welcome_text"] = text or None
    values.update(branding_values(**branding))
    changed = tuple(key for key, value in values.items() if getattr(mailing_list, key) != value)
    trimmed = 0
    if "topics" in changed:
        offered = set(values["topics"])  # type: ignore[call-overload]
        for subscription in session.exec(
            select(Subscription).where(Subscription.list_id == mailing_list.id)
        ):
            kept = [topic for topic in subscription.topics if topic in offered]
            if kept != subscription.topics:
                subscription.topics = kept
                trimmed += 1
    for key in changed:
        setattr(mailing_list, key, values[key])
    session.flush()
    return ListUpdate(mailing_list=mailing_list, changed=changed, subscriptions_trimmed=trimmed)


def subscription_count(session: Session, *, list_id: int) -> int:
    """How many subscriptions (any status) a list has."""
    return int(
        session.exec(
            select(func.count()).select_from(Subscription).where(Subscription.list_id == list_id)
        ).one()
    )


def delete_list(session: Session, *, slug: str, force: bool = False) -> int:
    """Delete a list (one with subscriptions only when ``force``); returns subscriptions removed."""
    mailing_list = get_list(session, slug=slug)
    list_id = mailing_list.id or 0
    count = subscription_count(session, list_id=list_id)
    if count and not force:
        raise ListNotEmpty(mailing_list.slug, count)
    session.exec(delete(Subscription).where(col(Subscription.list_id) == list_id))
    session.exec(delete(MailingList).where(col(MailingList.id) == list_id))
    session.expunge(mailing_list)
    return count
