"""``newsletter tokens`` (HTTP API tokens per console user), ``newsletter webhooks``
(outgoing webhook endpoints and their queue) and ``newsletter complaints`` (ARF reports)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from newsletter.cli.context import console, runtime
from newsletter.inbound import mailboxes
from newsletter.operations import api_tokens
from newsletter.webhooks import endpoints
from newsletter.webhooks.sender import deliver_due

tokens_app = typer.Typer(help="HTTP API tokens (one per script or tool).", no_args_is_help=True)


def _when(moment: object) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if hasattr(moment, "strftime") else "never"


@tokens_app.command("create")
def create(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The console user the token acts for.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'sync script'.")],
) -> None:
    """Issue a token with the user's role; it is printed once (only a hash is stored)."""
    issued = api_tokens.issue_token(runtime(ctx), email=email, name=name)
    console.print(
        f"token #{issued.token_id} for {issued.email} ({issued.role}); keep it now, "
        "it is not shown again:"
    )
    typer.echo(issued.token)


@tokens_app.command("ls")
def list_all(
    ctx: typer.Context,
    email: Annotated[str | None, typer.Option(help="Only this user's tokens.")] = None,
) -> None:
    """List tokens (never their secrets)."""
    table = Table("id", "user", "name", "starts", "created", "last used", "revoked")
    for row in api_tokens.tokens_of(runtime(ctx), email=email):
        table.add_row(
            str(row.id),
            row.email,
            row.name,
            row.prefix + "…",
            _when(row.created_at),
            _when(row.last_used_at),
            _when(row.revoked_at) if row.revoked_at else "",
        )
    console.print(table)


@tokens_app.command("revoke")
def revoke(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(help="Token id (see: newsletter tokens ls).")],
) -> None:
    """Revoke a token; it stops working at once."""
    api_tokens.revoke(runtime(ctx), token_id=token_id)
    console.print(f"token #{token_id} revoked")


webhooks_app = typer.Typer(
    help="Outgoing webhooks (signed event notifications).", no_args_is_help=True
)


@webhooks_app.command("add")
def add_webhook(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to POST the events.")],
    event: Annotated[
        list[str] | None,
        typer.Option("--event", "-e", help="An event to send (repeat; default: all)."),
    ] = None,
) -> None:
    """Register an endpoint; prints its signing secret once."""
    endpoint, secret = endpoints.register(runtime(ctx), url=url, events=event or [])
    console.print(f"webhook #{endpoint.id} for {', '.join(endpoint.events)}; signing secret:")
    typer.echo(secret)


@webhooks_app.command("ls")
def list_webhooks(ctx: typer.Context) -> None:
    """List endpoints with their queue counts."""
    rows = endpoints.endpoints(runtime(ctx))
    table = Table("id", "url", "events", "active", "pending", "delivered", "failed")
    for row in rows:
        table.add_row(
            str(row.id),
            row.url,
            ", ".join(row.events),
            "yes" if row.active else "paused",
            str(row.counts["pending"]),
            str(row.counts["delivered"]),
            str(row.counts["failed"]),
        )
    console.print(table)


@webhooks_app.command("rm")
def remove_webhook(
    ctx: typer.Context, endpoint_id: Annotated[int, typer.Argument(help="Webhook id.")]
) -> None:
    """Remove an endpoint and its queue."""
    url = endpoints.unregister(runtime(ctx), endpoint_id=endpoint_id)
    console.print(f"webhook #{endpoint_id} ({url}) removed")


@webhooks_app.command("send")
def send_webhooks(ctx: typer.Context) -> None:
    """Record new events and post every due delivery once (the scheduler does this too)."""
    report = deliver_due(runtime(ctx))
    console.print(
        f"{report.recorded} new event(s); {report.delivered} delivered, {report.retried} to "
        f"retry, {report.failed} given up"
    )


complaints_app = typer.Typer(help="Complaint reports (ARF, RFC 5965).", no_args_is_help=True)


@complaints_app.command("process")
def process_complaints(
    ctx: typer.Context,
    mailbox: Annotated[Path, typer.Argument(help="A Maildir or mbox of ARF reports.")],
) -> None:
    """Unsubscribe the people whose complaints match a delivery we made to them."""
    report = mailboxes.process_complaints(runtime(ctx), mailbox)
    console.print(
        f"{report.complaints} complaint(s) applied, {report.unmatched} not matching a delivery, "
        f"{report.ignored} not a feedback report"
    )
