"""Operations endpoints: ``/healthz`` (process up), ``/readyz`` (database and schema), ``/metrics``.

None needs a login; keep ``/metrics`` behind the reverse proxy (see README, Operations).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from newsletter.observability.health import check_ready
from newsletter.observability.metrics import make_registry, render
from newsletter.web.deps import runtime

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def health() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


@router.get("/readyz")
async def ready(request: Request) -> Response:
    """200 when the database answers and is migrated; else a 503 problem document."""
    readiness = await asyncio.to_thread(check_ready, runtime(request).engine)
    body = {"database": readiness.database, "revision": readiness.revision}
    if readiness.ready:
        return JSONResponse({"status": "ready", **body})
    problem = {
        "type": "about:blank",
        "title": "Not ready",
        "status": 503,
        "detail": readiness.problem,
        **body,
    }
    return JSONResponse(problem, status_code=503, media_type="application/problem+json")


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format, computed from the database at scrape time."""
    state = request.app.state
    if not hasattr(state, "metrics_registry"):
        rt = runtime(request)
        state.metrics_registry = make_registry(rt.engine, rt.clock)
    payload = await asyncio.to_thread(render, state.metrics_registry)
    return Response(payload, media_type=CONTENT_TYPE_LATEST)
