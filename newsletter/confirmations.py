"""Orchestration of confirmation emails: pending subscriptions in, signed links out over SMTP.

Each call records one run of kind ``confirm`` per list with one delivery row per subscription
(sent, deferred, failed, bounced, or skipped when suppressed), so confirmations show in the
same ledger as digests. Nothing is retried automatically: a deferred confirmation is re-sent by
calling this again (``newsletter subscribers resend-confirmations``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from newsletter.compose import sender_of
from newsletter.confirmmail import (
    build_confirmation_template,
    personalise_confirmation,
    render_confirmation,
)
from newsletter.db import session_scope
from newsletter.delivery.mailer import Envelope, Mailer, SendOutcome
from newsletter.delivery.replies import ReplyKind
from newsletter.delivery.verp import make_return_path
from newsletter.links import confirm_url
from newsletter.message import MessageTemplate, new_message_id
from newsletter.models import Delivery, DeliveryStatus, Run, RunKind, RunStatus
from newsletter.runtime import Runtime
from subscribers.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from subscribers.service import mark_bounced, suppressed_filter
from subscribers.tokens import Purpose, make_token

CHUNK = 500


@dataclass
class ConfirmationReport:
    """What one call of send_confirmations did."""

    run_ids: list[int] = field(default_factory=list)
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    bounced: int = 0
    skipped: int = 0  # suppressed, or no longer pending

    @property
    def summary(self) -> str:
        """One line of counts."""
        return (
            f"{self.sent} confirmation(s) sent, {self.deferred} deferred, {self.failed} failed, "
            f"{self.bounced} bounced, {self.skipped} skipped"
        )


@dataclass(frozen=True)
class _Job:
    delivery_id: int
    subscriber_id: int
    list_id: int
    email: str
    name: str
    topics: tuple[str, ...]  # what this person chose; the email names them
    generation: int  # the sign-up request the link answers


def _plan(
    runtime: Runtime, subscription_ids: list[int], report: ConfirmationReport
) -> tuple[list[_Job], dict[int, MailingList]]:
    """Write a confirm run per list with its delivery rows; return what to send."""
    now = runtime.clock()
    jobs: list[_Job] = []
    lists: dict[int, MailingList] = {}
    with session_scope(runtime.engine) as session:
        blocked = suppressed_filter(session, secret=runtime.settings.secret)
        by_list: dict[int, list[dict[str, object]]] = defaultdict(list)
        chosen: dict[int, tuple[tuple[str, ...], int]] = {}  # subscription -> topics, generation
        for start in range(0, len(subscription_ids), 2000):
            chunk = subscription_ids[start : start + 2000]
            rows = session.execute(
                sa_select(
                    col(Subscription.id),
                    col(Subscription.list_id),
                    col(Subscription.status),
                    col(Subscriber.id),
                    col(Subscriber.email),
                    col(Subscriber.status),
                    col(Subscription.topics),
                    col(Subscription.confirm_generation),
                )
                .join(Subscriber, col(Subscriber.id) == col(Subscription.subscriber_id))
                .where(col(Subscription.id).in_(chunk))
            ).all()
            for sub_id, list_id, status, person_id, email, person_status, topics, gen in rows:
                if status != SubscriptionStatus.PENDING:
                    report.skipped += 1
                    continue
                chosen[sub_id] = (tuple(topics or ()), gen)
                stopped = person_status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED)
                by_list[list_id].append(
                    {
                        "subscriber_id": person_id,
                        "subscription_id": sub_id,
                        "email": email,
                        "status": (
                            DeliveryStatus.SKIPPED
                            if stopped or blocked(email)
                            else DeliveryStatus.QUEUED
                        ),
                        "last_error": "suppressed" if stopped or blocked(email) else None,
                        "attempts": 0,
                        "created_at": now,
                    }
                )
        for list_id, rows_for_list in by_list.items():
            mailing_list = session.get(MailingList, list_id)
            if mailing_list is None:
                continue
            lists[list_id] = mailing_list
            run = Run(
                list_id=list_id, kind=RunKind.CONFIRM, status=RunStatus.SENDING, created_at=now
            )
            session.add(run)
            session.flush()
            if run.id is None:
                raise RuntimeError("run flushed without an id")
            report.run_ids.append(run.id)
            for row in rows_for_list:
                row["run_id"] = run.id
            for start in range(0, len(rows_for_list), 2000):
                session.execute(insert(Delivery), rows_for_list[start : start + 2000])
            report.skipped += sum(1 for r in rows_for_list if r["status"] == DeliveryStatus.SKIPPED)
            names = dict(
                session.exec(
                    select(Subscriber.id, Subscriber.name)
                    .join(Delivery, col(Delivery.subscriber_id) == col(Subscriber.id))
                    .where(Delivery.run_id == run.id)
                ).all()
            )
            for delivery_id, subscriber_id, subscription_id, email in session.exec(
                select(
                    Delivery.id, Delivery.subscriber_id, Delivery.subscription_id, Delivery.email
                ).where(Delivery.run_id == run.id, Delivery.status == DeliveryStatus.QUEUED)
            ):
                topics, generation = chosen[subscription_id or 0]
                jobs.append(
                    _Job(
                        delivery_id or 0,
                        subscriber_id or 0,
                        list_id,
                        email,
                        names.get(subscriber_id or 0, ""),
                        topics or tuple(mailing_list.topics),
                        generation,
                    )
                )
    return jobs, lists


async def send_confirmations(
    runtime: Runtime, *, subscription_ids: Collection[int]
) -> ConfirmationReport:
    """Send a confirmation email to each pending, unsuppressed subscription among the ids."""
    report = ConfirmationReport()
    ids = sorted(set(subscription_ids))
    if not ids:
        return report
    mailer: Mailer = runtime.mailer()
    check = getattr(mailer, "check", None)
    if check is not None:
        await check()  # before anything is recorded: an unreachable server writes nothing
    jobs, lists = _plan(runtime, ids, report)
    settings = runtime.settings
    senders = {list_id: sender_of(item) for list_id, item in lists.items()}
    # One template per list and chosen set of topics: a bulk import has few distinct sets.
    templates: dict[tuple[int, tuple[str, ...]], MessageTemplate] = {}
    for job in jobs:
        key = (job.list_id, job.topics)
        if key not in templates:
            item = lists[job.list_id]
            rendered = render_confirmation(
                runtime.env,
                list_name=item.name,
                sender_name=item.from_name,
                sender_address=item.from_address,
                topics=list(job.topics),
                ttl_hours=settings.confirmation_ttl_hours,
            )
            templates[key] = build_confirmation_template(
                rendered, senders[job.list_id], date=runtime.clock()
            )
    ttl = timedelta(hours=settings.confirmation_ttl_hours)
    gate = asyncio.Semaphore(settings.smtp_pool_size)

    async def send_one(job: _Job) -> tuple[_Job, str, SendOutcome]:
        now = runtime.clock()
        sender = senders[job.list_id]
        token = make_token(
            settings.secret,
            Purpose.CONFIRM,
            job.subscriber_id,
            job.list_id,
            now=now,
            ttl=ttl,
            generation=job.generation,
        )
        message_id = new_message_id(sender.address.rsplit("@", 1)[1])
        try:
            data = personalise_confirmation(
                templates[(job.list_id, job.topics)],
                email=job.email,
                name=job.name,
                confirm_url=confirm_url(base_url=settings.base_url, token=token),
                message_id=message_id,
            )
        except ValueError as exc:  # bad stored data fails this row, never the others
            return job, message_id, SendOutcome(ReplyKind.PERMANENT, None, f"not built: {exc}")
        envelope_from = sender.address
        if settings.bounce_domain:
            envelope_from = make_return_path(
                job.delivery_id,
                secret=settings.secret,
                local=settings.bounce_local_part,
                domain=settings.bounce_domain,
            )
        async with gate:
            outcome = await mailer.send(Envelope(envelope_from, job.email, data))
        return job, message_id, outcome

    try:
        for start in range(0, len(jobs), CHUNK):
            results = await asyncio.gather(*(send_one(job) for job in jobs[start : start + CHUNK]))
            _record(runtime, results, report)
    finally:
        await mailer.close()
        _finish(runtime, report.run_ids)
    return report


def _record(
    runtime: Runtime, results: list[tuple[_Job, str, SendOutcome]], report: ConfirmationReport
) -> None:
    now = runtime.clock()
    rows: list[dict[str, object]] = []
    with session_scope(runtime.engine) as session:
        for job, message_id, outcome in results:
            row: dict[str, object] = {"id": job.delivery_id, "attempts": 1, "first_attempt_at": now}
            if outcome.kind is ReplyKind.SENT:
                report.sent += 1
                row.update(status=DeliveryStatus.SENT, message_id=message_id, sent_at=now)
            elif outcome.kind is ReplyKind.TEMPORARY:
                report.deferred += 1
                row.update(status=DeliveryStatus.DEFERRED, last_error=outcome.describe)
            elif outcome.kind is ReplyKind.BAD_MAILBOX:
                report.bounced += 1
                row.update(status=DeliveryStatus.BOUNCED, last_error=outcome.describe)
                mark_bounced(session, subscriber_id=job.subscriber_id, now=now)
            else:
                report.failed += 1
                row.update(status=DeliveryStatus.FAILED, last_error=outcome.describe)
            rows.append(row)
        by_keys: dict[tuple[str, ...], list[dict[str, object]]] = defaultdict(list)
        for row in rows:
            by_keys[tuple(sorted(row))].append(row)
        for items in by_keys.values():
            session.execute(update(Delivery), items)


def _finish(runtime: Runtime, run_ids: list[int]) -> None:
    if not run_ids:
        return
    now = runtime.clock()
    with session_scope(runtime.engine) as session:
        # rows an interrupted call never reached: left for resend-confirmations
        session.execute(
            update(Delivery)
            .where(col(Delivery.run_id).in_(run_ids), Delivery.status == DeliveryStatus.QUEUED)
            .values(status=DeliveryStatus.DEFERRED, last_error="not sent: interrupted")
        )
        session.execute(
            update(Run)
            .where(col(Run.id).in_(run_ids))
            .values(status=RunStatus.DONE, finished_at=now)
        )


def pending_without_confirmation(runtime: Runtime, *, list_id: int) -> list[int]:
    """Pending subscriptions of a list whose last confirmation was not sent (to send again)."""
    with session_scope(runtime.engine) as session:
        sent = (
            select(Delivery.subscription_id)
            .join(Run, col(Run.id) == col(Delivery.run_id))
            .where(
                Run.kind == RunKind.CONFIRM,
                Delivery.status == DeliveryStatus.SENT,
                col(Delivery.subscription_id).is_not(None),  # NOT IN with a NULL matches nothing
            )
        )
        return list(
            session.execute(
                select(col(Subscription.id)).where(
                    Subscription.list_id == list_id,
                    Subscription.status == SubscriptionStatus.PENDING,
                    col(Subscription.id).not_in(sent),
                )
            ).scalars()
        )


def due_confirmation_retries(runtime: Runtime, *, wait: timedelta) -> list[int]:
    """Pending subscriptions whose latest confirmation email was deferred at least ``wait`` ago
    and still within the confirmation link's lifetime: the scheduler sends them again."""
    now = runtime.clock()
    ttl = timedelta(hours=runtime.settings.confirmation_ttl_hours)
    with session_scope(runtime.engine) as session:
        latest = (
            sa_select(
                col(Delivery.subscription_id).label("subscription_id"),
                func.max(Delivery.id).label("last_id"),
            )
            .join(Run, col(Run.id) == col(Delivery.run_id))
            .where(Run.kind == RunKind.CONFIRM, col(Delivery.subscription_id).is_not(None))
            .group_by(col(Delivery.subscription_id))
            .subquery()
        )
        query = (
            sa_select(col(Subscription.id))
            .join(latest, latest.c.subscription_id == col(Subscription.id))
            .join(Delivery, col(Delivery.id) == latest.c.last_id)
            .where(
                Subscription.status == SubscriptionStatus.PENDING,
                Delivery.status == DeliveryStatus.DEFERRED,
                col(Delivery.created_at) <= now - wait,
                col(Delivery.created_at) >= now - ttl,
            )
            .order_by(col(Subscription.id))
        )
        return list(session.execute(query).scalars())
