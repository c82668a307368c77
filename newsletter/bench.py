"""The benchmark: a temporary database, N subscribers, one full digest send into an SMTP sink."""

from __future__ import annotations

import asyncio
import getpass
import itertools
import multiprocessing
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine, text

from newsletter import render
from newsletter.articles import ArticleDraft
from newsletter.config import Settings, parse_smtp_url
from newsletter.db import make_engine, session_scope, upgrade
from newsletter.delivery.capture import free_port
from newsletter.errors import ConfigError
from newsletter.ingest.store import store_drafts
from newsletter.models import Topic
from newsletter.planning import plan_run
from newsletter.render import make_environment
from newsletter.runtime import Runtime
from newsletter.sending import RunSender
from subscribers import service

SMTP_SINK = "/usr/sbin/smtp-sink"
BENCH_NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@dataclass
class BenchResult:
    """What one benchmark run measured."""

    subscribers: int
    sent: int
    distinct_digests: int
    premailer_calls: int
    stages: dict[str, float] = field(default_factory=dict)
    send_seconds: float = 0.0
    end_to_end_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    sink: str = ""
    status: str = ""
    send_cpu_seconds: float = 0.0

    @property
    def send_rate(self) -> float:
        """Messages per second of the delivery stage."""
        return self.sent / self.send_seconds if self.send_seconds else 0.0

    @property
    def end_to_end_rate(self) -> float:
        """Messages per second from planning to the last ledger write."""
        return self.sent / self.end_to_end_seconds if self.end_to_end_seconds else 0.0


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _combinations(topics: list[str]) -> list[list[str]]:
    return [
        list(combo)
        for size in range(1, len(topics) + 1)
        for combo in itertools.combinations(topics, size)
    ]


def _seed_content(engine: Engine, *, topics: int, articles: int) -> list[str]:
    slugs = [f"topic{i}" for i in range(topics)]
    with session_scope(engine) as session:
        for slug in slugs:
            session.add(Topic(slug=slug, name=slug.title(), created_at=BENCH_NOW))
    with session_scope(engine) as session:
        service.create_list(
            session,
            slug="bench",
            name="Bench Daily",
            from_name="Bench Newsroom",
            from_address="digest@bench.example.org",
            topics=slugs,
        )
        drafts = [
            ArticleDraft(
                title=f"Story {i}: what happened in {slugs[i % topics]} today",
                body_html=f"<p>Body of story {i}. " + "Lorem ipsum dolor sit amet. " * 20 + "</p>",
                published_at=BENCH_NOW - timedelta(minutes=10 * (i + 1)),
                url=f"https://news.example.org/story-{i}",
                summary=f"Summary of story {i}. " + "A short teaser sentence. " * 6,
                topics=tuple({slugs[i % topics], slugs[(i * 7 + 3) % topics]}),
            )
            for i in range(articles)
        ]
        store_drafts(session, drafts, topics=[], now=BENCH_NOW, source="bench")
    return slugs


def _seed_subscribers(engine: Engine, *, count: int, slugs: list[str]) -> None:
    """Bulk rows straight through the driver: the ORM would take minutes at a million."""
    import json

    combos = _combinations(slugs)
    stamp = BENCH_NOW.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    with engine.begin() as connection:
        list_id = connection.execute(text("SELECT id FROM lists WHERE slug = 'bench'")).scalar_one()
        raw = connection.connection.driver_connection
        if raw is None:
            raise RuntimeError("no driver connection")
        cursor = raw.cursor()
        for start in range(0, count, 10_000):
            ids = range(start + 1, min(count, start + 10_000) + 1)
            cursor.executemany(
                "INSERT INTO subscribers (id, email, name, status, timezone, attributes, "
                "soft_bounces, created_at, updated_at) VALUES (?, ?, ?, 'active', 'UTC', '{}', "
                "0, ?, ?)",
                [(i, f"reader{i}@example.com", f"Reader {i}", stamp, stamp) for i in ids],
            )
            cursor.executemany(
                "INSERT INTO subscriptions (id, subscriber_id, list_id, status, topics, cadence, "
                "weekday, send_hour, created_at) VALUES (?, ?, ?, 'active', ?, 'daily', 0, 8, ?)",
                [(i, i, list_id, json.dumps(combos[i % len(combos)]), stamp) for i in ids],
            )


def _sink_command(port: int) -> list[str]:
    return [SMTP_SINK, "-u", getpass.getuser(), f"127.0.0.1:{port}", "1000"]


def _aiosmtpd_sink(port: int) -> None:  # pragma: no cover - runs in a child process
    from aiosmtpd.controller import Controller

    class _Sink:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            return "250 2.0.0 Ok"

    controller = Controller(_Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    while True:
        time.sleep(3600)


class Sink:
    """An SMTP sink in a separate process: Postfix's smtp-sink if installed, else aiosmtpd."""

    def __init__(self) -> None:
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | multiprocessing.Process | None = None
        self.kind = "smtp-sink" if shutil.which(SMTP_SINK) else "aiosmtpd"

    def __enter__(self) -> Sink:
        if self.kind == "smtp-sink":
            self._process = subprocess.Popen(
                _sink_command(self.port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        else:
            process = multiprocessing.get_context("spawn").Process(
                target=_aiosmtpd_sink, args=(self.port,), daemon=True
            )
            process.start()
            self._process = process  # type: ignore[assignment]
        _wait_for_port(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        process = self._process
        if isinstance(process, subprocess.Popen):
            process.terminate()
            process.wait(timeout=10)
        elif process is not None:
            process.terminate()
            process.join(timeout=10)


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise ConfigError(f"the benchmark's SMTP sink did not start on port {port}")


def run_bench(
    *,
    subscribers: int,
    topics: int = 5,
    articles: int = 50,
    smtp: str | None = None,
    concurrency: int = 8,
    batch_size: int = 500,
    workdir: Path | None = None,
    dkim_key: Path | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> BenchResult:
    """Build a temporary database, plan and send one digest run, and measure it."""
    if subscribers < 1 or topics < 1 or articles < 1 or concurrency < 1:
        raise ConfigError("--subscribers, --topics, --articles and --concurrency must be >= 1")
    if topics > 12:
        raise ConfigError("--topics: at most 12 (4,095 topic combinations)")
    target = None
    if smtp is not None:
        host, _, port = smtp.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"--smtp: expected HOST:PORT, got {smtp!r}")
        target = parse_smtp_url(f"smtp://{host}:{port}")
    with tempfile.TemporaryDirectory(prefix="newsletter-bench-", dir=workdir) as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        stages: dict[str, float] = {}
        started = time.perf_counter()
        upgrade(url)
        engine = make_engine(url)
        slugs = _seed_content(engine, topics=topics, articles=articles)
        _seed_subscribers(engine, count=subscribers, slugs=slugs)
        stages["seed database"] = time.perf_counter() - started
        progress(f"seeded {subscribers} subscribers in {stages['seed database']:.1f} s")
        settings = Settings(
            database_url=url,
            secret_key=SecretStr("bench-secret-key-0123456789"),
            base_url="https://news.example.org",
            first_digest_lookback_days=7,
            max_articles_per_topic=3,
            max_articles_total=10,
        )
        runtime = Runtime(settings=settings, engine=engine, env=make_environment(), clock=_clock)
        calls = [0]
        original = render.inline_css

        def counting_inline(html: str) -> str:
            calls[0] += 1
            return original(html)

        render.inline_css = counting_inline
        try:
            with Sink() if target is None else _NoSink() as sink:
                if target is None and isinstance(sink, Sink):
                    target = parse_smtp_url(f"smtp://127.0.0.1:{sink.port}")
                if target is None:
                    raise RuntimeError("no SMTP target")
                e2e = time.perf_counter()
                with session_scope(engine) as session:
                    mailing_list = service.get_list(session, slug="bench")
                    plan = plan_run(
                        session,
                        mailing_list=mailing_list,
                        now=_clock(),
                        limits=runtime.limits,
                        lookback=runtime.lookback,
                    )
                stages["plan (select + ledger rows)"] = time.perf_counter() - e2e
                progress(
                    f"planned {plan.queued} messages, {plan.digests} distinct digests in "
                    f"{stages['plan (select + ledger rows)']:.1f} s; peak RSS so far "
                    f"{peak_rss_mb():.0f} MB"
                )
                # The production path: the configured server(s) as a ServerPool.
                runtime.settings = settings.model_copy(
                    update={
                        "smtp_url": f"smtp://{target.host}:{target.port}",
                        "smtp_pool_size": concurrency,
                        "smtp_messages_per_connection": 10_000,
                        "send_batch_size": batch_size,
                        "dkim_key_file": dkim_key,
                        "dkim_selector": "bench" if dkim_key else None,
                        "dkim_domain": "bench.example.org" if dkim_key else None,
                    }
                )
                mailer = runtime.mailer()
                policy = runtime.send_policy()
                signer = runtime.signer()
                sender = RunSender(engine, runtime.env, mailer, policy, clock=_clock, signer=signer)
                send_started = time.perf_counter()
                cpu_started = _cpu_seconds()

                async def go() -> object:
                    try:
                        return await sender.send_run(plan.run_id)
                    finally:
                        await mailer.close()
                        if signer is not None:
                            signer.close()

                report = asyncio.run(go())
                send_seconds = time.perf_counter() - send_started
                send_cpu = _cpu_seconds() - cpu_started
                end = time.perf_counter()
        finally:
            render.inline_css = original
            engine.dispose()
        from newsletter.sending import SendReport

        if not isinstance(report, SendReport):
            raise RuntimeError("no report")
        for name, seconds in report.stage_seconds.items():
            stages[f"  {name}"] = seconds
        return BenchResult(
            subscribers=subscribers,
            sent=report.sent,
            distinct_digests=plan.digests,
            premailer_calls=calls[0],
            stages=stages,
            send_seconds=send_seconds,
            end_to_end_seconds=end - e2e,
            peak_rss_mb=peak_rss_mb(),
            sink=sink.kind if isinstance(sink, Sink) else f"{target.host}:{target.port}",
            status=report.status,
            send_cpu_seconds=send_cpu,
        )


class _NoSink:
    def __enter__(self) -> _NoSink:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _clock() -> datetime:
    return datetime.now(UTC)
