"""``newsletter web`` (serve the app with uvicorn) and ``newsletter users`` (console accounts)."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli.context import console, runtime

users_app = typer.Typer(help="Accounts of the admin and editor console.", no_args_is_help=True)


def web(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the subscriber pages and the /admin console with uvicorn."""
    import uvicorn

    from newsletter.observability.logsetup import configure_logging, uvicorn_log_config
    from newsletter.web.app import create_app

    rt = runtime(ctx)
    rt.settings.check_listen_address(host)
    configure_logging(rt.settings.observability.log_format)
    console.print(f"serving on http://{host}:{port} (public base URL {rt.settings.links.base_url})")
    uvicorn.run(
        create_app(rt),
        host=host,
        port=port,
        log_config=uvicorn_log_config(),
        log_level="info",
        proxy_headers=False,
    )


@users_app.command("create")
def create(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The account's email address.")],
    role: Annotated[str, typer.Option(help="admin or editor.")] = "editor",
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="NEWSLETTER_NEW_USER_PASSWORD",
            help="Prompted when not given (or set NEWSLETTER_NEW_USER_PASSWORD).",
        ),
    ] = "",
) -> None:
    """Create a console account; the password is prompted and stored as an argon2 hash."""
    from newsletter.operations.accounts import add_user  # argon2: only where passwords are

    user = add_user(runtime(ctx), email=email, password=password, role=role)
    console.print(f"user {user.email} created with role {user.role}")


@users_app.command("ls")
def list_users(ctx: typer.Context) -> None:
    """List console accounts."""
    from newsletter.operations.accounts import users

    for user in users(runtime(ctx)):
        seen = user.last_login_at.isoformat(timespec="minutes") if user.last_login_at else "never"
        console.print(f"{user.email}  {user.role}  last sign-in {seen}")
