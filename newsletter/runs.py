"""Orchestration: the only place that ties database, rendering and delivery together."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from newsletter import runstate
from newsletter.compose import LinkSettings, digest_view, sender_of, template_for_digest
from newsletter.db import session_scope
from newsletter.delivery.mailer import Envelope, Mailer
from newsletter.delivery.pool import ServerPool
from newsletter.delivery.serverstate import load_server_states, save_server_states
from newsletter.errors import DeliveryError, RunNotFound, RunStateError
from newsletter.links import personal_links
from newsletter.message import Recipient, build_template, new_message_id, personalise
from newsletter.models import Delivery, DeliveryStatus, Run, RunKind, RunStatus
from newsletter.planning import Plan, load_already_sent, load_candidates, plan_run
from newsletter.render import RenderedDigest, fill_markers, render_digest
from newsletter.runstate import RunDetail, RunSummary, unpause_run
from newsletter.runtime import Runtime
from newsletter.selector import select_articles
from newsletter.sending import RunSender, SendPolicy, SendReport, message_id_for
from subscribers.addresses import normalise_email
from subscribers.errors import SubscriptionNotFound, Suppressed
from subscribers.models import Subscriber, Subscription
from subscribers.service import get_list, is_suppressed

if typing.TYPE_CHECKING:
    from newsletter.delivery.signing import SigningPool  # dkim + dnspython: ~0.1 s to import


@dataclass(frozen=True)
class SendSummary:
    """What ``send`` did: the plan and the delivery pass."""

    plan: Plan
    report: SendReport | None
    dry_run: bool = False


async def send_list(runtime: Runtime, *, slug: str, dry_run_dir: Path | None = None) -> SendSummary:
    """Plan a run for the list and send it now (or, for a dry run, only write .eml files)."""
    with session_scope(runtime.engine) as session:
        get_list(session, slug=slug)
    if dry_run_dir is not None:
        return dry_run(runtime, slug=slug, out=dry_run_dir)
    mailer = runtime.mailer()
    check = getattr(mailer, "check", None)
    if check is not None:
        await check()
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
        report = await send_run(runtime, run_id=plan.run_id, mailer=mailer)
    else:
        await mailer.close()
    return SendSummary(plan=plan, report=report)


def dry_run(runtime: Runtime, *, slug: str, out: Path) -> SendSummary:
    """Plan, render and personalise exactly as a real send would, write each message as an .eml
    file, and record nothing: the plan is rolled back, so a later real send is unaffected."""
    written = 0
    out.mkdir(parents=True, exist_ok=True)
    with Session(runtime.engine, expire_on_commit=False) as session:
        try:
            mailing_list = get_list(session, slug=slug)
            now = runtime.clock()
            plan = plan_run(
                session,
                mailing_list=mailing_list,
                now=now,
                limits=runtime.limits,
                lookback=runtime.lookback,
            )
            rows = session.exec(
                select(
                    Delivery.id, Delivery.digest_id, Delivery.email, Subscriber.id, Subscriber.name
                )
                .join(Subscriber, col(Subscriber.id) == col(Delivery.subscriber_id))
                .where(Delivery.run_id == plan.run_id, Delivery.status == DeliveryStatus.QUEUED)
                .order_by(col(Delivery.id))
            ).all()
            links_settings = LinkSettings(
                base_url=runtime.settings.base_url, secret=runtime.settings.secret
            )
            templates = {}
            for delivery_id, digest_id, email, subscriber_id, name in rows:
                if digest_id not in templates:
                    templates[digest_id], _ = template_for_digest(
                        session, runtime.env, digest_id=digest_id, links=links_settings, now=now
                    )
                template = templates[digest_id]
                links = personal_links(
                    base_url=runtime.settings.base_url,
                    secret=runtime.settings.secret,
                    subscriber_id=subscriber_id or 0,
                    list_id=mailing_list.id or 0,
                    mailto_domain=template.domain,
                )
                message_id = message_id_for(delivery_id, runtime.settings.secret, template.domain)
                data = personalise(template, Recipient(email, name, links), message_id)
                written += 1
                safe = "".join(ch if ch.isalnum() or ch in "@.-_+" else "_" for ch in email)
                (out / f"{written:06d}-{safe}.eml").write_bytes(data)
        finally:
            session.rollback()
    report = SendReport(run_id=0, sent=0, status="dry-run")
    report.counts = {"written": written}
    return SendSummary(plan=plan, report=report, dry_run=True)


def make_sender(
    runtime: Runtime,
    mailer: Mailer,
    *,
    sender_class: type[RunSender] = RunSender,
    policy: SendPolicy | None = None,
    **options: Any,
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

    sender = sender_class(
        runtime.engine,
        runtime.env,
        mailer,
        policy or runtime.send_policy(),
        clock=runtime.clock,
        signer=signer,
        on_flush=save_states if pool is not None else None,
        **options,
    )
    return sender, signer


async def send_run(runtime: Runtime, *, run_id: int, mailer: Mailer | None = None) -> SendReport:
    """Send whatever is due in a run now (several processes may do this at once)."""
    active = mailer if mailer is not None else runtime.mailer()
    signer = None
    try:
        sender, signer = make_sender(runtime, active)
        return await sender.send_run(run_id)
    finally:
        await active.close()
        if signer is not None:
            signer.close()


async def resume_run(runtime: Runtime, *, run_id: int, mailer: object | None = None) -> SendReport:
    """Resume a paused run (or continue a sending one) and send what is due."""
    with session_scope(runtime.engine) as session:
        unpause_run(session, run_id=run_id)
    return await send_run(runtime, run_id=run_id, mailer=mailer)  # type: ignore[arg-type]


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


def list_runs(runtime: Runtime, *, limit: int = 20, status: str | None = None) -> list[RunSummary]:
    """The latest runs with their counts, newest first."""
    with session_scope(runtime.engine) as session:
        return runstate.list_runs(session, limit=limit, status=status)


def run_detail(runtime: Runtime, *, run_id: int) -> RunDetail:
    """One run: counts, pause reason, most frequent errors, latest failures."""
    with session_scope(runtime.engine) as session:
        return runstate.run_detail(session, run_id=run_id)


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
    mailer = runtime.mailer()
    check = getattr(mailer, "check", None)
    if check is not None:
        await check()  # before anything is recorded: an unreachable server writes nothing
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
    signer = runtime.signer()
    if signer is not None:
        data = signer.signer.sign(data)  # one message: sign here, no worker processes
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


def reopen_run(runtime: Runtime, *, run_id: int) -> None:
    """Mark a paused run as sending again (``send_run`` then sends what is due)."""
    with session_scope(runtime.engine) as session:
        run = session.get(Run, run_id)
        if run is None:
            raise RunNotFound(run_id)
        if run.status != RunStatus.PAUSED:
            raise RunStateError(f"run {run_id} is {run.status}, only a paused run can be resumed")
        runstate.unpause_run(session, run_id=run_id)
