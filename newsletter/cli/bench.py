"""``newsletter bench``: measure a full digest send on a temporary database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.bench import run_bench
from newsletter.cli.context import console


def bench(
    subscribers: Annotated[int, typer.Option(help="How many subscribers to create.")] = 10_000,
    topics: Annotated[
        int, typer.Option(help="Topics; subscribers spread over every combination.")
    ] = 5,
    articles: Annotated[int, typer.Option(help="Articles to choose from.")] = 50,
    smtp: Annotated[
        str | None, typer.Option(help="HOST:PORT of an SMTP sink (default: start one).")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="SMTP connections.")] = 8,
    batch_size: Annotated[int, typer.Option(help="Rows claimed per batch.")] = 500,
    dkim_key: Annotated[
        Path | None, typer.Option(help="Sign every message with this PEM RSA key (DKIM).")
    ] = None,
) -> None:
    """Build a temporary SQLite database and time one full digest send into an SMTP sink."""
    result = run_bench(
        subscribers=subscribers,
        topics=topics,
        articles=articles,
        smtp=smtp,
        concurrency=concurrency,
        batch_size=batch_size,
        dkim_key=dkim_key,
        progress=console.print,
    )
    console.print(f"sink: {result.sink}; run status: {result.status}")
    console.print(
        f"sent {result.sent} of {result.subscribers} messages, "
        f"{result.distinct_digests} distinct digests"
    )
    console.print(f"messages/second (delivery stage): {result.send_rate:,.0f}")
    console.print(f"messages/second (end to end, plan + send): {result.end_to_end_rate:,.0f}")
    console.print("time per stage (s):")
    for name, seconds in result.stages.items():
        console.print(f"  {name}: {seconds:.2f}")
    if result.sent:
        console.print(
            f"CPU of this process while sending: {result.send_cpu_seconds:.1f} s "
            f"({result.send_cpu_seconds / result.sent * 1e6:.0f} us per message)"
        )
    console.print(f"premailer calls: {result.premailer_calls}")
    console.print(f"peak RSS: {result.peak_rss_mb:.0f} MB")
