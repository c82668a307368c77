"""``newsletter lists`` and ``newsletter subscribers``: thin wrappers over subscribers.service."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import func
from sqlmodel import col, select

from newsletter.cli.context import console, runtime
from newsletter.db import session_scope
from newsletter.models import Topic
from subscribers import service
from subscribers.models import Subscriber, Subscription

lists_app = typer.Typer(help="Mailing lists.", no_args_is_help=True)
subscribers_app = typer.Typer(help="Subscribers.", no_args_is_help=True)


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
    send_hour: Annotated[int, typer.Option(help="Default local send hour, 0-23.")] = 8,
    timezone: Annotated[str, typer.Option(help="Default IANA time zone.")] = "UTC",
    double_opt_in: Annotated[bool, typer.Option(help="Sign-ups must confirm by email.")] = True,
) -> None:
    """Create a mailing list."""
    rt = runtime(ctx)
    with session_scope(rt.engine) as session:
        known = set(session.exec(select(Topic.slug)))
        created = service.create_list(
            session,
            slug=slug,
            name=name,
            from_name=from_name or name,
            from_address=from_address,
            reply_to=reply_to,
            topics=topic,
            default_cadence=cadence,
            default_send_hour=send_hour,
            default_timezone=timezone,
            double_opt_in=double_opt_in,
            known_topics=known,
        )
        console.print(f"list {created.slug} created with topics {', '.join(created.topics)}")


@lists_app.command("ls")
def list_lists(ctx: typer.Context) -> None:
    """List mailing lists with their subscription counts."""
    rt = runtime(ctx)
    with session_scope(rt.engine) as session:
        counts = dict(
            session.exec(
                select(Subscription.list_id, func.count()).group_by(col(Subscription.list_id))
            ).all()
        )
        table = Table("slug", "name", "sender", "topics", "subscriptions")
        for item in service.all_lists(session):
            table.add_row(
                item.slug,
                item.name,
                f"{item.from_name} <{item.from_address}>",
                ", ".join(item.topics),
                str(counts.get(item.id, 0)),
            )
    console.print(table)


@subscribers_app.command("add")
def add_subscriber(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="E-mail address.")],
    list_slug: Annotated[str, typer.Option("--list", help="List slug.")],
    name: Annotated[str, typer.Option(help="Name used in the greeting.")] = "",
    topic: Annotated[list[str] | None, typer.Option("--topic", "-t", help="Chosen topic.")] = None,
    cadence: Annotated[str | None, typer.Option(help="daily or weekly.")] = None,
    send_hour: Annotated[int | None, typer.Option(help="Local send hour, 0-23.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone.")] = None,
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="The admin vouches for consent: active at once.")
    ] = False,
) -> None:
    """Subscribe an address to a list (as an admin)."""
    rt = runtime(ctx)
    with session_scope(rt.engine) as session:
        mailing_list = service.get_list(session, slug=list_slug)
        subscription = service.add_subscriber(
            session,
            mailing_list=mailing_list,
            email=email,
            now=rt.clock(),
            name=name,
            topics=topic,
            cadence=cadence,
            send_hour=send_hour,
            timezone=timezone,
            confirmed=confirmed,
            by_admin=True,
        )
        console.print(
            f"{email.strip()} on {mailing_list.slug}: {subscription.status}, "
            f"topics {', '.join(subscription.topics)}"
        )


@subscribers_app.command("ls")
def list_subscribers(
    ctx: typer.Context,
    list_slug: Annotated[str, typer.Option("--list", help="List slug.")],
) -> None:
    """List the subscribers of a list."""
    rt = runtime(ctx)
    with session_scope(rt.engine) as session:
        mailing_list = service.get_list(session, slug=list_slug)
        rows = session.exec(
            select(Subscriber, Subscription)
            .join(Subscription, col(Subscription.subscriber_id) == col(Subscriber.id))
            .where(Subscription.list_id == mailing_list.id)
            .order_by(col(Subscriber.email))
        ).all()
    table = Table("email", "name", "status", "topics", "cadence", "hour", "timezone")
    for subscriber, subscription in rows:
        table.add_row(
            subscriber.email,
            subscriber.name,
            subscription.status,
            ", ".join(subscription.topics),
            subscription.cadence,
            str(subscription.send_hour),
            subscription.timezone or subscriber.timezone,
        )
    console.print(table)
    console.print(f"{len(rows)} subscriber(s)")
