"""Prometheus metrics, computed at scrape time from the database (nothing counted in memory).

Every number comes from the ledger and the scheduler's tables, so the web app and any number
of scheduler processes report the same values, a restart loses nothing, and the send engine
needs no instrumentation. One scrape runs five grouped ``count()`` queries.

Families (``newsletter_`` prefix):
- ``deliveries{list,kind,status}``: ledger rows (messages) per list, run kind and status
  (``sent``, ``failed``, ``deferred``, ``bounced``, ``queued``, ...);
- ``queue_depth{list}``: messages waiting (queued, deferred or held) in open runs;
- ``messages_sent_last_5m`` and ``send_rate_per_second``: messages sent in the last 5 minutes;
- ``run_progress{run,list}`` (0 to 1) and ``run_messages{run,list}`` for each open run;
- ``scheduler_heartbeat_age_seconds{worker}`` and ``scheduler_daemons_alive``;
- ``feed_fetch_errors``: feeds whose last fetch failed, ``feeds``: feeds in all;
- ``database_up``: 0 when the queries failed (then only this family is reported).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, and_, func, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from newsletter.errors import ConfigError
from newsletter.models import Delivery, DeliveryStatus, Feed, Run, RunStatus
from newsletter.schedule.heartbeat import STALE_AFTER
from newsletter.schedule.models import Heartbeat
from subscribers.models import MailingList

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger(__name__)
RATE_WINDOW = timedelta(minutes=5)
OPEN_RUNS = (RunStatus.SENDING.value, RunStatus.PAUSED.value)
WAITING = (DeliveryStatus.QUEUED.value, DeliveryStatus.DEFERRED.value, DeliveryStatus.SENDING.value)
FINISHED = tuple(s.value for s in DeliveryStatus if s.value not in WAITING)


@dataclass(frozen=True)
class RunProgress:
    """An open run: how many of its messages are finished, of how many."""

    run_id: int
    list_slug: str
    finished: int
    total: int


@dataclass(frozen=True)
class Snapshot:
    """Everything a scrape reports, read in one session."""

    deliveries: dict[tuple[str, str, str], int]
    queue_depth: dict[str, int]
    sent_recently: int
    runs: list[RunProgress]
    heartbeat_ages: dict[str, float]
    daemons_alive: int
    feeds: int
    feeds_failing: int


def take_snapshot(session: Session, *, now: datetime) -> Snapshot:
    """Read the numbers of one scrape (grouped counts, no per-row work)."""
    by_list = (
        select(MailingList.slug, Run.kind, Delivery.status, func.count())
        .join(Run, col(Run.id) == col(Delivery.run_id))
        .join(MailingList, col(MailingList.id) == col(Run.list_id))
        .group_by(col(MailingList.slug), col(Run.kind), col(Delivery.status))
    )
    deliveries = {(slug, kind, status): n for slug, kind, status, n in session.exec(by_list)}
    per_run = (
        select(
            Run.id,
            MailingList.slug,
            func.count(),
            func.count().filter(col(Delivery.status).in_(FINISHED)),
        )
        .join(Run, col(Run.id) == col(Delivery.run_id))
        .join(MailingList, col(MailingList.id) == col(Run.list_id))
        .where(col(Run.status).in_(OPEN_RUNS))
        .group_by(col(Run.id), col(MailingList.slug))
        .order_by(col(Run.id))
    )
    runs = [
        RunProgress(run_id or 0, slug, done, total)
        for run_id, slug, total, done in session.exec(per_run)
    ]
    queue = {slug: 0 for slug, _kind, _status in deliveries}
    for run in runs:
        queue[run.list_slug] = queue.get(run.list_slug, 0) + run.total - run.finished
    sent_recently = session.exec(
        select(func.count())
        .select_from(Delivery)
        .where(col(Delivery.status) == DeliveryStatus.SENT.value)
        .where(col(Delivery.sent_at) >= now - RATE_WINDOW)
    ).one()
    beats = session.exec(select(Heartbeat.worker, Heartbeat.beat_at, Heartbeat.state)).all()
    ages = {worker: max(0.0, (now - beat_at).total_seconds()) for worker, beat_at, _ in beats}
    alive = sum(
        1 for worker, beat_at, state in beats if state == "running" and now - beat_at <= STALE_AFTER
    )
    failing = or_(
        col(Feed.last_success_at).is_(None), col(Feed.last_error_at) > col(Feed.last_success_at)
    )
    feeds, feeds_failing = session.exec(
        select(
            func.count(),
            func.count().filter(and_(col(Feed.last_error_at).is_not(None), failing)),
        ).select_from(Feed)
    ).one()
    return Snapshot(
        deliveries=deliveries,
        queue_depth=queue,
        sent_recently=int(sent_recently),
        runs=runs,
        heartbeat_ages=ages,
        daemons_alive=alive,
        feeds=int(feeds),
        feeds_failing=int(feeds_failing),
    )


def families(snapshot: Snapshot) -> Iterator[Metric]:
    """The snapshot as Prometheus metric families (pure)."""
    up = GaugeMetricFamily("newsletter_database_up", "1 when the metrics queries succeeded.")
    up.add_metric([], 1)
    yield up
    deliveries = GaugeMetricFamily(
        "newsletter_deliveries",
        "Messages in the ledger per list, run kind and status.",
        labels=["list", "kind", "status"],
    )
    for (slug, kind, status), n in sorted(snapshot.deliveries.items()):
        deliveries.add_metric([slug, kind, status], n)
    yield deliveries
    queue = GaugeMetricFamily(
        "newsletter_queue_depth",
        "Messages waiting (queued, deferred or held) in open runs, per list.",
        labels=["list"],
    )
    for slug, n in sorted(snapshot.queue_depth.items()):
        queue.add_metric([slug], n)
    yield queue
    window = RATE_WINDOW.total_seconds()
    yield GaugeMetricFamily(
        "newsletter_messages_sent_last_5m",
        "Messages sent in the last five minutes.",
        value=snapshot.sent_recently,
    )
    yield GaugeMetricFamily(
        "newsletter_send_rate_per_second",
        "Messages sent per second, averaged over the last five minutes.",
        value=snapshot.sent_recently / window,
    )
    progress = GaugeMetricFamily(
        "newsletter_run_progress",
        "Share of an open run's messages that are finished (0 to 1).",
        labels=["run", "list"],
    )
    total = GaugeMetricFamily(
        "newsletter_run_messages", "Messages of an open run.", labels=["run", "list"]
    )
    for run in snapshot.runs:
        labels = [str(run.run_id), run.list_slug]
        progress.add_metric(labels, run.finished / run.total if run.total else 1.0)
        total.add_metric(labels, run.total)
    yield progress
    yield total
    ages = GaugeMetricFamily(
        "newsletter_scheduler_heartbeat_age_seconds",
        "Seconds since each scheduler daemon last wrote its heartbeat.",
        labels=["worker"],
    )
    for worker, age in sorted(snapshot.heartbeat_ages.items()):
        ages.add_metric([worker], age)
    yield ages
    yield GaugeMetricFamily(
        "newsletter_scheduler_daemons_alive",
        "Scheduler daemons whose heartbeat is fresh.",
        value=snapshot.daemons_alive,
    )
    yield GaugeMetricFamily(
        "newsletter_feed_fetch_errors",
        "Feeds whose last fetch failed.",
        value=snapshot.feeds_failing,
    )
    yield GaugeMetricFamily("newsletter_feeds", "Feeds fetched.", value=snapshot.feeds)


class DatabaseCollector(Collector):
    """A prometheus-client collector that reads the database on every scrape."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        """One snapshot per scrape; a database failure is reported as ``database_up 0``."""
        try:
            with Session(self.engine) as session:
                snapshot = take_snapshot(session, now=self.clock())
        except SQLAlchemyError as exc:
            log.warning("metrics query failed", extra={"error": str(exc).splitlines()[0]})
            down = GaugeMetricFamily(
                "newsletter_database_up", "1 when the metrics queries succeeded."
            )
            down.add_metric([], 0)
            yield down
            return
        yield from families(snapshot)

    def describe(self) -> Iterator[Metric]:
        """Nothing: registering must not query the database."""
        return iter(())


def make_registry(engine: Engine, clock: Callable[[], datetime]) -> CollectorRegistry:
    """A registry of our own (no process-global state) holding the database collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine, clock))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition format of one scrape."""
    return generate_latest(registry)


def serve_metrics(
    engine: Engine, clock: Callable[[], datetime], *, host: str, port: int
) -> WSGIServer:
    """Serve ``/metrics`` on ``host:port`` from a background thread (the scheduler's endpoint)."""
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=host, registry=make_registry(engine, clock))
    except OSError as exc:
        raise ConfigError(
            f"NEWSLETTER_METRICS_PORT: cannot listen on {host}:{port} ({exc.strerror})"
        ) from None
    return server
