"""What each kind of outgoing message supplies to the one send engine: how it is built, and who
must no longer get it. Digests (manual, scheduled, test and dry runs), confirmation emails and
welcome emails.

The engine (``newsletter/sending/engine.py``) claims rows, asks the run's kind to ``prepare`` the
claimed rows (database work, once per batch: templates, names), ``build`` each message (pure
substitution into a prebuilt template) and, whenever the audience changed, which held rows are
``stopped``. Everything else (leases, signing, sending, recording, retries) is the engine's.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from jinja2 import Environment
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from newsletter.delivery.verp import make_return_path
from newsletter.digest.compose import LinkSettings, sender_of, template_for_digest
from newsletter.digest.confirmmail import (
    build_confirmation_template,
    personalise_confirmation,
    render_confirmation,
)
from newsletter.digest.links import confirm_url, personal_links
from newsletter.digest.message import MessageTemplate, Recipient, build_template, personalise
from newsletter.digest.render import render_welcome
from newsletter.ledger.record import ClaimedDelivery, digest_article_ids
from newsletter.models import DIGEST_KINDS, Installation, Run, RunKind, Topic
from newsletter.publish.notes import note_html
from subscribers.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from subscribers.service import suppressed_filter
from subscribers.tokens import Purpose, make_token

STOPPED = "unsubscribed or suppressed after the run was planned"
NOT_PENDING = "no longer waiting for confirmation"


class Policy(Protocol):
    """What building needs from the settings (the engine's SendPolicy provides it)."""

    @property
    def base_url(self) -> str: ...
    @property
    def secret(self) -> bytes: ...
    @property
    def bounce_domain(self) -> str | None: ...
    @property
    def bounce_local_part(self) -> str: ...
    @property
    def confirmation_ttl(self) -> timedelta: ...


@dataclass(frozen=True)
class Built:
    """One message ready to sign and send."""

    sender: str  # the envelope sender (a VERP return path when a bounce domain is set)
    data: bytes
    message_id: str


def message_id_for(delivery_id: int, secret: bytes, domain: str, installation: str) -> str:
    """A Message-ID stable for a delivery (a re-sent message is the same message, and bounces
    find their delivery by it) and unique across installations: it hashes the installation's
    random token (``installation_token``) as well as the secret, which copies may share."""
    if not installation:
        raise ValueError("installation token is empty")
    material = b"\0".join((b"msgid", secret, installation.encode(), str(delivery_id).encode()))
    tag = hashlib.sha256(material).hexdigest()[:16]
    return f"nl.{delivery_id}.{tag}@{domain}"


def installation_token(session: Session) -> str:
    """This installation's random token (migration 0017 draws it; drawn here if missing)."""
    row = session.get(Installation, 1)
    if row is not None:
        return row.token
    try:
        with session.begin_nested():  # another process may draw it at the same moment
            session.add(Installation(id=1, token=secrets.token_hex(16)))
    except IntegrityError:
        pass
    drawn = session.get(Installation, 1, populate_existing=True)
    if drawn is None:
        raise LookupError("the installation token could not be stored")
    return drawn.token


class MessageKind(Protocol):
    """How one kind of message is built; the engine does the rest."""

    records_history: bool  # sent rows record sent articles and move the offer cursor
    templates_built: int  # message templates rendered so far (one premailer call each)

    def prepare(self, session: Session, rows: Sequence[ClaimedDelivery], now: datetime) -> None:
        """Load what building these rows needs (runs on the engine's database thread)."""
        ...

    def build(self, row: ClaimedDelivery) -> Built:
        """The message for one row; ValueError or LookupError fails only this row."""
        ...

    def stopped(self, session: Session, rows: Sequence[ClaimedDelivery]) -> dict[int, str]:
        """Rows that must not go out any more, with the reason recorded on them."""
        ...

    def articles(self) -> dict[int, tuple[int, ...]]:
        """Article ids per digest id, for the rows' sent-article records."""
        ...


class _Base:
    templates_built = 0

    def __init__(self, run: Run, mailing_list: MailingList, policy: Policy) -> None:
        self.run = run
        self.list = mailing_list
        self.policy = policy
        self.domain = mailing_list.from_address.rsplit("@", 1)[1]
        self.installation = ""

    def load_installation(self, session: Session) -> None:
        """Read the installation's token once (Message-IDs hash it)."""
        if not self.installation:
            self.installation = installation_token(session)

    def message_id(self, delivery_id: int, domain: str) -> str:
        return message_id_for(delivery_id, self.policy.secret, domain, self.installation)

    def envelope_sender(self, delivery_id: int) -> str:
        policy = self.policy
        if policy.bounce_domain:
            return make_return_path(
                delivery_id,
                secret=policy.secret,
                local=policy.bounce_local_part,
                domain=policy.bounce_domain,
            )
        return self.list.from_address

    def articles(self) -> dict[int, tuple[int, ...]]:
        return {}


def _blocked(session: Session, rows: Sequence[ClaimedDelivery], secret: bytes) -> dict[int, str]:
    blocked = suppressed_filter(session, secret=secret)
    return {row.id: STOPPED for row in rows if blocked(row.email)}


class DigestMessages(_Base):
    """Digests: one template per distinct digest, personal links per recipient."""

    def __init__(
        self, run: Run, mailing_list: MailingList, policy: Policy, env: Environment
    ) -> None:
        super().__init__(run, mailing_list, policy)
        self.env = env
        self.records_history = run.kind in DIGEST_KINDS
        self._templates: dict[int, MessageTemplate] = {}
        self._unbuildable: dict[int, str] = {}  # digest id -> why its message cannot be built
        self._articles: dict[int, tuple[int, ...]] = {}
        self._names: dict[int, str] = {}
        self.templates_built = 0

    def prepare(self, session: Session, rows: Sequence[ClaimedDelivery], now: datetime) -> None:
        self.load_installation(session)
        wanted = {r.digest_id for r in rows if r.digest_id is not None}
        missing = wanted - set(self._templates) - set(self._unbuildable)
        links = LinkSettings(base_url=self.policy.base_url, secret=self.policy.secret)
        for digest_id in sorted(missing):
            try:
                template, _ = template_for_digest(
                    session, self.env, digest_id=digest_id, links=links, now=now
                )
            except (ValueError, LookupError, UnicodeError) as exc:
                # Bad stored data (a sender name with a line break, say) fails this digest's
                # rows, never the whole pass.
                self._unbuildable[digest_id] = str(exc)
                continue
            self.templates_built += 1
            self._templates[digest_id] = template
        built = sorted(missing - set(self._unbuildable))
        if built:
            self._articles.update(digest_article_ids(session, built))
        self._load_names(session, rows)

    def _load_names(self, session: Session, rows: Sequence[ClaimedDelivery]) -> None:
        ids = [r.subscriber_id for r in rows if r.subscriber_id is not None]
        if ids:
            found = session.exec(
                select(Subscriber.id, Subscriber.name).where(col(Subscriber.id).in_(ids))
            ).all()
            self._names.update({k: v for k, v in found if k is not None})

    def build(self, row: ClaimedDelivery) -> Built:
        if row.digest_id in self._unbuildable:
            raise ValueError(self._unbuildable[row.digest_id])
        if row.digest_id is None or row.digest_id not in self._templates:
            raise LookupError("digest missing")
        return self._personalise(self._templates[row.digest_id], row)

    def _personalise(self, template: MessageTemplate, row: ClaimedDelivery) -> Built:
        links = personal_links(
            base_url=self.policy.base_url,
            secret=self.policy.secret,
            subscriber_id=row.subscriber_id or 0,
            list_id=self.run.list_id,
            mailto_domain=template.domain,
        )
        message_id = self.message_id(row.id, template.domain)
        name = self._names.pop(row.subscriber_id, "") if row.subscriber_id else ""
        data = personalise(template, Recipient(email=row.email, name=name, links=links), message_id)
        return Built(self.envelope_sender(row.id), data, message_id)

    def stopped(self, session: Session, rows: Sequence[ClaimedDelivery]) -> dict[int, str]:
        """Rows whose subscription or subscriber is no longer active, or whose address was
        suppressed since planning (a test send's row has no subscriber: suppression only)."""
        stopped = _blocked(session, rows, self.policy.secret)
        people = [r.subscriber_id for r in rows if r.subscriber_id is not None]
        if not people:
            return stopped
        active_people = set(
            session.exec(
                select(Subscriber.id).where(
                    col(Subscriber.id).in_(people), Subscriber.status == SubscriberStatus.ACTIVE
                )
            )
        )
        subscriptions = [r.subscription_id for r in rows if r.subscription_id is not None]
        active_subs = set(
            session.exec(
                select(Subscription.id).where(
                    col(Subscription.id).in_(subscriptions),
                    Subscription.status == SubscriptionStatus.ACTIVE,
                )
            )
        )
        for row in rows:
            if row.subscriber_id is None:
                continue
            if row.subscriber_id not in active_people or (
                row.subscription_id is not None and row.subscription_id not in active_subs
            ):
                stopped[row.id] = STOPPED
        return stopped

    def articles(self) -> dict[int, tuple[int, ...]]:
        return self._articles


@dataclass(frozen=True)
class _Pending:
    name: str
    topics: tuple[str, ...]  # what this person chose; the email names them
    generation: int  # the sign-up request the link answers


class ConfirmationMessages(_Base):
    """Double opt-in emails: one template per chosen set of topics, a signed link each."""

    records_history = False

    def __init__(
        self, run: Run, mailing_list: MailingList, policy: Policy, env: Environment
    ) -> None:
        super().__init__(run, mailing_list, policy)
        self.env = env
        self._templates: dict[tuple[str, ...], MessageTemplate] = {}
        self._pending: dict[int, _Pending] = {}  # subscription id -> what the email says
        self._now = datetime.min

    def prepare(self, session: Session, rows: Sequence[ClaimedDelivery], now: datetime) -> None:
        self.load_installation(session)
        self._now = now
        ids = [r.subscription_id for r in rows if r.subscription_id is not None]
        found = session.exec(
            select(
                Subscription.id,
                Subscription.topics,
                Subscription.confirm_generation,
                Subscriber.name,
            )
            .join(Subscriber, col(Subscriber.id) == col(Subscription.subscriber_id))
            .where(col(Subscription.id).in_(ids))
        ).all()
        sender = sender_of(self.list, base_url=self.policy.base_url)
        for sub_id, topics, generation, name in found:
            chosen = tuple(topics or ()) or tuple(self.list.topics)
            self._pending[sub_id or 0] = _Pending(name, chosen, generation)
            if chosen not in self._templates:
                self.templates_built += 1
                rendered = render_confirmation(
                    self.env,
                    list_name=self.list.name,
                    sender_name=self.list.from_name,
                    sender_address=self.list.from_address,
                    topics=list(chosen),
                    ttl_hours=self.policy.confirmation_ttl.total_seconds() / 3600,
                )
                self._templates[chosen] = build_confirmation_template(rendered, sender, date=now)

    def build(self, row: ClaimedDelivery) -> Built:
        pending = self._pending.pop(row.subscription_id or 0, None)
        if pending is None or row.subscriber_id is None:
            raise LookupError("subscription is gone")
        token = make_token(
            self.policy.secret,
            Purpose.CONFIRM,
            row.subscriber_id,
            self.run.list_id,
            now=self._now,
            ttl=self.policy.confirmation_ttl,
            generation=pending.generation,
        )
        message_id = self.message_id(row.id, self.domain)
        data = personalise_confirmation(
            self._templates[pending.topics],
            email=row.email,
            name=pending.name,
            confirm_url=confirm_url(base_url=self.policy.base_url, token=token),
            message_id=message_id,
        )
        return Built(self.envelope_sender(row.id), data, message_id)

    def stopped(self, session: Session, rows: Sequence[ClaimedDelivery]) -> dict[int, str]:
        """Rows whose subscription is no longer pending (confirmed, unsubscribed, gone) or
        whose person bounced, complained or was suppressed."""
        stopped = _blocked(session, rows, self.policy.secret)
        ids = [r.subscription_id for r in rows if r.subscription_id is not None]
        waiting = set(
            session.exec(
                select(Subscription.id)
                .join(Subscriber, col(Subscriber.id) == col(Subscription.subscriber_id))
                .where(
                    col(Subscription.id).in_(ids),
                    Subscription.status == SubscriptionStatus.PENDING,
                    col(Subscriber.status).not_in(
                        [SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED]
                    ),
                )
            )
        )
        for row in rows:
            if row.id not in stopped and row.subscription_id not in waiting:
                stopped[row.id] = NOT_PENDING
        return stopped


class WelcomeMessages(DigestMessages):
    """The list's welcome email: one template per run (naming the list's topics), personal
    links per recipient; stopped for whoever is no longer active."""

    def prepare(self, session: Session, rows: Sequence[ClaimedDelivery], now: datetime) -> None:
        self.load_installation(session)
        if not self._templates:
            text = self.list.welcome_text or ""
            names = _topic_names(session)
            rendered = render_welcome(
                self.env,
                list_name=self.list.name,
                sender_name=self.list.from_name,
                sender_address=self.list.from_address,
                topics=[names.get(topic, topic) for topic in self.list.topics],
                welcome_text=text,
                welcome_html=note_html(text),
            )
            sender = sender_of(self.list, base_url=self.policy.base_url)
            self._templates[0] = build_template(rendered, sender, date=now)
            self.templates_built += 1
        self._load_names(session, rows)

    def build(self, row: ClaimedDelivery) -> Built:
        return self._personalise(self._templates[0], row)


def _topic_names(session: Session) -> dict[str, str]:
    return {topic.slug: topic.name for topic in session.exec(select(Topic))}


def kind_for(session: Session, run: Run, policy: Policy, env: Environment) -> MessageKind:
    """The message kind of a run."""
    mailing_list = session.get(MailingList, run.list_id)
    if mailing_list is None:
        raise LookupError(f"list of run {run.id} is gone")
    if run.kind == RunKind.CONFIRM:
        return ConfirmationMessages(run, mailing_list, policy, env)
    if run.kind == RunKind.WELCOME:
        return WelcomeMessages(run, mailing_list, policy, env)
    return DigestMessages(run, mailing_list, policy, env)
