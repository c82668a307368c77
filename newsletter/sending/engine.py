"""The one send engine: claim -> build -> (sign) -> send -> record, for every kind of message.

One claimer claims due rows in batches under a lease (a thread does the database work and the
building), N sender tasks each keep one connection busy, a recorder writes results every
~100 ms or every ``record_every`` rows (so a row is marked sent moments after the server's 250),
and a watcher renews the leases of held rows, notices audience changes (someone unsubscribed,
was suppressed or erased: one counter read), run status changes and stop requests.

Guarantees kept here (see docs/ARCHITECTURE.md):
- a message is handed to the SMTP server only while this sender's lease on its row has more
  than ``lease_margin`` left (leases are renewed while rows wait; times are the database's);
- results are written only under the claim token (a stale holder's write changes nothing);
- any stage failing stops every stage: senders finish the message in hand, results are written
  (retried for ``record_grace``), rows not sent are handed back, and the error names the cause;
- a stop request (SIGTERM, SIGINT) does the same and ends the pass cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TypeVar

from jinja2 import Environment
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from newsletter.db import describe_db_error
from newsletter.delivery.mailer import Envelope, Mailer, SendOutcome
from newsletter.delivery.replies import ReplyKind, retry_delay, should_give_up
from newsletter.errors import LedgerError
from newsletter.ledger.record import (
    ClaimedDelivery,
    DeliveryResult,
)
from newsletter.models import DeliveryStatus, RunStatus
from newsletter.sending.kinds import MessageKind
from newsletter.sending.runledger import RunLedger
from newsletter.sending.state import (
    LEASE_RUNNING_OUT,
    Job,
    PassState,
    SendPolicy,
    SendReport,
    Signer,
)

Clock = Callable[[], datetime]
StopRequest = Callable[[], "str | bool | None"]
_T = TypeVar("_T")
log = logging.getLogger(__name__)
SIGN_PIECE = 50  # messages signed per hand-off: sending starts after the first piece
IDLE_POLL = 0.02  # how often a sender task beyond the connections' capacity looks again


def worker_name() -> str:
    """A name for this sender process; each claim adds a sequence number to it."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{random.randrange(1 << 32):08x}"


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
        stopping: StopRequest | None = None,
    ) -> None:
        self.env = env
        self.mailer = mailer
        self.policy = policy
        self.clock = clock
        self.worker = worker or worker_name()
        self.rng = rng or random.Random()
        self.signer = signer
        self.stopping = stopping
        self.ledger = RunLedger(
            engine, env, policy, clock=clock, worker=self.worker, on_flush=on_flush
        )
        self._stages = self.ledger.stages
        self._executor: ThreadPoolExecutor | None = None
        self.templates_built = 0
        self._jobs_left = 0  # messages of its current batch the feeder has not handed over

    # -- database work (runs on this sender's own thread) -----------------------------------

    async def _db(self, function: Callable[..., _T], *args: object) -> _T:
        """Run database work on this sender's own thread: one writer at a time, so SQLite's
        busy handler (which sleeps in steps of up to 100 ms) never comes into play. A database
        failure becomes a LedgerError naming its cause."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="newsletter-db")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        except SQLAlchemyError as exc:
            raise LedgerError(describe_db_error(exc)) from exc

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
            if should_give_up(first, now, self.policy.retry_max_age):
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

    def _stop_request(self) -> str | None:
        if self.stopping is None:
            return None
        asked = self.stopping()
        if not asked:
            return None
        return asked if isinstance(asked, str) else "stop requested"

    # -- the pipeline ---------------------------------------------------------------------

    async def send_run(self, run_id: int) -> SendReport:
        """Send every due row of the run until none is left (deferred rows wait for later)."""
        report = SendReport(run_id=run_id)
        self.ledger.after_id = 0  # the claim cursor is per run
        try:
            status, kind, planned_at = await self._db(self.ledger.open, run_id)
            if kind is not None and planned_at is not None:
                await self._pass(run_id, kind, planned_at, report)
                self.templates_built += kind.templates_built
            status, counts, reason = await self._db(self.ledger.finish_if_done, run_id)
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False)
                self._executor = None
        report.templates_built = self.templates_built
        report.stage_seconds = dict(self._stages.seconds)
        report.status, report.counts = status, counts
        report.pause_reason = reason if status == RunStatus.PAUSED else None
        return report

    async def _pass(
        self, run_id: int, kind: MessageKind, planned_at: datetime, report: SendReport
    ) -> None:
        state = PassState(report, self.policy)
        queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=max(1, self.policy.claim_limit))
        started = time.perf_counter()
        claiming = asyncio.create_task(self._claimer(run_id, kind, queue, state))
        senders = [
            asyncio.create_task(self._sender(queue, state, claiming, index))
            for index in range(self._sender_tasks())
        ]
        helpers = [
            asyncio.create_task(self._recorder(run_id, kind, planned_at, state)),
            asyncio.create_task(self._watcher(run_id, kind, state)),
        ]
        failure: BaseException | None = None
        try:
            failure = await self._supervise(state, claiming, senders, helpers)
        finally:
            state.stop = True
            await self._wind_down(state, claiming, senders, helpers)
            # Jobs still queued were never handed over: they are in state.held.
            await asyncio.shield(self._settle(run_id, kind, planned_at, state))
            self._stages.seconds["send (wall)"] = time.perf_counter() - started
        if state.failure is not None and (failure is None or isinstance(failure, LedgerError)):
            failure = state.failure
        if failure is not None:
            raise failure

    def _sender_tasks(self) -> int:
        """One task per message the connections can carry at once (connections x pipelining
        window), so a pipelined connection always has its next message ready. With a rate
        limit, one per connection: the limit, not the round trips, sets the pace then, and
        tasks waiting for tokens would hold claimed rows."""
        connections = max(1, self.policy.concurrency)
        if self.policy.rate_per_second is not None:
            return connections
        return max(connections, self.mailer.max_in_flight)

    def _may_take(self, index: int) -> bool:
        """Whether sender task ``index`` may take a message now: tasks beyond what the
        connections can carry right now (a connection not pipelined, not open yet, or
        draining) wait, so no claimed message waits for a connection."""
        if index < max(1, self.policy.concurrency):
            return True
        return index < self.mailer.capacity()

    async def _wind_down(
        self,
        state: PassState,
        claiming: asyncio.Task[None],
        senders: list[asyncio.Task[None]],
        helpers: list[asyncio.Task[None]],
    ) -> None:
        """End every task without losing a result: the claimer and the recorder finish the
        database work in hand (cancelling them mid-write would orphan rows); senders still in
        a transaction after the grace period are abandoned (their rows keep their lease)."""
        await asyncio.wait([claiming], timeout=self.policy.stop_grace)
        for task in [claiming, *senders]:
            task.cancel()
        state.closing = True
        state.wake.set()
        await asyncio.wait(helpers, timeout=self.policy.record_grace)
        for task in helpers:
            if not task.done():
                task.cancel()
            elif not task.cancelled() and isinstance(task.exception(), LedgerError):
                state.fail(task.exception())  # type: ignore[arg-type]
        await asyncio.gather(claiming, *senders, *helpers, return_exceptions=True)

    async def _supervise(
        self,
        state: PassState,
        claiming: asyncio.Task[None],
        senders: list[asyncio.Task[None]],
        helpers: list[asyncio.Task[None]],
    ) -> BaseException | None:
        """Wait until the senders are done; on any stage's failure or a stop, stop everyone
        (messages in hand may finish for ``stop_grace`` seconds)."""
        workers = [claiming, *senders]
        stop_since: float | None = None
        failure: BaseException | None = None
        while any(not task.done() for task in workers):
            active = [task for task in [*workers, *helpers] if not task.done()]
            done, _ = await asyncio.wait(
                active, timeout=self.policy.watch_interval, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if failure is None and not task.cancelled() and task.exception() is not None:
                    failure = task.exception()
                elif failure is None and task in helpers:
                    failure = RuntimeError("a sending stage ended early")
            failure = failure or state.failure
            if failure is not None:
                state.stop = True  # senders finish the message in hand, then stop
            if state.stop and stop_since is None:
                stop_since = time.monotonic()
            if stop_since is not None and time.monotonic() - stop_since > self.policy.stop_grace:
                abandoned = len(state.in_flight)
                if abandoned:
                    log.warning(
                        "%d message(s) still in flight after %.0f s: left under their lease",
                        abandoned,
                        self.policy.stop_grace,
                    )
                break
        return failure or state.failure

    async def _settle(
        self, run_id: int, kind: MessageKind, planned_at: datetime, state: PassState
    ) -> None:
        """Write every result (retrying for ``record_grace``), then hand back unsent rows."""
        deadline = time.monotonic() + self.policy.record_grace
        while state.pending or state.pause_pending:
            results, claimed, reason = state.take()
            try:
                await self._db(
                    self.ledger.record, run_id, kind, planned_at, results, claimed, reason
                )
            except LedgerError as exc:
                state.give_back(results, claimed, reason)
                if time.monotonic() >= deadline:
                    raise LedgerError(
                        f"{exc}; {len(state.pending)} result(s) could not be recorded "
                        "and may be sent again when their lease expires"
                    ) from exc
                await asyncio.sleep(0.5)
        # Everything this sender still holds goes back, except messages in flight whose fate
        # is unknown (abandoned after the grace period): they keep their lease.
        state.held.clear()
        while True:
            try:
                state.report.handed_back += await self._db(
                    self.ledger.release, list(state.in_flight)
                )
                return
            except LedgerError as exc:
                if time.monotonic() >= deadline:  # their leases expire on their own
                    log.warning("could not hand unsent rows back: %s", exc)
                    return
                await asyncio.sleep(0.5)

    async def _claimer(
        self, run_id: int, kind: MessageKind, queue: asyncio.Queue[Job], state: PassState
    ) -> None:
        """Claim batches and start signing them; a feeder task hands the messages over, so
        claiming and signing the next batch overlap with sending this one."""
        batches: asyncio.Queue[list[asyncio.Future[list[Job]]] | None] = asyncio.Queue(1)
        feeder = asyncio.create_task(self._feed(batches, queue, state))
        try:
            await self._claim_loop(run_id, kind, batches, feeder, state)
            await self._put_batch(batches, None, feeder, state)
            await feeder
        finally:
            if not feeder.done():
                feeder.cancel()
            while not batches.empty():
                for task in batches.get_nowait() or []:
                    task.cancel()
            await asyncio.gather(feeder, return_exceptions=True)

    async def _put_batch(
        self,
        batches: asyncio.Queue[list[asyncio.Future[list[Job]]] | None],
        batch: list[asyncio.Future[list[Job]]] | None,
        feeder: asyncio.Task[None],
        state: PassState,
    ) -> bool:
        """Queue a batch for the feeder (None: no more); False if the pass stopped first."""
        while not state.stop or batch is None:
            if feeder.done():
                await feeder  # raises what stopped it
                return False
            try:
                await asyncio.wait_for(batches.put(batch), self.policy.watch_interval)
                return True
            except TimeoutError:
                continue
        return False

    async def _claim_loop(
        self,
        run_id: int,
        kind: MessageKind,
        batches: asyncio.Queue[list[asyncio.Future[list[Job]]] | None],
        feeder: asyncio.Task[None],
        state: PassState,
    ) -> None:
        last_reap = time.monotonic()
        while not state.stop:
            if not self._may_claim(batches) and not feeder.done():
                await asyncio.sleep(IDLE_POLL)
                continue
            if (reason := self._stop_request()) is not None:
                state.stop, state.report.stopped_by = True, reason
                break
            if time.monotonic() - last_reap > self.policy.reap_interval:
                await self._db(self.ledger.reap)
                last_reap = time.monotonic()
            status, claimed, jobs, broken, monotonic = await self._db(
                self.ledger.claim_jobs, run_id, kind
            )
            state.hold(claimed, monotonic)
            if status != RunStatus.SENDING:
                state.stop = True
            if broken:
                state.add_results(broken, {row.id: row for row in claimed})
                state.wake.set()
            if not claimed:
                break
            if jobs:
                # Signing starts now, on threads, and the next batch is claimed while this
                # one is signed and sent; the feeder hands messages over in claim order.
                pieces = [jobs[i : i + SIGN_PIECE] for i in range(0, len(jobs), SIGN_PIECE)]
                signing = [self._signed(piece) for piece in pieces]
                if not await self._put_batch(batches, signing, feeder, state):
                    for task in signing:
                        task.cancel()

    def _may_claim(self, batches: asyncio.Queue[list[asyncio.Future[list[Job]]] | None]) -> bool:
        """Claim the next batch only when it is needed soon, so rows are not held long before
        they can go out: unsigned, when the feeder is handing over the last piece of its batch
        (as the senders' queue holds one batch, about two batches are held); signed, one batch
        earlier, so it is signed while the one before is sent."""
        if batches.full():
            return False
        if self.signer is not None:
            return True
        return batches.empty() and self._jobs_left <= 1

    def _signed(self, jobs: list[Job]) -> asyncio.Future[list[Job]]:
        """The jobs with their messages signed (a task on the signing threads), or as built."""
        if self.signer is None:
            done: asyncio.Future[list[Job]] = asyncio.get_running_loop().create_future()
            done.set_result(jobs)
            return done
        signer = self.signer

        async def sign() -> list[Job]:
            started = time.perf_counter()
            signed = await signer.sign_many([j.envelope.data for j in jobs])
            self._stages.add("dkim", started)
            return [
                Job(j.claimed, Envelope(j.envelope.sender, j.envelope.recipient, d), j.message_id)
                for j, d in zip(jobs, signed, strict=True)
            ]

        return asyncio.ensure_future(sign())

    async def _feed(
        self,
        batches: asyncio.Queue[list[asyncio.Future[list[Job]]] | None],
        queue: asyncio.Queue[Job],
        state: PassState,
    ) -> None:
        """Hand signed messages to the senders in claim order, as each piece is signed."""
        while True:
            self._jobs_left = 0
            pieces = await batches.get()
            if pieces is None:
                return
            self._jobs_left = SIGN_PIECE * len(pieces)
            for position, piece in enumerate(pieces):
                if state.stop:
                    for task in pieces[position:]:
                        task.cancel()
                    break
                jobs = await piece
                self._jobs_left = SIGN_PIECE * (len(pieces) - position - 1) + len(jobs)
                for job in jobs:
                    self._jobs_left -= 1
                    while not state.stop:
                        try:
                            await asyncio.wait_for(queue.put(job), self.policy.watch_interval)
                            break
                        except TimeoutError:
                            continue

    async def _sender(
        self,
        queue: asyncio.Queue[Job],
        state: PassState,
        claiming: asyncio.Task[None],
        index: int = 0,
    ) -> None:
        send = self.mailer.send
        while not state.stop:
            if not self._may_take(index):
                if queue.empty() and claiming.done():
                    return
                await asyncio.sleep(IDLE_POLL)
                continue
            if queue.empty():
                if claiming.done():
                    return
                try:
                    job = await asyncio.wait_for(queue.get(), self.policy.watch_interval)
                except TimeoutError:
                    continue
            else:
                job = queue.get_nowait()
            why = state.why_not_send(job)
            if why is not None:
                if job.claimed.id in state.stopped:
                    skip = DeliveryResult(job.claimed.id, DeliveryStatus.SKIPPED, error=why)
                    state.add_results([skip], {job.claimed.id: job.claimed})
                elif why == LEASE_RUNNING_OUT:
                    # The watcher could not renew in time: the database is not answering.
                    state.fail(LedgerError("leases could not be renewed in time"), precise=False)
                continue  # any other reason: the row stays held and is handed back
            while state.ledger_stalled() and not state.stop:
                await asyncio.sleep(0.05)
            if state.stop:
                return
            state.handing_over(job)
            outcome = await send(job.envelope)
            result = self._result(job.claimed, outcome, job.message_id, self.clock())
            # Counted at once, so a pause stops the other senders before their next message.
            state.outcome(job, outcome, result)
            if len(state.pending) >= self.policy.record_every:
                state.wake.set()

    async def _recorder(
        self, run_id: int, kind: MessageKind, planned_at: datetime, state: PassState
    ) -> None:
        while not state.closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.wake.wait(), self.policy.record_interval)
            state.wake.clear()
            if state.closing or not (state.pending or state.pause_pending):
                continue
            results, claimed, reason = state.take()
            state.recording_since = time.monotonic()
            try:
                status, stale = await self._db(
                    self.ledger.record, run_id, kind, planned_at, results, claimed, reason
                )
            except BaseException:
                state.give_back(results, claimed, reason)
                raise
            finally:
                state.recording_since = None
            state.report.stale += stale
            if status != RunStatus.SENDING:
                state.stop = True

    async def _watcher(self, run_id: int, kind: MessageKind, state: PassState) -> None:
        version: int | None = None
        renew_every = max(self.policy.watch_interval, self.policy.lease.total_seconds() / 4)
        last_renew = time.monotonic()
        while not state.closing:
            await asyncio.sleep(self.policy.watch_interval)
            if (reason := self._stop_request()) is not None and not state.stop:
                state.stop, state.report.stopped_by = True, reason
            renew: list[str] = []
            if time.monotonic() - last_renew >= renew_every:
                renew = state.live_claims()
            held = list(state.held.values())
            status, version, stopped, kept, monotonic = await self._db(
                self.ledger.watch, run_id, kind, version, held, renew
            )
            if renew:
                state.renewed(renew, kept, monotonic)
                last_renew = monotonic
            state.stopped.update(stopped)
            if status != RunStatus.SENDING:
                state.stop = True


__all__ = ["Job", "RunSender", "SendPolicy", "SendReport", "worker_name"]
