"""Benchmark sender processes: each wires the production sender from the settings and sends
its share of one run, so several processes (machines, in production) share one database."""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from newsletter.config import Settings, load_settings
from newsletter.db import make_engine
from newsletter.runtime import Runtime
from newsletter.sending.engine import RunSender

READY = "ready"


@dataclass
class SenderReport:
    """What one sender measured about itself."""

    sent: int = 0
    status: str = ""
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    signed: int = 0
    signing_seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)


def bench_settings(
    url: str,
    *,
    smtp_port: int,
    concurrency: int,
    batch_size: int,
    dkim_key: Path | None,
    pipelining: str = "auto",
) -> Settings:
    """The settings every benchmark sender uses (a fixed secret; one server, many messages)."""
    return load_settings(
        database_url=url,
        secret_key=SecretStr("bench-secret-key-0123456789"),
        base_url="https://news.example.org",
        first_digest_lookback_days=7,
        max_articles_per_topic=3,
        max_articles_total=10,
        smtp_url=f"smtp://127.0.0.1:{smtp_port}",
        smtp_pool_size=concurrency,
        smtp_messages_per_connection=100_000,
        smtp_pipelining=pipelining,
        send_batch_size=batch_size,
        dkim_key_file=dkim_key,
        dkim_selector="bench" if dkim_key else None,
        dkim_domain="bench.example.org" if dkim_key else None,
    )


def cpu_seconds() -> float:
    """User + system CPU of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _clock() -> datetime:
    return datetime.now(UTC)


def send_once(settings: Settings, run_id: int, *, in_flight: int = 4) -> SenderReport:
    """Send the run's due rows from this process with the production wiring.

    ``in_flight`` is the pipelining window of each SMTP connection (production: 4); the engine
    runs one sender task per message the connections can carry (connections x window).
    """
    engine = make_engine(settings.database_url)
    runtime = Runtime(settings=settings, engine=engine, clock=_clock)
    mailer = runtime.mailer()
    for server in getattr(mailer, "servers", {}).values():
        if hasattr(server.mailer, "window"):
            server.mailer.window = in_flight
    signer = runtime.signer()
    policy = runtime.send_policy()
    sender = RunSender(engine, runtime.env, mailer, policy, clock=_clock, signer=signer)
    cpu = cpu_seconds()

    async def go() -> SenderReport:
        try:
            report = await sender.send_run(run_id)
        finally:
            await mailer.close()
            if signer is not None:
                signer.close()
        return SenderReport(sent=report.sent, status=report.status, stages=report.stage_seconds)

    try:
        result = asyncio.run(go())
    finally:
        engine.dispose()
    result.cpu_seconds = cpu_seconds() - cpu
    result.peak_rss_mb = peak_rss_mb()
    if signer is not None:
        result.signed, result.signing_seconds = signer.signed, signer.seconds
    return result


def main() -> None:  # pragma: no cover - runs in a child process
    """Child entry: settings as JSON in argv; say ready, wait for a line, send, print a report."""
    config = json.loads(sys.argv[1])
    key = Path(config["dkim_key"]) if config["dkim_key"] else None
    settings = bench_settings(
        config["url"],
        smtp_port=config["smtp_port"],
        concurrency=config["concurrency"],
        batch_size=config["batch_size"],
        dkim_key=key,
        pipelining=config["pipelining"],
    )
    print(READY, flush=True)
    sys.stdin.readline()
    report = send_once(settings, config["run_id"], in_flight=config["in_flight"])
    print(json.dumps(asdict(report)), flush=True)


class SenderProcesses:
    """N sender processes started and made ready before the clock starts."""

    def __init__(self, count: int, config: dict[str, object]) -> None:
        command = [
            sys.executable,
            "-c",
            "from newsletter.devtools.bench.senders import main; main()",
        ]
        self.processes = [
            subprocess.Popen(
                [*command, json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(count)
        ]
        for process in self.processes:
            if process.stdout is None or process.stdout.readline().strip() != READY:
                self.kill()
                raise RuntimeError("a benchmark sender process did not start")

    def run(self) -> tuple[list[SenderReport], float]:
        """Start every sender at once; their reports and the wall time until the last ended."""
        started = time.perf_counter()
        for process in self.processes:
            if process.stdin is not None:
                process.stdin.write("go\n")
                process.stdin.flush()
        reports = []
        for process in self.processes:
            out, _ = process.communicate(timeout=3600)
            if process.returncode != 0:
                raise RuntimeError(f"a benchmark sender process failed ({process.returncode})")
            reports.append(SenderReport(**json.loads(out.strip().splitlines()[-1])))
        return reports, time.perf_counter() - started

    def kill(self) -> None:
        """Stop every sender still running."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
