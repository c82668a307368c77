"""A real uvicorn server on loopback running the web app, for API tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI
from starlette.routing import Mount

from newsletter.devtools.capture import free_port
from newsletter.web.api.deps import ApiState


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def api_state_of(app: FastAPI) -> ApiState:
    """The mounted API's state (tests lower its rate limit)."""
    for route in app.routes:
        if isinstance(route, Mount) and isinstance(route.app, FastAPI):
            found: ApiState = route.app.state.api
            return found
    raise LookupError("no API mounted")
