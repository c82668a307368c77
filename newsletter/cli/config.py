"""``newsletter init`` (a commented newsletter.toml) and ``newsletter config show``."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.context import console
from newsletter.errors import ConfigError

config_app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)


def init(
    path: Annotated[Path, typer.Argument(help="File to write.")] = Path("newsletter.toml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented newsletter.toml with every setting and its default."""
    from newsletter.operations.configfile import config_template

    if path.exists() and not force:
        raise ConfigError(f"{path} already exists (use --force to overwrite it)")
    text = config_template(secret_key=secrets.token_urlsafe(32))
    partial = path.with_name(path.name + ".partial")
    try:
        # 0600: the file holds the signing secret
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    console.print(f"wrote {path}; use it with: export NEWSLETTER_CONFIG={path.resolve()}")


@config_app.command("show")
def show() -> None:
    """Print the effective settings, secrets masked, and where each value came from."""
    from newsletter.config import load_settings
    from newsletter.operations.configfile import effective_settings

    settings = load_settings()
    file_name = os.environ.get("NEWSLETTER_CONFIG")
    file_keys: set[str] = set()
    if file_name:
        try:
            file_keys = set(tomllib.loads(Path(file_name).read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"NEWSLETTER_CONFIG: {exc}") from None
    for item in effective_settings(settings, os.environ, file_keys, file_name):
        console.print(f"{item.name} = {item.value}  # {item.source}", markup=False, soft_wrap=True)
