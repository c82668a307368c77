"""``newsletter lists``: thin commands over ``newsletter.operations.lists``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from newsletter.cli.context import console, runtime
from newsletter.operations import lists as operations
from subscribers.preferences import WEEKDAYS

lists_app = typer.Typer(help="Mailing lists.", no_args_is_help=True)


@lists_app.command("create")
def create_list(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="Short name used in URLs and commands.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    from_address: Annotated[str, typer.Option("--from-address", help="Sender address.")],
    topic: Annotated[list[str], typer.Option("--topic", "-t", help="Topic the list offers.")],
    from_name: Annotated[str | None, typer.Option("--from-name", help="Sender name.")] = None,
    reply_to: Annotated[str | None, typer.Option(help="Reply-To address.")] = None,
    cadence: Annotated[str, typer.Option(help="Default cadence: daily or weekly.")] = "daily",
    weekday: Annotated[str, typer.Option(help="Default weekday for weekly: mon..sun.")] = "mon",
    send_hour: Annotated[int, typer.Option(help="Default local send hour, 0-23.")] = 8,
    timezone: Annotated[str, typer.Option(help="Default IANA time zone.")] = "UTC",
    double_opt_in: Annotated[bool, typer.Option(help="Sign-ups must confirm by email.")] = True,
) -> None:
    """Create a mailing list."""
    created = operations.create(
        runtime(ctx),
        slug=slug,
        name=name,
        from_name=from_name or name,
        from_address=from_address,
        reply_to=reply_to,
        topics=topic,
        default_cadence=cadence,
        default_weekday=weekday,
        default_send_hour=send_hour,
        default_timezone=timezone,
        double_opt_in=double_opt_in,
    )
    console.print(f"list {created.slug} created with topics {', '.join(created.topics)}")


@lists_app.command("ls")
def list_lists(ctx: typer.Context) -> None:
    """List mailing lists with their subscription counts."""
    table = Table("slug", "name", "sender", "topics", "opt-in", "subscriptions")
    for row in operations.lists_with_status_counts(runtime(ctx)):
        item = row.mailing_list
        table.add_row(
            item.slug,
            item.name,
            f"{item.from_name} <{item.from_address}>",
            ", ".join(item.topics),
            "double" if item.double_opt_in else "single",
            str(sum(row.counts.values())),
        )
    console.print(table)


@lists_app.command("show")
def show_list(ctx: typer.Context, slug: Annotated[str, typer.Argument(help="List slug.")]) -> None:
    """Show a list's settings and its subscriptions per status."""
    shown = operations.overview(runtime(ctx), slug=slug)
    item, counts, next_up = shown.mailing_list, shown.counts, shown.next_issue
    table = Table("setting", "value", show_header=False)
    table.add_row("slug", item.slug)
    table.add_row("name", item.name)
    table.add_row("sender", f"{item.from_name} <{item.from_address}>")
    table.add_row("reply-to", item.reply_to or "-")
    table.add_row("topics", ", ".join(item.topics))
    cadence = str(item.default_cadence)
    if cadence == "weekly":
        cadence += f" on {WEEKDAYS[item.default_weekday]}"
    table.add_row("default cadence", cadence)
    table.add_row("default send time", f"{item.default_send_hour:02d}:00 {item.default_timezone}")
    table.add_row("double opt-in", "yes" if item.double_opt_in else "no")
    table.add_row("archive", "public" if item.archive_public else "private")
    table.add_row("accent colour", item.accent_color)
    table.add_row("logo", item.logo_url or "-")
    table.add_row("lead images", "shown" if item.show_images else "hidden")
    table.add_row("footer text", item.footer_text or "-")
    table.add_row("postal address", item.postal_address or "-")
    table.add_row("next issue's note", next_up.note_markdown or "-")
    table.add_row("next issue's lead", next_up.lead_title or "-")
    for status in ("active", "pending", "unsubscribed"):
        table.add_row(f"{status} subscriptions", str(counts.get(status, 0)))
    console.print(table)


@lists_app.command("update")
def update_list(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="List slug.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    from_address: Annotated[str | None, typer.Option("--from-address")] = None,
    from_name: Annotated[str | None, typer.Option("--from-name")] = None,
    reply_to: Annotated[str | None, typer.Option(help="Reply-To ('' removes it).")] = None,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", "-t", help="Replace the offered topics.")
    ] = None,
    cadence: Annotated[str | None, typer.Option(help="Default cadence.")] = None,
    weekday: Annotated[str | None, typer.Option(help="Default weekday for weekly.")] = None,
    send_hour: Annotated[int | None, typer.Option(help="Default local send hour.")] = None,
    timezone: Annotated[str | None, typer.Option(help="Default IANA time zone.")] = None,
    double_opt_in: Annotated[
        bool | None, typer.Option("--double-opt-in/--no-double-opt-in")
    ] = None,
    description: Annotated[str | None, typer.Option(help="One line about the list.")] = None,
    logo_url: Annotated[
        str | None, typer.Option("--logo-url", help="https:// logo URL ('' removes it).")
    ] = None,
    accent_color: Annotated[
        str | None, typer.Option("--accent-color", help="Accent colour, #rrggbb.")
    ] = None,
    footer_text: Annotated[
        str | None, typer.Option("--footer-text", help="Footer text of every digest.")
    ] = None,
    postal_address: Annotated[
        str | None, typer.Option("--postal-address", help="Postal address for the footer.")
    ] = None,
    archive_public: Annotated[
        bool | None,
        typer.Option("--public-archive/--private-archive", help="Publish past issues."),
    ] = None,
    show_images: Annotated[
        bool | None, typer.Option("--images/--no-images", help="Show lead images.")
    ] = None,
    welcome_text: Annotated[
        str | None,
        typer.Option(
            "--welcome-text",
            help="Markdown of the welcome email sent after a confirmation ('' turns it off).",
        ),
    ] = None,
) -> None:
    """Change a list's settings and branding; only the options given change."""
    result = operations.update(
        runtime(ctx),
        slug=slug,
        name=name,
        from_name=from_name,
        from_address=from_address,
        reply_to=reply_to,
        topics=topic,
        default_cadence=cadence,
        default_weekday=weekday,
        default_send_hour=send_hour,
        default_timezone=timezone,
        double_opt_in=double_opt_in,
        description=description,
        logo_url=logo_url,
        accent_color=accent_color,
        footer_text=_unescape(footer_text),
        postal_address=_unescape(postal_address),
        archive_public=archive_public,
        show_images=show_images,
        welcome_text=_unescape(welcome_text),
    )
    if not result.changed:
        console.print(f"list {result.mailing_list.slug}: nothing changed")
        return
    console.print(f"list {result.mailing_list.slug}: changed {', '.join(result.changed)}")
    if result.subscriptions_trimmed:
        console.print(
            f"{result.subscriptions_trimmed} subscription(s) lost topics the list no longer offers"
        )


@lists_app.command("delete")
def delete_list(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="List slug.")],
    force: Annotated[
        bool, typer.Option("--force", help="Also delete the list's subscriptions.")
    ] = False,
) -> None:
    """Delete a list (one with subscriptions only with --force)."""
    removed = operations.delete(runtime(ctx), slug=slug, force=force)
    console.print(f"list {slug} deleted with {removed} subscription(s)")


def _unescape(value: str | None) -> str | None:
    """``\\n`` typed on a command line becomes a line break (addresses span lines)."""
    return None if value is None else value.replace("\\n", "\n")


@lists_app.command("note")
def next_issue_note(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="List slug.")],
    text: Annotated[
        str | None, typer.Option("--text", help="The editor's note, Markdown ('' removes it).")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Read the note from a Markdown file.")
    ] = None,
    lead: Annotated[
        int | None, typer.Option("--lead", help="Article id of the lead story.")
    ] = None,
    clear_lead: Annotated[bool, typer.Option("--clear-lead", help="No lead story.")] = False,
) -> None:
    """Set the editor's note and lead story of the list's next issue (manual or scheduled)."""
    if text is not None and file is not None:
        raise typer.BadParameter("give --text or --file, not both")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {file}: {exc}") from None
    result = operations.set_note(
        runtime(ctx), slug=slug, note=text, lead_article_id=lead, clear_lead=clear_lead
    )
    note = f"{len(result.note_markdown)} characters" if result.note_markdown else "none"
    console.print(
        f"list {slug}: next issue's note: {note}; lead story: {result.lead_title or 'none'}"
    )
