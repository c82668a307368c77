"""Clean stops for commands that send: SIGTERM and SIGINT ask the engine to stop.

The first signal is a request: the engine claims nothing new, hands over no further message,
records every result and hands unsent rows back, and the command ends normally (exit 0 after
SIGTERM, 130 after Ctrl-C). A second signal cancels at once; rows still in flight keep their
lease and come back when it expires.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

_T = TypeVar("_T")
_NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}


class StopSignals:
    """Which stop signal arrived first (None while none has); callable as the engine's
    ``stopping`` request."""

    def __init__(self) -> None:
        self.received: str | None = None

    def __call__(self) -> str | None:
        return self.received

    def exit_if_stopped(self) -> None:
        """After a clean stop: exit 0 for SIGTERM, 130 for SIGINT (the shell's convention)."""
        if self.received == "SIGINT":
            raise typer.Exit(130)
        if self.received == "SIGTERM":
            raise typer.Exit(0)


def run_stoppable(work: Callable[[StopSignals], Awaitable[_T]]) -> tuple[_T, StopSignals]:
    """Run ``work`` on a fresh event loop with SIGTERM and SIGINT turned into stop requests."""
    signals = StopSignals()

    async def main() -> _T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def on_signal(signum: signal.Signals) -> None:
            if signals.received is None:
                signals.received = _NAMES[signum]
            elif task is not None:
                task.cancel()

        for signum in _NAMES:
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            return await work(signals)
        finally:
            for signum in _NAMES:
                loop.remove_signal_handler(signum)

    try:
        return asyncio.run(main()), signals
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
