"""``newsletter preview`` and ``newsletter send``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.context import console, runtime
from newsletter.cli.runs import print_report
from newsletter.cli.signals import run_stoppable
from newsletter.operations import runs


def preview(
    ctx: typer.Context,
    list_slug: Annotated[str, typer.Option("--list", help="List slug.")],
    out: Annotated[Path, typer.Option(help="Folder for digest.html and digest.txt.")],
    subscriber: Annotated[
        str | None, typer.Option(help="Preview this subscriber's digest instead of the list's.")
    ] = None,
) -> None:
    """Write the HTML and text of a digest as it would be sent now."""
    rt = runtime(ctx)
    result = runs.build_preview(rt, slug=list_slug, email=subscriber)
    out.mkdir(parents=True, exist_ok=True)
    (out / "digest.html").write_text(result.html, encoding="utf-8")
    (out / "digest.txt").write_text(result.text, encoding="utf-8")
    console.print(f"subject: {result.rendered.subject}")
    console.print(
        f"{result.article_count} article(s); wrote {out / 'digest.html'} and {out / 'digest.txt'}"
    )


def send(
    ctx: typer.Context,
    list_slug: Annotated[str, typer.Option("--list", help="List slug.")],
    dry_run: Annotated[
        Path | None,
        typer.Option(
            "--dry-run",
            help="Write each message as an .eml file in this folder instead of sending it; "
            "recorded as a dry-run run, no subscriber's history changes.",
        ),
    ] = None,
    to: Annotated[
        str | None, typer.Option(help="Send one test digest to this address only.")
    ] = None,
) -> None:
    """Send the list's digests now: one per subscriber with new articles in their topics.

    SIGTERM or Ctrl-C stop cleanly: nothing new is handed over, every result is recorded and
    unsent messages are handed back (`newsletter runs resume RUN` sends them)."""
    rt = runtime(ctx)
    if to is not None:
        message_id = asyncio.run(runs.send_test(rt, slug=list_slug, to=to))
        console.print(f"test digest sent to {to} (Message-ID <{message_id}>)")
        return
    summary, signals = run_stoppable(
        lambda stop: runs.send_list(rt, slug=list_slug, dry_run_dir=dry_run, stopping=stop)
    )
    plan, report = summary.plan, summary.report
    held = f", {plan.held} waiting for an earlier digest still pending" if plan.held else ""
    what = "dry run " if summary.dry_run else ""
    console.print(
        f"{what}run {plan.run_id}: {plan.queued} to send, {plan.skipped} skipped{held}, "
        f"{plan.digests} distinct digest(s)",
        markup=False,
        soft_wrap=True,
    )
    if report is not None:
        print_report(report)
    if summary.dry_run:
        sent = report.sent if report is not None else 0
        console.print(f"dry run: {sent} message(s) written to {dry_run}", markup=False)
    signals.exit_if_stopped()
