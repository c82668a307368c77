"""Drive a planned run through a Mailer as a pipeline: claimer -> queue -> senders -> recorder.

One claimer claims due rows in batches (a thread does the database work and the
personalisation), N sender tasks each keep one connection busy, and a recorder writes results
in batches every ~100 ms or every `record_every` rows, so a row is marked sent moments after
the server's 250. The event loop never runs database or rendering work itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TypeVar

from jinja2 import Environment
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from newsletter.compose import LinkSettings, template_for_digest
from newsletter.db import session_scope
from newsletter.delivery.ledger import (
    ClaimedDelivery,
    DeliveryResult,
    claim_batch,
    digest_article_ids,
    reap_expired,
    record_results,
    release_claims,
    run_counts,
)
from newsletter.delivery.mailer import Envelope, Mailer, SendOutcome
from newsletter.delivery.replies import ReplyKind, retry_delay
from newsletter.errors import DeliveryError
from newsletter.links import personal_links
from newsletter.message import MessageTemplate, Recipient, personalise
from newsletter.models import Delivery, DeliveryStatus, Digest, Run, RunStatus
from newsletter.planning import STOPPED, stopped_deliveries
from newsletter.render import fill_markers
from newsletter.sendstate import Job, PassState, SendPolicy, SendReport, Signer
from subscribers.models import MailingList, Subscriber
from subscribers.service import mark_bounced

Clock = Callable[[], datetime]
_T = TypeVar("_T")


def worker_name() -> str:
    """A name for this sender process, recorded on the rows it claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{random.randrange(1 << 16):04x}"


def message_id_for(delivery_id: int, secret: bytes, domain: str) -> str:
    """A Message-ID stable for a delivery, so a re-sent message is recognisably the same."""
    tag = hashlib.sha256(secret + b"msgid" + str(delivery_id).encode()).hexdigest()[:12]
    return f"nl.{delivery_id}.{tag}@{domain}"


class _Stages:
    """Wall-clock seconds spent per stage (threads overlap, so they do not add up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started


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
        signer: Signer | None = None,
        on_flush: Callable[[Session], None] | None = None,
    ) -> None:
        self.engine = engine
        self.env = env
        self.mailer = mailer
        self.policy = policy
        self.clock = clock
        self.worker = worker or worker_name()
        self.rng = rng or random.Random()
        self.signer = signer
        self.on_flush = on_flush
        self._templates: dict[int, MessageTemplate] = {}
        self._unbuildable: dict[int, str] = {}  # digest id -> why its message cannot be built
        self._articles: dict[int, tuple[int, ...]] = {}
        self._lists: dict[int, MailingList] = {}
        self._stages = _Stages()
        self._after_id: int | None = 0
        self._executor: ThreadPoolExecutor | None = None
        self.templates_built = 0

    # -- database work (runs in threads) -------------------------------------------------

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

    def _prepare(
        self, session: Session, run: Run, claimed: list[ClaimedDelivery]
    ) -> dict[int, str]:
        """Build missing templates (once per digest) and load recipient names."""
        if run.list_id not in self._lists:
            mailing_list = session.get(MailingList, run.list_id)
            if mailing_list is None:
                raise LookupError(f"list of run {run.id} is gone")
            self._lists[run.list_id] = mailing_list
        wanted = {c.digest_id for c in claimed if c.digest_id is not None}
        missing = wanted - set(self._templates) - set(self._unbuildable)
        links = LinkSettings(base_url=self.policy.base_url, secret=self.policy.secret)
        for digest_id in sorted(missing):
            started = time.perf_counter()
            try:
                template, rendered = template_for_digest(
                    session, self.env, digest_id=digest_id, links=links, now=self.clock()
                )
            except (ValueError, LookupError, UnicodeError) as exc:
                # Bad stored data (a sender name with a line break, say) fails this digest's
                # rows, never the whole pass.
                self._unbuildable[digest_id] = str(exc)
                continue
            self.templates_built += 1
            self._templates[digest_id] = template
            digest = session.get(Digest, digest_id)
            if digest is not None and digest.archive_html is None:
                digest.archive_html = fill_markers(
                    rendered.html,
                    {"name": "there", "unsubscribe_url": "#", "preferences_url": "#"},
                )
            self._stages.add("render+inline", started)
        built = sorted(missing - set(self._unbuildable))
        if built:
            self._articles.update(digest_article_ids(session, built))
        ids = [c.subscriber_id for c in claimed if c.subscriber_id is not None]
        names = dict(
            session.exec(
                select(Subscriber.id, Subscriber.name).where(col(Subscriber.id).in_(ids))
            ).all()
        )
        return {k: v for k, v in names.items() if k is not None}

    def _job(self, run: Run, claimed: ClaimedDelivery, names: dict[int, str]) -> Job:
        if claimed.digest_id in self._unbuildable:
            raise ValueError(self._unbuildable[claimed.digest_id])
        if claimed.digest_id is None or claimed.digest_id not in self._templates:
            raise LookupError("digest missing")
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
        sender = self._envelope_sender(self._lists[run.list_id], claimed.id)
        return Job(claimed, Envelope(sender=sender, recipient=claimed.email, data=data), message_id)

    def _claim_jobs(self, run_id: int) -> tuple[str, list[Job], list[DeliveryResult]]:
        """Claim a batch and turn it into personalised jobs (rows that cannot be built fail)."""
        started = time.perf_counter()
        now = self.clock()
        with session_scope(self.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                return RunStatus.CANCELLED, [], []
            if run.status != RunStatus.SENDING:
                return str(run.status), [], []
            claimed = claim_batch(
                session,
                run_id=run_id,
                worker=self.worker,
                now=now,
                limit=self.policy.batch_size,
                lease=self.policy.lease,
                after_id=self._after_id,
            )
            if not claimed and self._after_id is not None:
                # Rows behind the cursor: handed back by the reaper or another worker.
                self._after_id = None
                claimed = claim_batch(
                    session,
                    run_id=run_id,
                    worker=self.worker,
                    now=now,
                    limit=self.policy.batch_size,
                    lease=self.policy.lease,
                )
            if claimed:
                self._after_id = claimed[-1].id
            self._stages.add("claim", started)
            names = self._prepare(session, run, claimed) if claimed else {}
            secret = self.policy.secret
            stopped = stopped_deliveries(session, claimed, secret=secret) if claimed else set()
            status = str(run.status)
        started = time.perf_counter()
        jobs: list[Job] = []
        broken: list[DeliveryResult] = []
        for row in claimed:
            if row.id in stopped:
                broken.append(DeliveryResult(row.id, DeliveryStatus.SKIPPED, error=STOPPED))
                continue
            try:
                jobs.append(self._job(run, row, names))
            except Exception as exc:  # noqa: BLE001 - one bad row never aborts a run
                error = f"message could not be built: {exc}"
                broken.append(DeliveryResult(row.id, DeliveryStatus.FAILED, error=error))
        self._stages.add("personalise", started)
        return status, jobs, broken

    def _record(
        self,
        run_id: int,
        results: list[DeliveryResult],
        claimed: dict[int, ClaimedDelivery],
        pause_reason: str | None,
    ) -> str:
        started = time.perf_counter()
        now = self.clock()
        with session_scope(self.engine) as session:
            record_results(session, results, claimed, now=now, digest_articles=self._articles)
            for result in results:
                row = claimed.get(result.delivery_id)
                if result.status == DeliveryStatus.BOUNCED and row and row.subscriber_id:
                    mark_bounced(session, subscriber_id=row.subscriber_id, now=now)
            if self.on_flush is not None:
                self.on_flush(session)
            run = session.get(Run, run_id)
            if run is None:
                return RunStatus.CANCELLED
            if pause_reason and run.status == RunStatus.SENDING:
                run.status = RunStatus.PAUSED
                run.pause_reason = pause_reason
            status = str(run.status)
        self._stages.add("record", started)
        return status

    def _reap(self) -> int:
        with session_scope(self.engine) as session:
            return reap_expired(session, now=self.clock())

    def _release(self, jobs: list[Job]) -> None:
        with session_scope(self.engine) as session:
            release_claims(session, delivery_ids=[j.claimed.id for j in jobs], worker=self.worker)

    def _finish_if_done(self, run_id: int) -> tuple[str, dict[str, int], str | None]:
        with session_scope(self.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                return RunStatus.CANCELLED, {}, None
            counts = run_counts(session, run_id=run_id)
            open_rows = counts["queued"] + counts["deferred"] + counts["sending"]
            if run.status == RunStatus.SENDING and open_rows == 0:
                run.status = RunStatus.DONE
                run.finished_at = self.clock()
            return str(run.status), counts, run.pause_reason

    # -- outcomes -------------------------------------------------------------------------

    def _result(
        self, claimed: ClaimedDelivery, outcome: SendOutcome, message_id: str | None, now: datetime
    ) -> DeliveryResult:
        if outcome.kind is ReplyKind.SENT:
            return DeliveryResult(claimed.id, DeliveryStatus.SENT, message_id=message_id)
        error = outcome.describe
        if outcome.retry_after is not None:
            # Our own sending limit, not a failure: no back-off, no age limit.
            return DeliveryResult(
                claimed.id,
                DeliveryStatus.DEFERRED,
                error=error,
                next_attempt_at=now + timedelta(seconds=outcome.retry_after),
            )
        if outcome.kind is ReplyKind.TEMPORARY:
            first = claimed.first_attempt_at or now
            if now - first >= self.policy.retry_max_age:
                return DeliveryResult(claimed.id, DeliveryStatus.FAILED, error=f"gave up: {error}")
            delay = retry_delay(
                max(1, claimed.attempts),
                base=self.policy.retry_base_seconds,
                cap=max(self.policy.retry_cap_seconds, self.policy.retry_base_seconds),
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

    # -- the pipeline ---------------------------------------------------------------------

    async def _db(self, function: Callable[..., _T], *args: object) -> _T:
        """Run database work on this sender's own thread: one writer at a time, so SQLite's
        busy handler (which sleeps in steps of up to 100 ms) never comes into play."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="newsletter-db")
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def send_run(self, run_id: int) -> SendReport:
        """Send every due row of the run until none is left (deferred rows wait for later)."""
        report = SendReport(run_id=run_id)
        await self._db(self._reap)
        state = PassState(report, self.policy)
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=self.policy.batch_size)
        concurrency = max(1, self.policy.concurrency)
        started = time.perf_counter()
        claimer = asyncio.create_task(self._claimer(run_id, queue, state, concurrency))
        senders = [asyncio.create_task(self._sender(queue, state)) for _ in range(concurrency)]
        recorder = asyncio.create_task(self._recorder(run_id, state))
        workers = [claimer, *senders]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            failed = [t for t in done if not t.cancelled() and t.exception() is not None]
            if failed:
                raise failed[0].exception()  # type: ignore[misc]
        except BaseException:
            # A sender that cannot go on (bad credentials), a database error or a cancelled
            # pass: stop everyone, hand back what was claimed but not sent.
            state.stop = True
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            while not queue.empty():
                job = queue.get_nowait()
                if job is not None:
                    state.unsent.append(job)
            raise
        finally:
            state.senders_done = True
            state.wake.set()
            await recorder
            if state.unsent:
                await self._db(self._release, state.unsent)
            if self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None
        self._stages.seconds["send (wall)"] = time.perf_counter() - started
        report.templates_built = self.templates_built
        report.stage_seconds = dict(self._stages.seconds)
        status, counts, reason = await asyncio.to_thread(self._finish_if_done, run_id)
        report.status, report.counts = status, counts
        report.pause_reason = reason if status == RunStatus.PAUSED else None
        return report

    async def _claimer(
        self, run_id: int, queue: asyncio.Queue[Job | None], state: PassState, senders: int
    ) -> None:
        last_reap = time.monotonic()
        while not state.stop:
            if time.monotonic() - last_reap > self.policy.reap_interval:
                await self._db(self._reap)
                last_reap = time.monotonic()
            status, jobs, broken = await self._db(self._claim_jobs, run_id)
            if status != RunStatus.SENDING:
                state.stop = True
            if broken:
                state.add_results(broken, {})
            if not jobs:
                break
            if self.signer is not None:
                started = time.perf_counter()
                signed = await self.signer.sign_many([j.envelope.data for j in jobs])
                jobs = [
                    Job(
                        j.claimed,
                        Envelope(j.envelope.sender, j.envelope.recipient, d),
                        j.message_id,
                    )
                    for j, d in zip(jobs, signed, strict=True)
                ]
                self._stages.add("dkim", started)
            for job in jobs:
                await queue.put(job)
        # Only after a normal end: a cancelled claimer must not block on a full queue.
        for _ in range(senders):
            await queue.put(None)

    async def _sender(self, queue: asyncio.Queue[Job | None], state: PassState) -> None:
        send = self.mailer.send
        while True:
            job = await queue.get()
            if job is None:
                return
            if state.stop:
                state.unsent.append(job)
                continue
            outcome = await send(job.envelope)
            result = self._result(job.claimed, outcome, job.message_id, self.clock())
            # Counted at once, so a pause stops the other senders before their next message.
            state.outcome(job, outcome, result)
            if len(state.pending) >= self.policy.record_every:
                state.wake.set()

    async def _recorder(self, run_id: int, state: PassState) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.wake.wait(), self.policy.record_interval)
            state.wake.clear()
            finished = state.senders_done
            if state.pending or state.pause_pending:
                results, claimed, reason = state.take()
                status = await self._db(self._record, run_id, results, claimed, reason)
                if status != RunStatus.SENDING:
                    state.stop = True
            if finished and not state.pending:
                return


def pending_rows(session: Session, run_id: int) -> int:
    """Rows of the run that are not final yet."""
    return int(
        session.exec(
            select(func.count()).where(
                Delivery.run_id == run_id,
                col(Delivery.status).in_(
                    [DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING]
                ),
            )
        ).one()
    )


__all__ = ["DeliveryError", "Job", "RunSender", "SendPolicy", "SendReport", "pending_rows"]
