"""The scheduler daemon: an APScheduler 3 AsyncIOScheduler running fetch, dispatch and send jobs.

Jobs (all correctness lives in the database, so several daemons may share one database):

- ``heartbeat`` every few seconds: this daemon's row in ``scheduler_heartbeats``;
- ``dispatch`` every ``dispatch_interval_seconds``: ``schedule.dispatch.dispatch`` creates the
  runs and delivery rows of the periods that came due, then wakes the sender;
- ``drain`` every few seconds: sends the due rows of every sending run through the delivery
  engine (claims with leases: a killed daemon's rows come back when the lease expires);
- ``fetch`` every ``fetch_interval_minutes``: ``newsletter.operations.feeds.fetch_all(runtime)``;
- ``webhooks`` every minute: new subscriber and delivery events are queued and due webhook
  deliveries posted (``newsletter.webhooks.sender.deliver_due``);
- ``mailboxes`` every minute: the configured Maildirs of bounces, mailto unsubscribes and
  complaints are applied, each message once (``newsletter.inbound.mailboxes``).

Deferred messages of every kind (digests and confirmation emails alike) are retried by the
drain job when their retry time comes: they are rows of sending runs like any other.

SIGTERM or Ctrl-C: no job starts any more, the engine claims nothing new and hands over no
further message; messages already with the SMTP server finish (``shutdown_grace_seconds`` at
most), every result is recorded, unsent rows are handed back, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from newsletter.config import Settings
from newsletter.db import session_scope
from newsletter.errors import NewsletterError
from newsletter.operations.feeds import fetch_all
from newsletter.runtime import Runtime
from newsletter.schedule import heartbeat
from newsletter.schedule.clock import make_clock
from newsletter.schedule.dispatch import dispatch
from newsletter.schedule.drain import drain_runs, sendable_runs
from newsletter.schedule.models import HeartbeatState
from newsletter.schedule.report import DispatchReport
from newsletter.sending.engine import worker_name
from subscribers.dbtypes import utcnow

log = logging.getLogger("newsletter.schedule.daemon")
HEARTBEAT_SECONDS = 10.0
DRAIN_SECONDS = 5.0
WEBHOOK_SECONDS = 60.0


def logfmt(event: str, **fields: object) -> str:
    """One structured log line: ``event=x key=value ...`` (values with spaces are quoted)."""
    parts = [f"event={event}"]
    for key, value in fields.items():
        if isinstance(value, datetime):
            text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            text = str(value)
        if not text or any(c in text for c in ' "='):
            text = '"' + text.replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


class SchedulerDaemon:
    """One scheduler process: its jobs, its heartbeat and its orderly shutdown."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.worker = worker_name()
        self.started_at = utcnow()
        self.stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._draining = False
        self._scheduler: AsyncIOScheduler | None = None

    # -- jobs -------------------------------------------------------------------------------

    async def _tracked(self, work: Callable[[], Awaitable[None]]) -> None:
        if self.stopping:
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except NewsletterError as exc:  # the ledger or the SMTP service: one line, try again later
            log.error(logfmt("job_failed", worker=self.worker, error=exc))
        except Exception:
            log.exception(logfmt("job_failed", worker=self.worker))
        finally:
            if task is not None:
                self._tasks.discard(task)

    def _beat(
        self, state: HeartbeatState = HeartbeatState.RUNNING, dispatched_at: datetime | None = None
    ) -> None:
        with session_scope(self.runtime.engine) as session:
            heartbeat.beat(
                session,
                worker=self.worker,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                started_at=self.started_at,
                now=utcnow(),
                state=state,
                dispatched_at=dispatched_at,
            )

    async def heartbeat_job(self) -> None:
        """Refresh this daemon's heartbeat row."""
        await self._tracked(lambda: asyncio.to_thread(self._beat))

    def _dispatch(self) -> tuple[datetime, DispatchReport]:
        now = self.runtime.clock()
        with session_scope(self.runtime.engine) as session:
            report = dispatch(
                session,
                now=now,
                limits=self.runtime.limits,
                lookback=self.runtime.lookback,
                max_lateness=timedelta(hours=self.settings.scheduler.max_lateness_hours),
            )
        self._beat(dispatched_at=now)
        return now, report

    async def dispatch_job(self) -> None:
        """Create the runs of the periods that came due, log one line per run, wake the sender."""

        async def work() -> None:
            now, report = await asyncio.to_thread(self._dispatch)
            for run in report.runs:
                log.info(
                    logfmt(
                        "run_created" if run.verdict in ("send", "one-off") else "run_skipped",
                        run=run.run_id,
                        list=run.list_slug,
                        period=run.period,
                        kind=run.verdict,
                        due=run.due_at,
                        lateness_min=int((now - run.due_at).total_seconds() // 60),
                        queued=run.queued,
                        skipped=run.skipped,
                        reason=run.reason or "-",
                    )
                )
            for send_id in report.sends_missed:
                log.warning(logfmt("send_missed", send=send_id, now=now))
            if report.conflicts:
                log.info(logfmt("dispatch_conflicts", units=report.conflicts, now=now))
            if report.created and self._scheduler is not None and not self.stopping:
                self._scheduler.modify_job("drain", next_run_time=datetime.now(UTC))

        await self._tracked(work)

    async def drain_job(self) -> None:
        """Send the due rows of every sending run; one log line per run pass."""
        if self._draining:
            return

        async def work() -> None:
            self._draining = True
            try:
                with session_scope(self.runtime.engine) as session:
                    run_ids = sendable_runs(session, now=self.runtime.clock())
                if not run_ids:
                    return
                reports = await drain_runs(
                    self.runtime, run_ids, worker=self.worker, stopping=lambda: self.stopping
                )
                for report in reports:
                    log.info(
                        logfmt(
                            "run_sent",
                            run=report.run_id,
                            sent=report.sent,
                            deferred=report.deferred,
                            failed=report.failed,
                            bounced=report.bounced,
                            status=report.status,
                        )
                    )
            finally:
                self._draining = False

        await self._tracked(work)

    async def fetch_job(self) -> None:
        """Fetch every registered feed (in a thread: fetching blocks) and log one line."""

        async def work() -> None:
            results = await asyncio.to_thread(fetch_all, self.runtime)
            failed = [r for r in results if r.error]
            log.info(
                logfmt(
                    "fetch_done",
                    feeds=len(results),
                    added=sum(r.added for r in results),
                    failed=len(failed),
                )
            )
            for result in failed:
                log.warning(logfmt("fetch_failed", url=result.url, error=result.error))

        await self._tracked(work)

    async def webhooks_job(self) -> None:
        """Queue new events and post the due webhook deliveries."""

        async def work() -> None:
            from newsletter.webhooks.sender import deliver_due

            report = await asyncio.to_thread(deliver_due, self.runtime)
            if any(vars(report).values()):
                log.info(logfmt("webhooks_sent", **vars(report)))

        await self._tracked(work)

    async def mailboxes_job(self) -> None:
        """Apply the new messages of the configured bounce, unsubscribe and complaint Maildirs."""

        async def work() -> None:
            from newsletter.inbound.mailboxes import consume_mailboxes

            report = await asyncio.to_thread(consume_mailboxes, self.runtime)
            if any(vars(report).values()):
                log.info(logfmt("mailboxes_read", **vars(report)))

        await self._tracked(work)

    # -- life cycle -------------------------------------------------------------------------

    def _starting(self) -> None:
        now = self.runtime.clock()
        with session_scope(self.runtime.engine) as session:
            heartbeat.prune(session, now=utcnow())
            last = heartbeat.last_dispatch(session)
        if last is not None and now - last > timedelta(minutes=5):
            log.warning(
                logfmt(
                    "downtime",
                    last_dispatch=last,
                    now=now,
                    down_h=round((now - last).total_seconds() / 3600, 2),
                    note="each missed period is sent once if within max lateness, else skipped",
                )
            )
        self._beat()

    def _stopped(self) -> None:
        # The engine itself records every result and hands its unsent rows back when a pass
        # ends, keeping the lease of a message still in flight: nothing to release here.
        self._beat(state=HeartbeatState.STOPPED)

    async def serve(self, *, stop: asyncio.Event) -> None:
        """Run the jobs until ``stop`` is set, then shut down within the grace period."""
        settings = self.settings
        await asyncio.to_thread(self._starting)
        scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler = scheduler
        start = datetime.now(UTC)
        common: dict[str, Any] = {"coalesce": True, "misfire_grace_time": None}
        scheduler.add_job(
            self.heartbeat_job,
            "interval",
            seconds=min(HEARTBEAT_SECONDS, settings.scheduler.dispatch_interval_seconds),
            id="heartbeat",
            max_instances=1,
            **common,
        )
        scheduler.add_job(
            self.dispatch_job,
            "interval",
            seconds=settings.scheduler.dispatch_interval_seconds,
            id="dispatch",
            next_run_time=start,
            max_instances=1,
            **common,
        )
        scheduler.add_job(
            self.drain_job,
            "interval",
            seconds=DRAIN_SECONDS,
            id="drain",
            next_run_time=start,
            max_instances=3,  # the job itself refuses to overlap; this only avoids warnings
            **common,
        )
        scheduler.add_job(
            self.fetch_job,
            "interval",
            minutes=settings.scheduler.fetch_interval_minutes,
            id="fetch",
            next_run_time=start,
            max_instances=1,
            **common,
        )
        scheduler.add_job(
            self.webhooks_job,
            "interval",
            seconds=WEBHOOK_SECONDS,
            id="webhooks",
            max_instances=1,
            **common,
        )
        scheduler.add_job(
            self.mailboxes_job,
            "interval",
            seconds=WEBHOOK_SECONDS,
            id="mailboxes",
            next_run_time=start,
            max_instances=1,
            **common,
        )
        scheduler.start()
        log.info(
            logfmt(
                "scheduler_started",
                worker=self.worker,
                now=self.runtime.clock(),
            )
        )
        try:
            await stop.wait()
        finally:
            self.stopping = True
            scheduler.pause()
            pending = {t for t in self._tasks if not t.done()}
            if pending:
                log.info(logfmt("scheduler_stopping", in_flight=len(pending)))
                _, pending = await asyncio.wait(
                    pending, timeout=settings.scheduler.shutdown_grace_seconds
                )
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            scheduler.shutdown(wait=False)
            await asyncio.to_thread(self._stopped)
            log.info(logfmt("scheduler_stopped", worker=self.worker, cancelled=len(pending)))


async def serve(runtime: Runtime, *, stop: asyncio.Event) -> None:
    """Run the scheduler daemon until ``stop`` is set."""
    await SchedulerDaemon(runtime).serve(stop=stop)


def run_daemon(settings: Settings) -> int:
    """Entry point of ``python scheduler.py``: serve until SIGTERM or Ctrl-C, then exit 0."""
    from newsletter.observability.logsetup import configure_logging
    from newsletter.observability.metrics import serve_metrics

    configure_logging(settings.observability.log_format)
    runtime = Runtime.create(settings, clock=make_clock(settings))
    port, host = settings.observability.metrics_port, settings.observability.metrics_host
    metrics = serve_metrics(runtime.engine, utcnow, host=host, port=port) if port else None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(runtime, stop=stop)

    try:
        asyncio.run(main())
    finally:
        if metrics is not None:
            metrics.shutdown()
        runtime.dispose()
    return 0
