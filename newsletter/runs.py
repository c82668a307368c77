"""Orchestration: the only place that ties database, rendering and delivery together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from newsletter.compose import LinkSettings, digest_view, sender_of
from newsletter.db import session_scope
from newsletter.delivery.mailer import Envelope
from newsletter.delivery.smtp import SmtpMailer
from newsletter.errors import RunNotFound, RunStateError
from newsletter.links import personal_links
from newsletter.message import Recipient, build_template, new_message_id, personalise
from newsletter.models import Delivery, DeliveryStatus, Run, RunKind, RunStatus
from newsletter.planning import Plan, load_already_sent, load_candidates, plan_run
from newsletter.render import RenderedDigest, fill_markers, render_digest
from newsletter.runtime import Runtime
from newsletter.selector import select_articles
from newsletter.sending import RunSender, SendReport
from subscribers.addresses import normalise_email
from subscribers.errors import SubscriptionNotFound, Suppressed
from subscribers.models import Subscriber, Subscription
from subscribers.service import get_list, is_suppressed


@dataclass(frozen=True)
class SendSummary:
    """What ``send`` did: the plan and the delivery pass."""

    plan: Plan
    report: SendReport | None


async def send_list(runtime: Runtime, *, slug: str, dry_run_dir: Path | None = None) -> SendSummary:
    """Plan a run for the list and send it now (or write .eml files for a dry run)."""
    with session_scope(runtime.engine) as session:
        get_list(session, slug=slug)
    mailer = runtime.mailer(dry_run_dir)
    if isinstance(mailer, SmtpMailer):
        await mailer.check()
    with session_scope(runtime.engine) as session:
        mailing_list = get_list(session, slug=slug)
        plan = plan_run(
            session,
            mailing_list=mailing_list,
            now=runtime.clock(),
            limits=runtime.limits,
            lookback=runtime.lookback,
        )
    report = None
    if plan.queued:
        report = await resume_run(runtime, run_id=plan.run_id, mailer=mailer)
    else:
        await mailer.close()
    return SendSummary(plan=plan, report=report)


async def resume_run(runtime: Runtime, *, run_id: int, mailer: object | None = None) -> SendReport:
    """Send whatever is due in an existing run (a second call after success sends nothing)."""
    active = mailer if mailer is not None else runtime.mailer()
    sender = RunSender(
        runtime.engine,
        runtime.env,
        active,
        runtime.send_policy(),  # type: ignore[arg-type]
        clock=runtime.clock,
    )
    try:
        return await sender.send_run(run_id)
    finally:
        await active.close()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Preview:
    """A digest rendered for reading: personal values filled in."""

    rendered: RenderedDigest
    html: str
    text: str
    article_count: int


def build_preview(runtime: Runtime, *, slug: str, email: str | None = None) -> Preview:
    """Render the digest a subscriber (or the whole list, all topics) would get now."""
    now = runtime.clock()
    with session_scope(runtime.engine) as session:
        mailing_list = get_list(session, slug=slug)
        topics: tuple[str, ...] = tuple(mailing_list.topics)
        since = now - runtime.lookback
        already: set[int] = set()
        name = "there"
        subscriber_id, list_id = 0, mailing_list.id or 0
        if email is not None:
            address = normalise_email(email)
            row = session.exec(
                select(Subscriber, Subscription)
                .join(Subscription, Subscription.subscriber_id == Subscriber.id)
                .where(Subscriber.email == address, Subscription.list_id == list_id)
            ).first()
            if row is None:
                raise SubscriptionNotFound(address, slug)
            subscriber, subscription = row
            topics = tuple(subscription.topics)
            since = subscription.last_sent_at or since
            name = subscriber.name or "there"
            subscriber_id = subscriber.id or 0
        candidates = load_candidates(session, topics=mailing_list.topics, since=since)
        if email is not None:
            already = load_already_sent(session, article_ids=[c.id for c in candidates]).get(
                subscriber_id, set()
            )
        selection = select_articles(
            candidates, topics=topics, since=since, already_sent=already, limits=runtime.limits
        )
        view = digest_view(
            session,
            mailing_list=mailing_list,
            sections=selection.sections,
            view_url=f"{runtime.settings.base_url}/l/{mailing_list.slug}",
        )
    rendered = render_digest(runtime.env, view)
    links = personal_links(
        base_url=runtime.settings.base_url,
        secret=runtime.settings.secret,
        subscriber_id=subscriber_id,
        list_id=list_id,
        mailto_domain=mailing_list.from_address.rsplit("@", 1)[1],
    )
    values = {
        "name": name,
        "unsubscribe_url": links.unsubscribe_url,
        "preferences_url": links.preferences_url,
    }
    import html as html_lib

    escaped = {key: html_lib.escape(value) for key, value in values.items()}
    return Preview(
        rendered=rendered,
        html=fill_markers(rendered.html, escaped),
        text=fill_markers(rendered.text, values),
        article_count=len(selection.article_ids),
    )


async def send_test(runtime: Runtime, *, slug: str, to: str) -> str:
    """Send the list's current digest (all its topics) to one address; nothing is recorded as sent
    to any subscriber. Returns the Message-ID."""
    address = normalise_email(to)
    with session_scope(runtime.engine) as session:
        if is_suppressed(session, email=address, secret=runtime.settings.secret):
            raise Suppressed(address)
    preview = build_preview(runtime, slug=slug)
    with session_scope(runtime.engine) as session:
        mailing_list = get_list(session, slug=slug)
        sender = sender_of(mailing_list)
        run = Run(
            list_id=mailing_list.id or 0,
            kind=RunKind.TEST,
            status=RunStatus.SENDING,
            created_at=runtime.clock(),
        )
        session.add(run)
        session.flush()
        delivery = Delivery(
            run_id=run.id or 0,
            email=address,
            status=DeliveryStatus.SENDING,
            attempts=1,
            created_at=runtime.clock(),
        )
        session.add(delivery)
        session.flush()
        run_id, delivery_id = run.id, delivery.id
    template = build_template(preview.rendered, sender, date=runtime.clock())
    links = personal_links(
        base_url=runtime.settings.base_url,
        secret=runtime.settings.secret,
        subscriber_id=0,
        list_id=mailing_list.id or 0,
        mailto_domain=template.domain,
    )
    message_id = new_message_id(template.domain)
    data = personalise(template, Recipient(email=address, name="", links=links), message_id)
    mailer = runtime.mailer()
    if isinstance(mailer, SmtpMailer):
        await mailer.check()
    try:
        outcome = await mailer.send(Envelope(sender=sender.address, recipient=address, data=data))
    finally:
        await mailer.close()
    with session_scope(runtime.engine) as session:
        row = session.get(Delivery, delivery_id)
        run_row = session.get(Run, run_id)
        if row is not None and run_row is not None:
            sent = outcome.kind.value == "sent"
            row.status = DeliveryStatus.SENT if sent else DeliveryStatus.FAILED
            row.message_id = message_id if sent else None
            row.last_error = None if sent else outcome.describe
            row.sent_at = runtime.clock() if sent else None
            run_row.status = RunStatus.DONE
            run_row.finished_at = runtime.clock()
    if outcome.kind.value != "sent":
        from newsletter.errors import DeliveryError

        raise DeliveryError(f"test message to {address} refused: {outcome.describe}")
    return message_id


def plan_list(runtime: Runtime, *, slug: str) -> Plan:
    """Plan a manual run of the list now; ``resume_run`` then sends it (used by the web app)."""
    with session_scope(runtime.engine) as session:
        mailing_list = get_list(session, slug=slug)
        return plan_run(
            session,
            mailing_list=mailing_list,
            now=runtime.clock(),
            limits=runtime.limits,
            lookback=runtime.lookback,
        )


def _run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise RunNotFound(run_id)
    return run


def pause_run(runtime: Runtime, *, run_id: int, reason: str = "paused by an operator") -> None:
    """Stop a sending run after its current batch; rows stay queued."""
    with session_scope(runtime.engine) as session:
        run = _run(session, run_id)
        if run.status != RunStatus.SENDING:
            raise RunStateError(f"run {run_id} is {run.status}, only a sending run can be paused")
        run.status = RunStatus.PAUSED
        run.pause_reason = reason


def reopen_run(runtime: Runtime, *, run_id: int) -> None:
    """Mark a paused run as sending again (``resume_run`` then sends what is due)."""
    with session_scope(runtime.engine) as session:
        run = _run(session, run_id)
        if run.status != RunStatus.PAUSED:
            raise RunStateError(f"run {run_id} is {run.status}, only a paused run can be resumed")
        run.status = RunStatus.SENDING
        run.pause_reason = None


def retry_failed(runtime: Runtime, *, run_id: int) -> int:
    """Queue the run's failed rows again and reopen the run; returns how many were queued."""
    with session_scope(runtime.engine) as session:
        run = _run(session, run_id)
        if run.kind not in (RunKind.MANUAL, RunKind.SCHEDULED):
            raise RunStateError(f"run {run_id} is a {run.kind} run; only digest runs are retried")
        rows = list(
            session.exec(
                select(Delivery).where(
                    Delivery.run_id == run_id, Delivery.status == DeliveryStatus.FAILED
                )
            )
        )
        for row in rows:
            row.status = DeliveryStatus.QUEUED
            row.next_attempt_at = None
            row.lease_until = None
            row.claimed_by = None
        if rows and run.status in (RunStatus.DONE, RunStatus.PAUSED):
            run.status = RunStatus.SENDING
            run.finished_at = None
            run.pause_reason = None
        return len(rows)


_ = LinkSettings  # re-exported for callers that build templates themselves
