"""``newsletter bench``: measure a full digest send on a temporary database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.context import console
from newsletter.devtools.bench import BenchResult, run_bench
from newsletter.errors import NewsletterError


def bench(
    subscribers: Annotated[int, typer.Option(help="How many subscribers to create.")] = 10_000,
    topics: Annotated[
        int, typer.Option(help="Topics; subscribers spread over every combination.")
    ] = 5,
    articles: Annotated[int, typer.Option(help="Articles to choose from.")] = 50,
    smtp: Annotated[
        str | None, typer.Option(help="127.0.0.1:PORT of an SMTP sink (default: start one).")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="SMTP connections per sender.")] = 8,
    batch_size: Annotated[int, typer.Option(help="Rows claimed per batch.")] = 500,
    dkim: Annotated[bool, typer.Option(help="Generate a 2048-bit RSA key and sign.")] = False,
    dkim_key: Annotated[
        Path | None, typer.Option(help="Sign every message with this PEM RSA key (DKIM).")
    ] = None,
    latency_ms: Annotated[
        int | None,
        typer.Option(help="Delay every chunk by MS ms each way (round trip 2 x MS)."),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="A PostgreSQL server URL: a temporary database is made there."),
    ] = None,
    senders: Annotated[int, typer.Option(help="Separate sender processes sharing the run.")] = 1,
    pipelining: Annotated[
        str, typer.Option(help="auto (pipelining and CHUNKING when offered), on or off.")
    ] = "auto",
    in_flight: Annotated[
        int,
        typer.Option(help="Messages in flight per pipelined connection (the window)."),
    ] = 4,
    plan_only: Annotated[bool, typer.Option(help="Seed and plan, then stop.")] = False,
    verify: Annotated[
        bool,
        typer.Option(
            help="The sink verifies every DKIM signature with dkimpy (slower: for checking, "
            "not for speed figures)."
        ),
    ] = False,
) -> None:
    """Build a temporary database and time one full digest send into an SMTP sink."""
    result = run_bench(
        subscribers=subscribers,
        topics=topics,
        articles=articles,
        smtp=smtp,
        concurrency=concurrency,
        batch_size=batch_size,
        dkim=dkim,
        dkim_key=dkim_key,
        latency_ms=latency_ms,
        database_url=database_url,
        senders=senders,
        pipelining=pipelining,
        in_flight=in_flight,
        plan_only=plan_only,
        verify=verify,
        progress=console.print,
    )
    show(result)
    if result.verified is not None and result.verified < result.sent:
        raise NewsletterError(
            f"{result.sent - result.verified} of {result.sent} messages did not verify at the sink"
        )


def show(result: BenchResult) -> None:
    """Print the figures."""
    console.print(
        f"database: {result.database}; sink: {result.sink}; senders: {result.senders}; "
        f"run status: {result.status}"
    )
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
            f"CPU of the sender process(es): {result.send_cpu_seconds:.1f} s "
            f"({result.cpu_per_message_us:.0f} us per message)"
        )
    if result.signed:
        console.print(
            f"DKIM: {result.signed} signatures, {result.signing_rate:,.0f} per second of "
            f"signing time ({result.signing_seconds:.1f} s)"
        )
    if result.verified is not None:
        console.print(
            f"DKIM verified at the sink (dkimpy): {result.verified} of "
            f"{result.verified + result.unverified} messages; failed: {result.unverified}"
        )
    if result.senders == 1:
        console.print(f"premailer calls: {result.premailer_calls}")
    console.print(f"peak RSS (largest process): {result.peak_rss_mb:.0f} MB")
