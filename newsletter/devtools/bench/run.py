"""The benchmark run: seed a temporary database, plan one digest run, send it, and measure."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from newsletter.db import make_engine, session_scope, upgrade
from newsletter.delivery.dkim import dns_record, new_private_key
from newsletter.devtools.bench.network import DelayProxy, Sink
from newsletter.devtools.bench.seed import BENCH_NOW, bench_database, seed_content, seed_subscribers
from newsletter.devtools.bench.senders import (
    SenderProcesses,
    SenderReport,
    bench_settings,
    peak_rss_mb,
    send_once,
)
from newsletter.digest import render
from newsletter.errors import ConfigError
from newsletter.ledger.planning import plan_run
from newsletter.runtime import Runtime
from subscribers import service


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
    plan_seconds: float = 0.0
    peak_rss_mb: float = 0.0  # the largest of the planning process and every sender
    sink: str = ""
    status: str = ""
    send_cpu_seconds: float = 0.0  # every sender process together
    senders: int = 1
    signed: int = 0
    signing_seconds: float = 0.0  # wall time inside the signers, summed over processes
    database: str = "sqlite"
    verified: int | None = None  # messages whose DKIM signature the sink verified (--verify)
    unverified: int = 0

    @property
    def send_rate(self) -> float:
        """Messages per second of the delivery stage."""
        return self.sent / self.send_seconds if self.send_seconds else 0.0

    @property
    def end_to_end_rate(self) -> float:
        """Messages per second from planning to the last ledger write."""
        return self.sent / self.end_to_end_seconds if self.end_to_end_seconds else 0.0

    @property
    def cpu_per_message_us(self) -> float:
        """Sender CPU per message sent, in microseconds."""
        return self.send_cpu_seconds / self.sent * 1e6 if self.sent else 0.0

    @property
    def signing_rate(self) -> float:
        """Signatures per second of signing wall time (per process, averaged)."""
        return self.signed / self.signing_seconds if self.signing_seconds else 0.0


def _target(smtp: str | None) -> int | None:
    if smtp is None:
        return None
    host, _, port = smtp.rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--smtp: expected 127.0.0.1:PORT (loopback only), got {smtp!r}")
    return int(port)


@dataclass
class _FarEnd:
    port: int
    kind: str
    sink: Sink | None


@contextlib.contextmanager
def _far_end(
    smtp_port: int | None, latency_ms: int | None, verify: bytes | None
) -> Iterator[_FarEnd]:
    """Where to send: our sink (verifying DKIM if given a record) or the given one, maybe
    behind the delaying proxy."""
    with contextlib.ExitStack() as stack:
        sink = None
        if smtp_port is None:
            sink = stack.enter_context(Sink(verify))
            smtp_port, kind = sink.port, sink.kind
        else:
            kind = f"127.0.0.1:{smtp_port}"
        if latency_ms:
            proxy = stack.enter_context(DelayProxy(smtp_port, latency_ms))
            smtp_port, kind = proxy.port, f"{kind} behind delayproxy +{latency_ms} ms each way"
        yield _FarEnd(smtp_port, kind, sink)


def _generate_key(folder: Path) -> Path:
    path = folder / "dkim.pem"
    path.write_bytes(new_private_key("rsa"))
    return path


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
    dkim: bool = False,
    latency_ms: int | None = None,
    database_url: str | None = None,
    senders: int = 1,
    pipelining: str = "auto",
    in_flight: int = 4,
    plan_only: bool = False,
    verify: bool = False,
    progress: Callable[[str], None] = lambda line: None,
) -> BenchResult:
    """Build a temporary database, plan and send one digest run, and measure it."""
    if subscribers < 1 or topics < 1 or articles < 1 or concurrency < 1 or batch_size < 1:
        raise ConfigError(
            "--subscribers, --topics, --articles, --concurrency and --batch-size must be >= 1"
        )
    if topics > 12:
        raise ConfigError("--topics: at most 12 (4,095 topic combinations)")
    if not 1 <= senders <= 16:
        raise ConfigError("--senders: between 1 and 16")
    if latency_ms is not None and not 0 <= latency_ms <= 10_000:
        raise ConfigError("--latency-ms: between 0 and 10000")
    if not 1 <= in_flight <= 8:
        raise ConfigError("--in-flight: between 1 and 8")
    if pipelining not in ("auto", "on", "off"):
        raise ConfigError("--pipelining: auto, on or off")
    smtp_port = _target(smtp)
    if verify and not (dkim or dkim_key):
        raise ConfigError("--verify checks DKIM signatures: give --dkim or --dkim-key too")
    if verify and smtp_port is not None:
        raise ConfigError("--verify needs the benchmark's own sink: leave out --smtp")
    with contextlib.ExitStack() as stack:
        keys = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="newsletter-key-")))
        if dkim and dkim_key is None:
            dkim_key = _generate_key(keys)
        url = stack.enter_context(bench_database(database_url, workdir))
        stages: dict[str, float] = {}
        started = time.perf_counter()
        upgrade(url)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        slugs = seed_content(engine, topics=topics, articles=articles)
        seed_subscribers(engine, count=subscribers, slugs=slugs)
        stages["seed database"] = time.perf_counter() - started
        progress(f"seeded {subscribers} subscribers in {stages['seed database']:.1f} s")
        calls = [0]
        original = render.inline_css

        def counting_inline(html: str) -> str:
            calls[0] += 1
            return original(html)

        render.inline_css = counting_inline
        stack.callback(setattr, render, "inline_css", original)
        record = dns_record(dkim_key.read_bytes()) if verify and dkim_key else None
        far = stack.enter_context(_far_end(smtp_port, latency_ms, record))
        port, kind = far.port, far.kind
        settings = bench_settings(
            url,
            smtp_port=port,
            concurrency=concurrency,
            batch_size=batch_size,
            dkim_key=dkim_key,
            pipelining=pipelining,
        )
        runtime = Runtime(
            settings=settings,
            engine=engine,
        )
        e2e = time.perf_counter()
        with session_scope(engine) as session:
            plan = plan_run(
                session,
                mailing_list=service.get_list(session, slug="bench"),
                now=BENCH_NOW,
                limits=runtime.limits,
                lookback=runtime.lookback,
            )
        plan_seconds = time.perf_counter() - e2e
        stages["plan (select + ledger rows)"] = plan_seconds
        plan_rss = peak_rss_mb()
        progress(
            f"planned {plan.queued} messages, {plan.digests} distinct digests in "
            f"{plan_seconds:.1f} s; peak RSS so far {plan_rss:.0f} MB"
        )
        if plan_only:
            reports = [SenderReport(status="planned", peak_rss_mb=plan_rss)]
            send_seconds = 0.0
        elif senders == 1:
            send_started = time.perf_counter()
            reports = [send_once(settings, plan.run_id, in_flight=in_flight)]
            send_seconds = time.perf_counter() - send_started
        else:
            config = {
                "url": url,
                "smtp_port": port,
                "concurrency": concurrency,
                "batch_size": batch_size,
                "dkim_key": str(dkim_key) if dkim_key else None,
                "pipelining": pipelining,
                "in_flight": in_flight,
                "run_id": plan.run_id,
            }
            workers = SenderProcesses(senders, config)
            stack.callback(workers.kill)
            reports, send_seconds = workers.run()
        end_to_end = plan_seconds + send_seconds
        result = _result(
            subscribers, plan.digests, calls[0], stages, reports, send_seconds, end_to_end, kind
        )
        result.plan_seconds = plan_seconds
        result.peak_rss_mb = max(result.peak_rss_mb, plan_rss)
        result.database = "postgresql" if url.startswith("postgresql") else "sqlite"
        if record is not None and far.sink is not None:
            result.verified, result.unverified = far.sink.verified, far.sink.unverified
        return result


def _result(
    subscribers: int,
    digests: int,
    premailer: int,
    stages: dict[str, float],
    reports: list[SenderReport],
    send_seconds: float,
    end_to_end: float,
    sink: str,
) -> BenchResult:
    for index, report in enumerate(reports):
        prefix = f"  sender {index + 1}: " if len(reports) > 1 else "  "
        for name, seconds in report.stages.items():
            stages[prefix + name] = seconds
    statuses = {r.status for r in reports}
    return BenchResult(
        subscribers=subscribers,
        sent=sum(r.sent for r in reports),
        distinct_digests=digests,
        premailer_calls=premailer,
        stages=stages,
        send_seconds=send_seconds,
        end_to_end_seconds=end_to_end,
        peak_rss_mb=max(r.peak_rss_mb for r in reports),
        sink=sink,
        # the last sender to finish marks the run done; the others saw rows still in flight
        status="done" if "done" in statuses else ",".join(sorted(statuses)),
        send_cpu_seconds=sum(r.cpu_seconds for r in reports),
        senders=len(reports),
        signed=sum(r.signed for r in reports),
        signing_seconds=sum(r.signing_seconds for r in reports),
    )
