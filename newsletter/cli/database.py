"""``newsletter db``: schema migrations."""

from __future__ import annotations

import typer

from newsletter.cli.context import console
from newsletter.config import load_settings
from newsletter.db import upgrade as upgrade_schema

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the schema (Alembic)."""
    settings = load_settings()
    upgrade_schema(settings.database_url, revision)
    console.print(f"database at {settings.database_url} is at revision {revision}")
