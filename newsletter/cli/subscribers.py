"""``newsletter subscribers``: thin commands over ``newsletter.operations.subscriptions``."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Column, Table

from newsletter.cli.context import console, err_console, runtime
from newsletter.cli.signals import run_stoppable
from newsletter.digest.links import token_from_link
from newsletter.errors import DeliveryError
from newsletter.operations import consent, privacy, subscriptions
from newsletter.operations.confirmations import (
    ConfirmationReport,
    send_confirmations,
    send_welcomes,
)
from newsletter.runtime import Runtime
from subscribers.preferences import WEEKDAYS

subscribers_app = typer.Typer(help="Subscribers.", no_args_is_help=True)

ListOption = Annotated[str, typer.Option("--list", help="List slug.")]


def _confirm(rt: Runtime, ids: list[int], slug: str) -> ConfirmationReport | None:
    if not ids:
        return None
    try:
        report, signals = run_stoppable(
            lambda stop: send_confirmations(rt, subscription_ids=ids, stopping=stop)
        )
    except DeliveryError as exc:
        raise DeliveryError(
            f"{exc}; the subscribers are saved as pending: send their confirmations later with "
            f"`newsletter subscribers resend-confirmations --list {slug}`"
        ) from None
    console.print(report.summary)
    signals.exit_if_stopped()
    return report


@subscribers_app.command("add")
def add_subscriber(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    list_slug: ListOption,
    name: Annotated[str, typer.Option(help="Name used in the greeting.")] = "",
    topic: Annotated[list[str] | None, typer.Option("--topic", "-t", help="Chosen topic.")] = None,
    cadence: Annotated[str | None, typer.Option(help="daily or weekly.")] = None,
    weekday: Annotated[str | None, typer.Option(help="Weekday for weekly: mon..sun.")] = None,
    send_hour: Annotated[int | None, typer.Option(help="Local send hour, 0-23.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone.")] = None,
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="The admin vouches for consent: active at once.")
    ] = False,
) -> None:
    """Subscribe an address to a list as an admin (pending with a confirmation email unless
    --confirmed)."""
    rt = runtime(ctx)
    added = subscriptions.add_member(
        rt,
        slug=list_slug,
        email=email,
        confirmed=confirmed,
        name=name,
        topics=topic,
        cadence=cadence,
        weekday=weekday,
        send_hour=send_hour,
        timezone=timezone,
    )
    subscription = added.subscription
    console.print(
        f"{email.strip()} on {list_slug}: {subscription.status}, "
        f"topics {', '.join(subscription.topics)}"
    )
    if added.suppressed:
        err_console.print(
            "warning: the address is on the suppression list; nothing is sent to it until "
            "`newsletter suppressions remove` takes it off"
        )
    elif added.needs_confirmation:
        _confirm(rt, [subscription.id or 0], list_slug)


@subscribers_app.command("ls")
def list_subscribers(
    ctx: typer.Context,
    list_slug: ListOption,
    status: Annotated[
        str, typer.Option(help="active, pending, unsubscribed or all (adds a status column).")
    ] = "active",
    topic: Annotated[str | None, typer.Option(help="Only those following this topic.")] = None,
    search: Annotated[str | None, typer.Option(help="Text in the address or name.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show at most.")] = 200,
) -> None:
    """List the subscribers of a list, with counts per status."""
    found = subscriptions.paged_members(
        runtime(ctx), slug=list_slug, status=status, topic=topic, search=search, limit=limit
    )
    members, counts = found.rows, found.counts
    # an address must never be cut short with an ellipsis: fold it instead
    table = Table(
        Column("email", overflow="fold"), "name", "status", "topics", "cadence", "hour", "timezone"
    )
    for member in members:
        cadence = member.cadence
        if cadence == "weekly":
            cadence += f" ({WEEKDAYS[member.weekday]})"
        table.add_row(
            member.email,
            member.name,
            member.status,
            ", ".join(member.topics),
            cadence,
            str(member.send_hour),
            member.timezone,
        )
    console.print(table)
    console.print(
        f"{len(members)} shown"
        + (f" (first {limit})" if len(members) >= limit else "")
        + "; "
        + ", ".join(f"{key} {counts.get(key, 0)}" for key in ("active", "pending", "unsubscribed"))
    )


@subscribers_app.command("update")
def update_subscriber(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    list_slug: ListOption,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", "-t", help="Replace the chosen topics.")
    ] = None,
    cadence: Annotated[str | None, typer.Option(help="daily or weekly.")] = None,
    weekday: Annotated[str | None, typer.Option(help="Weekday for weekly: mon..sun.")] = None,
    send_hour: Annotated[int | None, typer.Option(help="Local send hour, 0-23.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone.")] = None,
) -> None:
    """Change one subscription's preferences."""
    updated = subscriptions.change_member(
        runtime(ctx),
        email=email,
        slug=list_slug,
        topics=topic,
        cadence=cadence,
        weekday=weekday,
        send_hour=send_hour,
        timezone=timezone,
    ).subscription
    cadence_text = str(updated.cadence)
    if cadence_text == "weekly":
        cadence_text += f" on {WEEKDAYS[updated.weekday]}"
    console.print(
        f"{email.strip()} on {list_slug}: topics {', '.join(updated.topics)}; "
        f"{cadence_text} at {updated.send_hour:02d}:00 {updated.timezone}"
    )


@subscribers_app.command("confirm")
def confirm(
    ctx: typer.Context,
    token_or_url: Annotated[str, typer.Argument(help="The link from the email, or its token.")],
) -> None:
    """Confirm a pending subscription with the link from its confirmation email."""
    rt = runtime(ctx)
    confirmed = consent.confirm(rt, token=token_from_link(token_or_url))
    subscription = confirmed.subscription
    console.print(f"{confirmed.email}: subscription confirmed, now {subscription.status}")
    if subscription.id is not None:
        try:
            welcome = asyncio.run(send_welcomes(rt, subscription_ids=[subscription.id]))
        except DeliveryError as exc:  # confirmed all the same; the scheduler sends it later
            console.print(f"welcome email not sent now ({exc}); the scheduler will send it")
        else:
            if welcome.run_ids:
                console.print(welcome.summary)


@subscribers_app.command("unsubscribe")
def unsubscribe(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    list_slug: Annotated[
        str | None, typer.Option("--list", help="List slug (default: every list).")
    ] = None,
) -> None:
    """Unsubscribe an address from one list or from every list (recorded as an admin action)."""
    address, ended = subscriptions.unsubscribe(runtime(ctx), email=email, slug=list_slug)
    where = f"list {list_slug}" if list_slug else "every list"
    console.print(f"{address}: unsubscribed from {where} ({ended} subscription(s) ended)")


@subscribers_app.command("import")
def import_subscribers(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV file with an email column.")],
    list_slug: ListOption,
    confirmed: Annotated[
        bool,
        typer.Option("--confirmed", help="The admin vouches for prior consent: active at once."),
    ] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Write rejected rows here, with line and reason.")
    ] = None,
) -> None:
    """Import subscribers from CSV: validated, normalised, de-duplicated, idempotent."""
    rt = runtime(ctx)
    show_bar = sys.stderr.isatty()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not show_bar,
        transient=True,
    ) as bar:
        task = bar.add_task(f"importing {file.name}", total=None)
        report = subscriptions.import_file(
            rt,
            path=file,
            slug=list_slug,
            confirmed=confirmed,
            rejects=rejects,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(f"{file.name}: {report.rows} row(s): {report.summary}")
    if rejects is not None and (report.rejected or report.suppressed):
        console.print(f"rejected and suppressed rows written to {rejects}")
    if report.pending_subscription_ids:
        console.print(
            f"{len(report.pending_subscription_ids)} pending: sending confirmation emails"
        )
        _confirm(rt, report.pending_subscription_ids, list_slug)


@subscribers_app.command("resend-confirmations")
def resend_confirmations(ctx: typer.Context, list_slug: ListOption) -> None:
    """Send confirmation emails to pending subscribers whose confirmation never went out."""
    rt = runtime(ctx)
    ids = subscriptions.awaiting_confirmation(rt, slug=list_slug)
    if _confirm(rt, ids, list_slug) is None:
        console.print("no pending subscription is waiting for a confirmation email")


@subscribers_app.command("export")
def export_subscribers(
    ctx: typer.Context,
    list_slug: ListOption,
    status: Annotated[
        str, typer.Option(help="active, pending, unsubscribed or all (adds a status column).")
    ] = "active",
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
) -> None:
    """Export a list's subscribers as CSV in the import's columns."""
    written = subscriptions.export(
        runtime(ctx), slug=list_slug, status=status, out=sys.stdout if out is None else out
    )
    err_console.print(f"{written} subscriber(s) exported")


@subscribers_app.command("show")
def show(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    as_json: Annotated[bool, typer.Option("--json", help="Everything held, as JSON.")] = False,
) -> None:
    """Show what is held about one person (all of it with --json)."""
    record = privacy.person_export(runtime(ctx), email=email)
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        return
    console.print(f"{record['email']} ({record['name'] or 'no name'}), {record['status']}")
    table = Table("list", "status", "topics", "cadence", "hour", "timezone")
    for sub in record["subscriptions"]:
        table.add_row(
            sub["list"],
            sub["status"],
            ", ".join(sub["topics"]),
            sub["cadence"],
            str(sub["send_hour"]),
            sub["timezone"] or "",
        )
    console.print(table)
    console.print(
        f"{len(record['deliveries'])} delivery record(s), "
        f"{len(record['unsubscribes'])} unsubscribe(s)"
    )


@subscribers_app.command("erase")
def erase(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Delete everything about a person; a salted hash stops the address being re-imported."""
    if not yes:
        if not sys.stdin.isatty():
            err_console.print(
                "error: erasing cannot be undone; pass --yes when not at a terminal", markup=False
            )
            raise typer.Exit(1)
        typer.confirm(f"Erase every record of {email.strip()}? This cannot be undone", abort=True)
    result = privacy.erase(runtime(ctx), email=email)
    console.print(
        f"erased {email.strip()}: {result.subscriptions} subscription(s) deleted, "
        "deliveries anonymised, address kept only as a salted hash on the suppression list"
    )
