"""``newsletter suppressions``: addresses and domains that must never be mailed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from newsletter.cli.context import console, runtime
from newsletter.operations import audience
from subscribers.models import SuppressionKind

suppressions_app = typer.Typer(help="The suppression list.", no_args_is_help=True)

DomainOption = Annotated[
    bool, typer.Option("--domain", help="The value is a whole domain, not an address.")
]


@suppressions_app.command("add")
def add(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(help="Address (or domain with --domain).")],
    domain: DomainOption = False,
    note: Annotated[str, typer.Option(help="Why, for the record.")] = "",
) -> None:
    """Never mail this address (or any address at this domain)."""
    entry = audience.suppress(runtime(ctx), value=value, domain=domain, note=note)
    console.print(f"suppressed {entry.kind} {entry.value}")


@suppressions_app.command("ls")
def list_entries(
    ctx: typer.Context,
    kind: Annotated[SuppressionKind | None, typer.Option(help="Only entries of this kind.")] = None,
) -> None:
    """List suppression entries, newest first."""
    entries = audience.suppressions(runtime(ctx), kind=kind)
    table = Table("kind", "value", "reason", "since", "note")
    for entry in entries:
        shown = entry.value[:23] + "..." if entry.kind == "hash" else entry.value
        table.add_row(
            entry.kind, shown, entry.reason, entry.created_at.strftime("%Y-%m-%d"), entry.note
        )
    console.print(table)
    console.print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")


@suppressions_app.command("remove")
def remove(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(help="Address (or domain with --domain).")],
    domain: DomainOption = False,
) -> None:
    """Allow mail to this address or domain again."""
    audience.unsuppress(runtime(ctx), value=value, domain=domain)
    console.print(f"removed {value.strip()} from the suppression list")
