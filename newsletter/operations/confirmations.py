"""Confirmation emails: pending subscriptions in, one confirm run per list, sent by the engine.

Each call records one run of kind ``confirm`` per list with one delivery row per subscription
(skipped when suppressed), and sends it through the one send engine
(``newsletter/sending/engine.py``): signed, leased and recorded like digests. A deferred
confirmation stays in its run and is retried by the scheduler with the same back-off as any
other row; its link is made when the message is built, so a retry carries a fresh, valid link.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from newsletter.db import session_scope
from newsletter.delivery.mailer import Mailer
from newsletter.models import OPEN_STATES, Delivery, DeliveryStatus, Run, RunKind, RunStatus
from newsletter.operations.runs import make_sender
from newsletter.runtime import Runtime
from newsletter.sending.engine import StopRequest
from subscribers.errors import SubscriberError
from subscribers.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from subscribers.service import get_subscription, suppressed_filter


@dataclass
class ConfirmationReport:
    """What one call of send_confirmations (or send_welcomes) did."""

    what: str = "confirmation"
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
            f"{self.sent} {self.what}(s) sent, {self.deferred} deferred, {self.failed} failed, "
            f"{self.bounced} bounced, {self.skipped} skipped"
        )


def _plan(runtime: Runtime, subscription_ids: list[int], report: ConfirmationReport) -> None:
    """Write a confirm run per list with one row per pending subscription (skipped when the
    person is suppressed, bounced or complained); the engine sends them."""
    now = runtime.clock()
    with session_scope(runtime.engine) as session:
        blocked = suppressed_filter(session, secret=runtime.settings.links.secret)
        by_list: dict[int, list[dict[str, object]]] = defaultdict(list)
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
                )
                .join(Subscriber, col(Subscriber.id) == col(Subscription.subscriber_id))
                .where(col(Subscription.id).in_(chunk))
            ).all()
            for sub_id, list_id, status, person_id, email, person_status in rows:
                if status != SubscriptionStatus.PENDING:
                    report.skipped += 1
                    continue
                stopped = person_status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED)
                refused = stopped or blocked(email)
                by_list[list_id].append(
                    {
                        "subscriber_id": person_id,
                        "subscription_id": sub_id,
                        "email": email,
                        "status": DeliveryStatus.SKIPPED if refused else DeliveryStatus.QUEUED,
                        "last_error": "suppressed" if refused else None,
                        "attempts": 0,
                        "created_at": now,
                    }
                )
        _supersede(session, [r["subscription_id"] for rows in by_list.values() for r in rows], now)
        for list_id, rows_for_list in by_list.items():
            if session.get(MailingList, list_id) is None:
                continue
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
            if all(r["status"] == DeliveryStatus.SKIPPED for r in rows_for_list):
                run.status, run.finished_at = RunStatus.DONE, now


def _supersede(session: Session, subscription_ids: list[object], now: datetime) -> None:
    """A new confirmation replaces older ones still waiting for a retry: one email, not two."""
    waiting = (
        select(Delivery.id)
        .join(Run, col(Run.id) == col(Delivery.run_id))
        .where(
            Run.kind == RunKind.CONFIRM,
            col(Delivery.subscription_id).in_(subscription_ids),
            col(Delivery.status).in_([DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED]),
        )
    )
    session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(waiting))
        .values(status=DeliveryStatus.CANCELLED, last_error="replaced by a newer confirmation")
        .execution_options(synchronize_session=False)
    )
    still_open = select(Delivery.id).where(
        col(Delivery.run_id) == col(Run.id), col(Delivery.status).in_(OPEN_STATES)
    )
    session.execute(
        update(Run)
        .where(
            col(Run.kind) == RunKind.CONFIRM,
            col(Run.status) == RunStatus.SENDING,
            ~still_open.exists(),
        )
        .values(status=RunStatus.DONE, finished_at=now)
        .execution_options(synchronize_session=False)
    )


async def send_confirmations(
    runtime: Runtime,
    *,
    subscription_ids: Collection[int],
    stopping: StopRequest | None = None,
) -> ConfirmationReport:
    """Send a confirmation email to each pending, unsuppressed subscription among the ids,
    through the one send engine: signed, leased, recorded; deferred ones are retried by the
    scheduler like any other row."""
    report = ConfirmationReport()
    ids = sorted(set(subscription_ids))
    if not ids:
        return report
    mailer = runtime.mailer()
    try:
        await mailer.check()  # before anything is recorded: an unreachable server writes nothing
        _plan(runtime, ids, report)
        await _send_runs(runtime, mailer, report, stopping)
    finally:
        await mailer.close()
    return report


async def _send_runs(
    runtime: Runtime, mailer: Mailer, report: ConfirmationReport, stopping: StopRequest | None
) -> None:
    """Send the report's runs through the engine, adding up their outcomes."""
    signer = None
    try:
        sender, signer = make_sender(runtime, mailer, stopping=stopping)
        for run_id in report.run_ids:
            sent = await sender.send_run(run_id)
            report.sent += sent.sent
            report.deferred += sent.deferred
            report.failed += sent.failed
            report.bounced += sent.bounced
            report.skipped += sent.skipped
    finally:
        if signer is not None:
            signer.close()


def _plan_welcomes(runtime: Runtime, subscription_ids: list[int]) -> list[int]:
    """A welcome run per list that has a welcome text, with one row per active subscription
    that never had a welcome; returns the run ids. Asking twice plans nothing more."""
    now = runtime.clock()
    welcomed = (
        select(Delivery.subscription_id)
        .join(Run, col(Run.id) == col(Delivery.run_id))
        .where(
            Run.kind == RunKind.WELCOME,
            col(Delivery.status) != DeliveryStatus.CANCELLED,
            col(Delivery.subscription_id).is_not(None),  # NOT IN with a NULL matches nothing
        )
    )
    run_ids: list[int] = []
    with session_scope(runtime.engine) as session:
        rows = session.execute(
            sa_select(
                col(Subscription.id),
                col(Subscription.list_id),
                col(Subscriber.id),
                col(Subscriber.email),
            )
            .join(Subscriber, col(Subscriber.id) == col(Subscription.subscriber_id))
            .join(MailingList, col(MailingList.id) == col(Subscription.list_id))
            .where(
                col(Subscription.id).in_(subscription_ids),
                col(Subscription.status) == SubscriptionStatus.ACTIVE,
                col(Subscriber.status) == SubscriberStatus.ACTIVE,
                col(MailingList.welcome_text).is_not(None),
                col(Subscription.id).not_in(welcomed),
            )
        ).all()
        by_list: dict[int, list[dict[str, object]]] = defaultdict(list)
        for sub_id, list_id, person_id, email in rows:
            by_list[list_id].append(
                {
                    "subscriber_id": person_id,
                    "subscription_id": sub_id,
                    "email": email,
                    "status": DeliveryStatus.QUEUED,
                    "attempts": 0,
                    "created_at": now,
                }
            )
        for list_id, list_rows in by_list.items():
            run = Run(
                list_id=list_id, kind=RunKind.WELCOME, status=RunStatus.SENDING, created_at=now
            )
            session.add(run)
            session.flush()
            if run.id is None:
                raise RuntimeError("run flushed without an id")
            run_ids.append(run.id)
            session.execute(insert(Delivery), [row | {"run_id": run.id} for row in list_rows])
    return run_ids


async def send_welcomes(
    runtime: Runtime, *, subscription_ids: Collection[int], stopping: StopRequest | None = None
) -> ConfirmationReport:
    """Send the list's welcome email (when it has one) to each newly confirmed subscription
    among the ids, through the one send engine; a subscription is welcomed once."""
    report = ConfirmationReport(what="welcome email")
    ids = sorted(set(subscription_ids))
    if not ids:
        return report
    report.run_ids = await asyncio.to_thread(_plan_welcomes, runtime, ids)
    if report.run_ids:
        # A server that cannot be reached now leaves the rows queued: the scheduler sends them.
        mailer = runtime.mailer()
        try:
            await mailer.check()
            await _send_runs(runtime, mailer, report, stopping)
        finally:
            await mailer.close()
    return report


def pending_without_confirmation(runtime: Runtime, *, list_id: int) -> list[int]:
    """Pending subscriptions of a list with no confirmation sent and none still on its way
    (a deferred one is retried by the scheduler): the ones to send again."""
    with session_scope(runtime.engine) as session:
        sent = (
            select(Delivery.subscription_id)
            .join(Run, col(Run.id) == col(Delivery.run_id))
            .where(
                Run.kind == RunKind.CONFIRM,
                col(Delivery.status).in_([DeliveryStatus.SENT, *OPEN_STATES]),
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


async def resend_confirmation(runtime: Runtime, *, email: str, slug: str) -> ConfirmationReport:
    """Send a pending subscription its confirmation email again (SubscriberError when it is not
    pending)."""
    with session_scope(runtime.engine) as session:
        subscription = get_subscription(session, email=email, slug=slug)
        if subscription.status != "pending":
            raise SubscriberError(f"{email} is {subscription.status} on {slug}, not pending")
        subscription_id = subscription.id or 0
    return await send_confirmations(runtime, subscription_ids=[subscription_id])
