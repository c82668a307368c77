"""``newsletter preview`` and ``newsletter send``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from newsletter import runs
from newsletter.cli.context import console, runtime


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
            "--dry-run", help="Write .eml files to this folder instead; nothing is recorded."
        ),
    ] = None,
    to: Annotated[
        str | None, typer.Option(help="Send one test digest to this address only.")
    ] = None,
) -> None:
    """Send the list's digests now: one per subscriber with new articles in their topics."""
    rt = runtime(ctx)
    if to is not None:
        message_id = asyncio.run(runs.send_test(rt, slug=list_slug, to=to))
        console.print(f"test digest sent to {to} (Message-ID <{message_id}>)")
        return
    summary = asyncio.run(runs.send_list(rt, slug=list_slug, dry_run_dir=dry_run))
    plan, report = summary.plan, summary.report
    if summary.dry_run:
        written = report.counts.get("written", 0) if report else 0
        console.print(
            f"dry run: {written} message(s) written to {dry_run}, {plan.skipped} skipped "
            f"(nothing new), {plan.digests} distinct digest(s); nothing was recorded"
        )
        return
    console.print(
        f"run {plan.run_id}: {plan.queued} to send, {plan.skipped} skipped (nothing new), "
        f"{plan.digests} distinct digest(s)"
    )
    if report is not None:
        console.print(
            f"run {plan.run_id}: {report.sent} sent, {report.deferred} deferred, "
            f"{report.failed} failed, {report.bounced} bounced; status {report.status}"
        )
