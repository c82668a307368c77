"""The HTTP API under /api/v1: JSON over the same services as the console and the CLI, bearer
tokens per user (scoped to the user's role), RFC 9457 problems, per-token rate limits, and its
OpenAPI description at /api/v1/openapi.json."""

from __future__ import annotations

from fastapi import FastAPI

from newsletter.web.api import audience, content, lists, sends, tokens
from newsletter.web.api.deps import DEFAULT_RATE_LIMIT, ApiState
from newsletter.web.api.problems import install
from newsletter.web.deps import WebState
from newsletter.web.security import RateLimiter

API_PREFIX = "/api/v1"


def create_api(web: WebState, *, rate_limit: int = DEFAULT_RATE_LIMIT) -> FastAPI:
    """The API app, mounted by the web app at ``/api/v1`` (shares its runtime and tasks)."""
    api = FastAPI(
        title="newsletter API",
        version="1",
        summary="Lists, subscribers, articles, sends, runs and the archive over JSON.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        servers=[{"url": API_PREFIX}],
    )
    api.state.api = ApiState(web=web, limiter=RateLimiter(limit=rate_limit, window=60))
    install(api)
    for module in (tokens, lists, audience, content, sends):
        api.include_router(module.router)
    return api
