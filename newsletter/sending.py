"""Drive a planned run through a Mailer: claim rows, personalise, send, record (async shell)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jinja2 import Environment
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from newsletter.compose import LinkSettings, template_for_digest
from newsletter.db import session_scope
from newsletter.delivery.ledger import (
    ClaimedDelivery,
    DeliveryResult,
    claim_batch,
    digest_article_ids,
    record_results,
    run_counts,
)
from newsletter.delivery.mailer import Envelope, Mailer, SendOutcome
from newsletter.delivery.replies import ReplyKind, retry_delay
from newsletter.errors import DeliveryError
from newsletter.links import personal_links
from newsletter.message import MessageTemplate, Recipient, personalise
from newsletter.models import Delivery, DeliveryStatus, Digest, Run, RunStatus
from newsletter.render import fill_markers
from subscribers.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from subscribers.service import mark_bounced, suppressed_filter

Clock = Callable[[], datetime]
STOPPED = "unsubscribed or suppressed after the run was planned"


def stopped_deliveries(
    session: Session, claimed: list[ClaimedDelivery], *, secret: bytes
) -> set[int]:
    """Claimed rows that must not go out any more: the subscription or subscriber is no longer
    active, or the address was suppressed since planning."""
    person_ids = [c.subscriber_id for c in claimed if c.subscriber_id is not None]
    if not person_ids:
        return set()
    active_people = set(
        session.exec(
            select(Subscriber.id).where(
                col(Subscriber.id).in_(person_ids), Subscriber.status == SubscriberStatus.ACTIVE
            )
        )
    )
    sub_ids = [c.subscription_id for c in claimed if c.subscription_id is not None]
    active_subs = set(
        session.exec(
            select(Subscription.id).where(
                col(Subscription.id).in_(sub_ids),
                Subscription.status == SubscriptionStatus.ACTIVE,
            )
        )
    )
    blocked = suppressed_filter(session, secret=secret)
    return {
        c.id
        for c in claimed
        if c.subscriber_id is not None
        and (
            c.subscriber_id not in active_people
            or (c.subscription_id is not None and c.subscription_id not in active_subs)
            or blocked(c.email)
        )
    }


@dataclass(frozen=True)
class SendPolicy:
    """How the sender behaves; built from the settings by the entry point."""

    base_url: str
    secret: bytes
    bounce_domain: str | None = None
    bounce_local_part: str = "bounces"
    batch_size: int = 500
    lease: timedelta = timedelta(minutes=5)
    retry_base_seconds: float = 60.0
    retry_cap_seconds: float = 6 * 3600.0
    retry_max_age: timedelta = timedelta(hours=96)
    pause_after_failures: int = 50


@dataclass
class SendReport:
    """What one pass over a run did."""

    run_id: int
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    bounced: int = 0
    skipped: int = 0  # unsubscribed or suppressed after the run was planned
    templates_built: int = 0
    status: str = RunStatus.SENDING
    counts: dict[str, int] = field(default_factory=dict)


def worker_name() -> str:
    """A name for this sender process, recorded on the rows it claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(1 << 16):04x}"


def message_id_for(delivery_id: int, secret: bytes, domain: str) -> str:
    """A Message-ID stable for a delivery, so a re-sent message is recognisably the same."""
    tag = hashlib.sha256(secret + b"msgid" + str(delivery_id).encode()).hexdigest()[:12]
    return f"nl.{delivery_id}.{tag}@{domain}"


class RunSender:
    """Sends the due rows of one run; several RunSenders (processes) may share a run."""

    def __init__(
        self,
        engine: Engine,
        env: Environment,
        mailer: Mailer,
        policy: SendPolicy,
        *,
        clock: Clock,
        worker: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.env = env
        self.mailer = mailer
        self.policy = policy
        self.clock = clock
        self.worker = worker or worker_name()
        self.rng = rng or random.Random()
        self._templates: dict[int, MessageTemplate] = {}
        self._articles: dict[int, tuple[int, ...]] = {}
        self._lists: dict[int, MailingList] = {}
        self._stopped: set[int] = set()

    def _envelope_sender(self, mailing_list: MailingList, delivery_id: int) -> str:
        if self.policy.bounce_domain:
            from newsletter.delivery.verp import make_return_path

            return make_return_path(
                delivery_id,
                secret=self.policy.secret,
                local=self.policy.bounce_local_part,
                domain=self.policy.bounce_domain,
            )
        return mailing_list.from_address

    def _prepare(self, run_id: int, claimed: list[ClaimedDelivery]) -> dict[int, str]:
        """Build missing templates (once per digest) and load recipient names."""
        with session_scope(self.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                raise LookupError(f"run {run_id} is gone")
            if run.list_id not in self._lists:
                mailing_list = session.get(MailingList, run.list_id)
                if mailing_list is None:
                    raise LookupError(f"list of run {run_id} is gone")
                self._lists[run.list_id] = mailing_list
            missing = {c.digest_id for c in claimed if c.digest_id is not None} - set(
                self._templates
            )
            links = LinkSettings(base_url=self.policy.base_url, secret=self.policy.secret)
            for digest_id in sorted(missing):
                template, rendered = template_for_digest(
                    session, self.env, digest_id=digest_id, links=links, now=self.clock()
                )
                self._templates[digest_id] = template
                digest = session.get(Digest, digest_id)
                if digest is not None and digest.archive_html is None:
                    digest.archive_html = fill_markers(
                        rendered.html,
                        {"name": "there", "unsubscribe_url": "#", "preferences_url": "#"},
                    )
            self._articles.update(digest_article_ids(session, sorted(missing)))
            self._stopped.update(stopped_deliveries(session, claimed, secret=self.policy.secret))
            ids = [c.subscriber_id for c in claimed if c.subscriber_id is not None]
            names = dict(
                session.exec(
                    select(Subscriber.id, Subscriber.name).where(col(Subscriber.id).in_(ids))
                ).all()
            )
        return {k: v for k, v in names.items() if k is not None}

    async def _send_one(
        self, run: Run, claimed: ClaimedDelivery, names: dict[int, str]
    ) -> tuple[ClaimedDelivery, SendOutcome, str | None]:
        mailing_list = self._lists[run.list_id]
        if claimed.id in self._stopped:
            return claimed, SendOutcome(ReplyKind.PERMANENT, None, STOPPED), None
        if claimed.digest_id is None or claimed.digest_id not in self._templates:
            return claimed, SendOutcome(ReplyKind.PERMANENT, None, "digest missing"), None
        template = self._templates[claimed.digest_id]
        links = personal_links(
            base_url=self.policy.base_url,
            secret=self.policy.secret,
            subscriber_id=claimed.subscriber_id or 0,
            list_id=run.list_id,
            mailto_domain=template.domain,
        )
        message_id = message_id_for(claimed.id, self.policy.secret, template.domain)
        recipient = Recipient(
            email=claimed.email, name=names.get(claimed.subscriber_id or 0, ""), links=links
        )
        data = personalise(template, recipient, message_id)
        envelope = Envelope(
            sender=self._envelope_sender(mailing_list, claimed.id),
            recipient=claimed.email,
            data=data,
        )
        return claimed, await self.mailer.send(envelope), message_id

    def _result(
        self, claimed: ClaimedDelivery, outcome: SendOutcome, message_id: str | None, now: datetime
    ) -> DeliveryResult:
        if outcome.kind is ReplyKind.SENT:
            return DeliveryResult(claimed.id, DeliveryStatus.SENT, message_id=message_id)
        if claimed.id in self._stopped:
            return DeliveryResult(claimed.id, DeliveryStatus.SKIPPED, error=STOPPED)
        error = outcome.describe
        if outcome.kind is ReplyKind.TEMPORARY:
            first = claimed.first_attempt_at or now
            if now - first >= self.policy.retry_max_age:
                return DeliveryResult(claimed.id, DeliveryStatus.FAILED, error=f"gave up: {error}")
            delay = retry_delay(
                claimed.attempts,
                base=self.policy.retry_base_seconds,
                cap=self.policy.retry_cap_seconds,
                rng=self.rng,
            )
            return DeliveryResult(
                claimed.id,
                DeliveryStatus.DEFERRED,
                error=error,
                next_attempt_at=now + timedelta(seconds=delay),
            )
        if outcome.kind is ReplyKind.BAD_MAILBOX:
            return DeliveryResult(claimed.id, DeliveryStatus.BOUNCED, error=error)
        return DeliveryResult(claimed.id, DeliveryStatus.FAILED, error=error)

    def _record(
        self,
        run_id: int,
        results: list[DeliveryResult],
        claimed: dict[int, ClaimedDelivery],
        pause_reason: str | None,
    ) -> str:
        now = self.clock()
        with session_scope(self.engine) as session:
            record_results(session, results, claimed, now=now, digest_articles=self._articles)
            for result in results:
                subscriber_id = claimed[result.delivery_id].subscriber_id
                if result.status == DeliveryStatus.BOUNCED and subscriber_id is not None:
                    mark_bounced(session, subscriber_id=subscriber_id, now=now)
            run = session.get(Run, run_id)
            if run is None:
                return RunStatus.CANCELLED
            if pause_reason and run.status == RunStatus.SENDING:
                run.status = RunStatus.PAUSED
                run.pause_reason = pause_reason
            return str(run.status)

    def _claim(self, run_id: int) -> tuple[str, list[ClaimedDelivery]]:
        now = self.clock()
        with session_scope(self.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                raise LookupError(f"run {run_id} is gone")
            if run.status != RunStatus.SENDING:
                return str(run.status), []
            claimed = claim_batch(
                session,
                run_id=run_id,
                worker=self.worker,
                now=now,
                limit=self.policy.batch_size,
                lease=self.policy.lease,
            )
            return str(run.status), claimed

    def _finish_if_done(self, run_id: int) -> tuple[str, dict[str, int]]:
        with session_scope(self.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                return RunStatus.CANCELLED, {}
            counts = run_counts(session, run_id=run_id)
            open_rows = counts["queued"] + counts["deferred"] + counts["sending"]
            if run.status == RunStatus.SENDING and open_rows == 0:
                run.status = RunStatus.DONE
                run.finished_at = self.clock()
            return str(run.status), counts

    async def send_run(self, run_id: int) -> SendReport:
        """Send every due row of the run until none is left (deferred rows wait for later)."""
        report = SendReport(run_id=run_id)
        consecutive_failures = 0
        while True:
            status, claimed = await asyncio.to_thread(self._claim, run_id)
            if not claimed:
                break
            names = await asyncio.to_thread(self._prepare, run_id, claimed)
            with session_scope(self.engine) as session:
                run = session.get(Run, run_id)
            if run is None:
                break
            outcomes = await asyncio.gather(*(self._send_one(run, c, names) for c in claimed))
            now = self.clock()
            results = []
            pause_reason = None
            for delivery, outcome, message_id in outcomes:
                result = self._result(delivery, outcome, message_id, now)
                results.append(result)
                if result.status == DeliveryStatus.SENT:
                    report.sent += 1
                    consecutive_failures = 0
                    continue
                if result.status == DeliveryStatus.SKIPPED:
                    report.skipped += 1
                    continue
                if result.status == DeliveryStatus.DEFERRED:
                    report.deferred += 1
                elif result.status == DeliveryStatus.BOUNCED:
                    report.bounced += 1
                else:
                    report.failed += 1
                if outcome.kind in (ReplyKind.TEMPORARY, ReplyKind.POLICY):
                    consecutive_failures += 1
                if consecutive_failures >= self.policy.pause_after_failures and not pause_reason:
                    pause_reason = (
                        f"paused after {consecutive_failures} failures in a row; "
                        f"last: {outcome.describe}"
                    )
            by_id = {c.id: c for c in claimed}
            status = await asyncio.to_thread(self._record, run_id, results, by_id, pause_reason)
            if status != RunStatus.SENDING:
                break
        report.templates_built = len(self._templates)
        report.status, report.counts = await asyncio.to_thread(self._finish_if_done, run_id)
        return report


def pending_rows(session: Session, run_id: int) -> int:
    """Rows of the run that are not final yet."""
    return len(
        session.exec(
            select(Delivery.id).where(
                Delivery.run_id == run_id,
                col(Delivery.status).in_(
                    [DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING]
                ),
            )
        ).all()
    )


__all__ = ["DeliveryError", "RunSender", "SendPolicy", "SendReport", "pending_rows"]
