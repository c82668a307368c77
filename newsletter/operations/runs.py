"""Orchestration: the only place that ties database, rendering and delivery together."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

from sqlmodel import Session, col, select

from newsletter.db import session_scope
from newsletter.delivery.mailer import Mailer
from newsletter.delivery.pool import ServerPool
from newsletter.digest.compose import digest_view, sender_of
from newsletter.digest.links import personal_links
from newsletter.digest.message import Recipient, build_template, new_message_id, personalise
from newsletter.digest.render import RenderedDigest, render_digest
from newsletter.digest.selector import Selection, select_articles
from newsletter.errors import DeliveryError
from newsletter.ledger import runstate
from newsletter.ledger.planning import (
    OVERLAP,
    Plan,
    add_digest,
    load_already_sent,
    load_candidates,
    plan_run,
)
from newsletter.ledger.runstate import RunDetail, RunSummary, unpause_run
from newsletter.ledger.serverstate import load_server_states, save_server_states
from newsletter.models import Delivery, DeliveryStatus, Run, RunKind, RunStatus
from newsletter.runtime import Runtime
from newsletter.sending.engine import RunSender, SendPolicy, SendReport, StopRequest
from subscribers.addresses import normalise_email
from subscribers.errors import SubscriptionNotFound, Suppressed
from subscribers.models import MailingList, Subscriber, Subscription
from subscribers.service import get_list, is_suppressed

if typing.TYPE_CHECKING:
    from newsletter.delivery.signing import SigningPool  # dkim + dnspython: ~0.1 s to import


@dataclass(frozen=True)
class SendSummary:
    """What ``send`` did: the plan and the delivery pass."""

    plan: Plan
    report: SendReport | None
    dry_run: bool = False


def _plan(runtime: Runtime, session: Session, *, slug: str, kind: RunKind = RunKind.MANUAL) -> Plan:
    return plan_run(
        session,
        mailing_list=get_list(session, slug=slug),
        now=runtime.clock(),
        limits=runtime.limits,
        lookback=runtime.lookback,
        max_age=runtime.max_age,
        kind=kind,
    )


async def send_list(
    runtime: Runtime,
    *,
    slug: str,
    dry_run_dir: Path | None = None,
    stopping: StopRequest | None = None,
) -> SendSummary:
    """Plan a run for the list and send it now. A dry run goes through the same engine into
    .eml files and is recorded as a dry-run run that changes no subscriber's history."""
    with session_scope(runtime.engine) as session:
        get_list(session, slug=slug)
    mailer = runtime.mailer(dry_run_dir)
    try:
        await mailer.check()  # before anything is recorded: an unreachable server writes nothing
        kind = RunKind.DRY_RUN if dry_run_dir is not None else RunKind.MANUAL
        with session_scope(runtime.engine) as session:
            plan = _plan(runtime, session, slug=slug, kind=kind)
        report = None
        if plan.queued:
            report = await _send(runtime, plan.run_id, mailer, stopping=stopping)
    finally:
        await mailer.close()
    return SendSummary(plan=plan, report=report, dry_run=dry_run_dir is not None)


def make_sender(
    runtime: Runtime,
    mailer: Mailer,
    *,
    policy: SendPolicy | None = None,
    worker: str | None = None,
    stopping: StopRequest | None = None,
) -> tuple[RunSender, SigningPool | None]:
    """A RunSender wired to the settings: DKIM pool, server states kept in the database.

    The caller closes the returned signing pool (if any) when it is done sending."""
    signer = runtime.signer()
    pool = mailer if isinstance(mailer, ServerPool) else None
    if pool is not None:
        with session_scope(runtime.engine) as session:
            pool.restore(load_server_states(session))

    def save_states(session: Session) -> None:
        if pool is not None:
            save_server_states(session, pool.states())

    sender = RunSender(
        runtime.engine,
        runtime.env,
        mailer,
        policy or runtime.send_policy(),
        clock=runtime.clock,
        signer=signer,
        on_flush=save_states if pool is not None else None,
        worker=worker,
        stopping=stopping,
    )
    return sender, signer


async def _send(
    runtime: Runtime, run_id: int, mailer: Mailer, *, stopping: StopRequest | None
) -> SendReport:
    signer = None
    try:
        sender, signer = make_sender(runtime, mailer, stopping=stopping)
        return await sender.send_run(run_id)
    finally:
        if signer is not None:
            signer.close()


async def send_run(
    runtime: Runtime,
    *,
    run_id: int,
    mailer: Mailer | None = None,
    stopping: StopRequest | None = None,
) -> SendReport:
    """Send whatever is due in a run now (several processes may do this at once)."""
    active = mailer if mailer is not None else runtime.mailer()
    try:
        await active.check()
        return await _send(runtime, run_id, active, stopping=stopping)
    finally:
        await active.close()


async def resume_run(
    runtime: Runtime,
    *,
    run_id: int,
    mailer: Mailer | None = None,
    stopping: StopRequest | None = None,
) -> SendReport:
    """Resume a paused run (or continue a sending one) and send what is due."""
    with session_scope(runtime.engine) as session:
        unpause_run(session, run_id=run_id)
    return await send_run(runtime, run_id=run_id, mailer=mailer, stopping=stopping)


def pause_run(runtime: Runtime, *, run_id: int, reason: str = "paused by an operator") -> None:
    """Pause a sending run; its senders stop after the messages in flight."""
    with session_scope(runtime.engine) as session:
        runstate.pause_run(session, run_id=run_id, reason=reason)


def cancel_run(runtime: Runtime, *, run_id: int) -> int:
    """Cancel a run; returns how many unsent rows were cancelled."""
    with session_scope(runtime.engine) as session:
        return runstate.cancel_run(session, run_id=run_id, now=runtime.clock())


def retry_failed(runtime: Runtime, *, run_id: int) -> int:
    """Re-queue the run's failed rows (only those); the caller then sends with send_run."""
    with session_scope(runtime.engine) as session:
        return runstate.retry_failed(session, run_id=run_id)


def list_runs(
    runtime: Runtime, *, limit: int = 20, status: RunStatus | None = None
) -> list[RunSummary]:
    """The latest runs with their counts, newest first."""
    with session_scope(runtime.engine) as session:
        return runstate.recent_runs(session, limit=limit, status=status)


def run_detail(runtime: Runtime, *, run_id: int) -> RunDetail:
    """One run: counts, pause reason, most frequent errors, latest failures."""
    with session_scope(runtime.engine) as session:
        return runstate.run_detail(session, run_id=run_id)


def _current_selection(
    runtime: Runtime, session: Session, mailing_list: MailingList, email: str | None
) -> tuple[Selection, int, str]:
    """What the list (all its topics) or one subscriber would get now: the selection, the
    subscriber's id (0 for the list) and name."""
    now = runtime.clock()
    topics: tuple[str, ...] = tuple(mailing_list.topics)
    since = now - runtime.lookback
    oldest = now - max(runtime.max_age, runtime.lookback)
    already: set[int] = set()
    name, subscriber_id = "", 0
    if email is not None:
        address = normalise_email(email)
        row = session.exec(
            select(Subscriber, Subscription)
            .join(Subscription, col(Subscription.subscriber_id) == col(Subscriber.id))
            .where(Subscriber.email == address, Subscription.list_id == mailing_list.id)
        ).first()
        if row is None:
            raise SubscriptionNotFound(address, mailing_list.slug)
        subscriber, subscription = row
        topics = tuple(subscription.topics)
        if subscription.offered_until is not None:
            since = subscription.offered_until - OVERLAP
        name = subscriber.name
        subscriber_id = subscriber.id or 0
    candidates = load_candidates(session, topics=mailing_list.topics, since=since, oldest=oldest)
    if email is not None:
        already = load_already_sent(session, article_ids=[c.id for c in candidates]).get(
            subscriber_id, set()
        )
    selection = select_articles(
        candidates,
        topics=topics,
        since=since,
        oldest=oldest,
        already_sent=already,
        limits=runtime.limits,
    )
    return selection, subscriber_id, name


@dataclass(frozen=True)
class Preview:
    """A digest as it would be sent now: the exact message bytes, and its parts for reading."""

    rendered: RenderedDigest
    html: str
    text: str
    message: bytes
    article_count: int


def build_preview(runtime: Runtime, *, slug: str, email: str | None = None) -> Preview:
    """The digest a subscriber (or the whole list, all topics) would get now, built by the same
    path as a real send (template, personal values, the final bytes), then read back."""
    settings = runtime.settings
    with session_scope(runtime.engine) as session:
        mailing_list = get_list(session, slug=slug)
        selection, _, name = _current_selection(runtime, session, mailing_list, email)
        view = digest_view(
            session,
            mailing_list=mailing_list,
            sections=selection.sections,
            view_url=f"{settings.links.base_url}/l/{mailing_list.slug}",
            more=dict(selection.more),
        )
        sender = sender_of(mailing_list, base_url=settings.links.base_url)
    rendered = render_digest(runtime.env, view)
    template = build_template(rendered, sender, date=runtime.clock())
    # Links signed for nobody (id 0): a preview shows the subscriber's digest, never links
    # that would let the editor change or end their subscription.
    links = personal_links(
        base_url=settings.links.base_url,
        secret=settings.links.secret,
        subscriber_id=0,
        list_id=mailing_list.id or 0,
        mailto_domain=template.domain,
    )
    recipient = Recipient(email=email or sender.address, name=name, links=links)
    data = personalise(template, recipient, new_message_id(template.domain))
    parsed = message_from_bytes(data, policy=email_policy.default)
    parts = {
        part.get_content_subtype(): str(part.get_content())  # type: ignore[attr-defined]
        for part in parsed.walk()
        if part.get_content_maintype() == "text"
    }
    return Preview(
        rendered=rendered,
        html=parts.get("html", ""),
        text=parts.get("plain", ""),
        message=data,
        article_count=len(selection.article_ids),
    )


async def send_test(runtime: Runtime, *, slug: str, to: str) -> str:
    """Send the list's current digest (all its topics) to one address through the engine, as a
    test run; nothing is recorded as sent to any subscriber. Returns the Message-ID."""
    address = normalise_email(to)
    with session_scope(runtime.engine) as session:
        if is_suppressed(session, email=address, secret=runtime.settings.links.secret):
            raise Suppressed(address)
    mailer = runtime.mailer()
    try:
        await mailer.check()  # before anything is recorded: an unreachable server writes nothing
        now = runtime.clock()
        with session_scope(runtime.engine) as session:
            mailing_list = get_list(session, slug=slug)
            selection, _, _ = _current_selection(runtime, session, mailing_list, None)
            run = Run(
                list_id=mailing_list.id or 0,
                kind=RunKind.TEST,
                status=RunStatus.SENDING,
                created_at=now,
            )
            session.add(run)
            session.flush()
            run_id = run.id or 0
            digest_id = add_digest(session, run_id, selection, now)
            delivery = Delivery(
                run_id=run_id,
                digest_id=digest_id,
                email=address,
                status=DeliveryStatus.QUEUED,
                created_at=now,
            )
            session.add(delivery)
            session.flush()
            delivery_id = delivery.id
        report = await _send(runtime, run_id, mailer, stopping=None)
    finally:
        await mailer.close()
    with session_scope(runtime.engine) as session:
        row = session.get(Delivery, delivery_id)
        run_row = session.get(Run, run_id)
        if run_row is not None and run_row.status == RunStatus.SENDING:
            # A test is one attempt: a deferred test is not retried by the scheduler.
            runstate.cancel_run(session, run_id=run_id, now=runtime.clock())
        if row is None or row.status != DeliveryStatus.SENT or row.message_id is None:
            error = (row.last_error if row else None) or report.status
            raise DeliveryError(f"test message to {address} refused: {error}")
        return row.message_id


def plan_list(runtime: Runtime, *, slug: str) -> Plan:
    """Plan a manual run of the list now; ``resume_run`` then sends it (used by the web app)."""
    with session_scope(runtime.engine) as session:
        return _plan(runtime, session, slug=slug)


def reopen_run(runtime: Runtime, *, run_id: int) -> None:
    """Mark a paused run as sending again (``send_run`` then sends what is due)."""
    with session_scope(runtime.engine) as session:
        runstate.unpause_run(session, run_id=run_id, only_paused=True)
