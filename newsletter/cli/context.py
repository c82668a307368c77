"""Lazy access to the runtime from CLI commands: settings are read only when a command runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class CliState:
    """Holds the runtime once a command asked for it."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None

    def runtime(self, *, check_schema: bool = True) -> Runtime:
        """Build the settings and runtime on first use."""
        if self._runtime is None:
            # Imported here: settings and the runtime cost a few hundred ms that ``--help`` and
            # commands without a database should not pay.
            from newsletter.config import load_settings
            from newsletter.runtime import Runtime

            self._runtime = Runtime.create(load_settings(), check=check_schema)
        return self._runtime

    def close(self) -> None:
        """Release the database."""
        if self._runtime is not None:
            self._runtime.dispose()


def state(ctx: typer.Context) -> CliState:
    """The CLI state of the root context."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
        root.call_on_close(root.obj.close)
    return root.obj


def runtime(ctx: typer.Context, *, check_schema: bool = True) -> Runtime:
    """Shortcut: the runtime for this invocation."""
    return state(ctx).runtime(check_schema=check_schema)
