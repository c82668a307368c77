"""The scheduler daemon: an APScheduler 3 AsyncIOScheduler that stops cleanly on a signal."""

from __future__ import annotations

import asyncio
import logging
import signal

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from newsletter.config import Settings
from newsletter.runtime import Runtime

log = logging.getLogger("newsletter.daemon")


async def serve(runtime: Runtime, *, stop: asyncio.Event) -> None:
    """Run the scheduler until ``stop`` is set."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start()
    log.info("scheduler started")
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
        log.info("scheduler stopped")


def run_daemon(settings: Settings) -> int:
    """Entry point of ``python scheduler.py``: serve until SIGTERM or Ctrl-C, then exit 0."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    runtime = Runtime.create(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await serve(runtime, stop=stop)

    try:
        asyncio.run(main())
    finally:
        runtime.dispose()
    return 0
