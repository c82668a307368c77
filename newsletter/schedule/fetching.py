"""The feed-fetch job's seam: call ``newsletter.feeds.fetch_all(runtime)`` once it exists."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from newsletter.runtime import Runtime

FeedFetcher = Callable[[Runtime], Any]


def find_fetcher(module: str = "newsletter.feeds") -> FeedFetcher | None:
    """The ``fetch_all`` function of the feed-fetching module, or None while there is none."""
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            return None
        raise
    fetch_all = getattr(found, "fetch_all", None)
    return fetch_all if callable(fetch_all) else None


async def run_fetcher(fetcher: FeedFetcher, runtime: Runtime) -> Any:
    """Call the fetcher: awaited if it is a coroutine function, in a thread if it is not."""
    if inspect.iscoroutinefunction(fetcher):
        return await fetcher(runtime)
    result = await asyncio.to_thread(fetcher, runtime)
    if inspect.isawaitable(result):
        return await result
    return result
