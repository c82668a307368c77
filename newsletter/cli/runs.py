"""``newsletter runs ls|show|pause|resume|cancel|retry``."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.context import console, runtime
from newsletter.cli.signals import run_stoppable
from newsletter.models import RunStatus
from newsletter.operations import runs
from newsletter.sending.engine import SendReport

app = typer.Typer(help="Inspect and steer digest runs.", no_args_is_help=True)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {status}" for status, count in counts.items() if count) or "empty"


def print_report(report: SendReport) -> None:
    """The outcome of a sending pass, in one or two lines."""
    console.print(
        f"run {report.run_id}: {report.sent} sent, {report.deferred} deferred, "
        f"{report.failed} failed, {report.bounced} bounced, {report.skipped} skipped; "
        f"status {report.status}"
    )
    if report.stopped_by:
        console.print(
            f"stopped by {report.stopped_by}: {report.handed_back} unsent message(s) handed "
            "back; `newsletter runs resume` sends them",
            markup=False,
            soft_wrap=True,
        )
    if report.pause_reason:
        console.print(f"paused: {report.pause_reason}", markup=False, soft_wrap=True)


@app.command("ls")
def list_runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    status: Annotated[RunStatus | None, typer.Option(help="Only runs in this status.")] = None,
) -> None:
    """The latest runs, newest first."""
    found = runs.list_runs(runtime(ctx), limit=limit, status=status)
    if not found:
        console.print("no runs")
    for run in found:
        console.print(
            f"{run.id:>5}  {run.list_slug:<16} {run.status:<9} {run.kind:<9} "
            f"{run.created_at:%Y-%m-%d %H:%M}  {_counts(run.counts)}",
            markup=False,
            soft_wrap=True,
        )


@app.command("show")
def show(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """One run: status, counts, why it paused, most frequent errors, latest failures."""
    detail = runs.run_detail(runtime(ctx), run_id=run_id)
    run = detail.summary
    console.print(
        f"run {run.id} of list {run.list_slug} ({run.kind}): {run.status}",
        markup=False,
        soft_wrap=True,
    )
    console.print(f"created {run.created_at:%Y-%m-%d %H:%M:%S} UTC", markup=False, soft_wrap=True)
    if run.finished_at:
        console.print(
            f"finished {run.finished_at:%Y-%m-%d %H:%M:%S} UTC", markup=False, soft_wrap=True
        )
    console.print(f"rows: {_counts(run.counts)}", markup=False, soft_wrap=True)
    if run.pause_reason:
        console.print(f"pause reason: {run.pause_reason}", markup=False, soft_wrap=True)
    if detail.errors:
        console.print("most frequent errors:")
        for error, count in detail.errors:
            console.print(f"  {count:>6}  {error}", markup=False, soft_wrap=True)
    if detail.recent_failures:
        console.print("latest failures:")
        for email, status, error in detail.recent_failures:
            console.print(f"  {email}  {status}  {error}", markup=False, soft_wrap=True)


@app.command("pause")
def pause(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Pause a sending run (senders stop after the messages in flight)."""
    runs.pause_run(runtime(ctx), run_id=run_id)
    console.print(f"run {run_id} paused")


@app.command("resume")
def resume(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Resume a paused run and send what is due now (SIGTERM or Ctrl-C stop it cleanly)."""
    rt = runtime(ctx)
    report, signals = run_stoppable(lambda stop: runs.resume_run(rt, run_id=run_id, stopping=stop))
    print_report(report)
    signals.exit_if_stopped()


@app.command("cancel")
def cancel(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Cancel a run: nothing more is sent."""
    count = runs.cancel_run(runtime(ctx), run_id=run_id)
    console.print(f"run {run_id} cancelled; {count} unsent message(s) dropped")


@app.command("retry")
def retry(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Run id.")]) -> None:
    """Queue the run's failed messages again and send them (only those)."""
    rt = runtime(ctx)
    count = runs.retry_failed(rt, run_id=run_id)
    console.print(f"run {run_id}: {count} failed message(s) queued again")
    if count:
        report, signals = run_stoppable(
            lambda stop: runs.send_run(rt, run_id=run_id, stopping=stop)
        )
        print_report(report)
        signals.exit_if_stopped()
