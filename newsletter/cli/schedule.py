"""``newsletter schedule``: one-off sends (add, ls, cancel), status, and the daemon (run)."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

import typer
from rich.table import Table

from newsletter.cli.context import console, runtime
from newsletter.config import load_settings
from newsletter.schedule import sends
from newsletter.schedule.status import current_status
from subscribers.dbtypes import utcnow

app = typer.Typer(help="The scheduler: one-off sends, status, the daemon.", no_args_is_help=True)


def _utc(value: object) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")  # type: ignore[attr-defined]


@app.command("add")
def add(
    ctx: typer.Context,
    list_slug: Annotated[str, typer.Option("--list", help="List slug.")],
    at: Annotated[str, typer.Option(help='Local time, "YYYY-MM-DD HH:MM".')],
    timezone: Annotated[str, typer.Option(help="IANA time zone of --at.")] = "UTC",
) -> None:
    """Schedule a one-off send of a list (to every subscriber with news in their topics)."""
    send = sends.schedule_send(runtime(ctx), slug=list_slug, at=at, timezone=timezone)
    console.print(f"scheduled send {send.id}: list {list_slug} at {_utc(send.at)}")


@app.command("ls")
def ls(
    ctx: typer.Context,
    all_sends: Annotated[
        bool, typer.Option("--all", help="Also show done, cancelled and missed sends.")
    ] = False,
) -> None:
    """List scheduled one-off sends."""
    views = sends.scheduled_sends(runtime(ctx), include_finished=all_sends)
    table = Table("id", "list", "local time", "UTC", "status", "run", "note")
    for view in views:
        table.add_row(
            str(view.id),
            view.list_slug,
            f"{view.local} ({view.timezone})",
            _utc(view.at),
            view.status,
            str(view.run_id or ""),
            view.note or "",
        )
    console.print(table if views else "no scheduled sends")


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    send_id: Annotated[int, typer.Argument(help="Id shown by `schedule ls`.")],
) -> None:
    """Cancel a pending scheduled send."""
    sends.cancel(runtime(ctx), send_id=send_id)
    console.print(f"scheduled send {send_id} cancelled")


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Next due sends per list, the last runs with their counts, and live daemons."""
    report = current_status(runtime(ctx))
    console.print(f"scheduler clock: {_utc(report.now)}")
    alive = [d for d in report.daemons if d.alive]
    console.print(f"daemons alive: {len(alive)}")
    for daemon in report.daemons[:5]:
        age = int((utcnow() - daemon.beat_at).total_seconds())
        state = "alive" if daemon.alive else daemon.state if daemon.state != "running" else "silent"
        console.print(f"  {daemon.worker}: {state}, last heartbeat {age}s ago")
    table = Table("list", "due (UTC)", "period", "subscriptions", title="next due sends")
    for item in report.next_sends:
        table.add_row(item.list_slug, _utc(item.due_at), item.key, str(item.subscriptions))
    for view in report.one_off:
        table.add_row(view.list_slug, _utc(view.at), f"one-off send {view.id}", "whole list")
    console.print(table)
    runs = Table("run", "list", "kind", "period", "status", "rows", title="last runs")
    for line in report.runs:
        counts = ", ".join(f"{k} {v}" for k, v in line.counts.items() if v) or "none"
        runs.add_row(
            str(line.id), line.list_slug, line.kind, line.period or "", line.status, counts
        )
    console.print(runs)


@app.command("run")
def run() -> None:
    """Run the scheduler daemon (the same as `python scheduler.py`); stop with Ctrl-C."""
    from newsletter.schedule.daemon import run_daemon

    raise typer.Exit(run_daemon(load_settings()))
