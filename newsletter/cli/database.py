"""``newsletter db``: schema migrations and online backups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.context import console

app = typer.Typer(help="Database schema and backups.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the schema (Alembic)."""
    from newsletter.config import load_settings
    from newsletter.operations.database import migrate

    settings = load_settings()
    migrate(settings, revision)
    console.print(f"database at {settings.database_url} is at revision {revision}")


@app.command("backup")
def backup(
    path: Annotated[Path, typer.Argument(help="New file to write the copy to.")],
) -> None:
    """Copy the SQLite database consistently while it is in use (PostgreSQL: use pg_dump)."""
    from newsletter.config import load_settings
    from newsletter.operations.database import backup as backup_database

    result = backup_database(load_settings(), path)
    console.print(
        f"backed up to {result.path} ({result.bytes} bytes, {result.pages} pages, integrity ok)",
        markup=False,
        soft_wrap=True,
    )
