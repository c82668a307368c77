"""The web app factory: public subscriber pages and the /admin console on one runtime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response

from newsletter.digest.render import TEMPLATES
from newsletter.errors import NewsletterError
from newsletter.runtime import Runtime
from newsletter.web import (
    admin_branding,
    admin_content,
    admin_dashboard,
    admin_feeds,
    admin_lists,
    admin_people,
    admin_schedule,
    admin_sends,
    admin_subscribers,
    admin_suppressions,
    admin_users,
    admin_webhooks,
    archive,
    auth,
    guard,
    inbound,
    ops,
    public,
)
from newsletter.web.api import API_PREFIX, create_api
from newsletter.web.deps import LoginRequired, PageError, WebState, render
from subscribers.errors import SubscriberError


def one_line(exc: RequestValidationError) -> str:
    """The first problem of a request that failed validation, as one readable line."""
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
        return f"{where}: {error.get('msg', 'invalid value')}"
    return "The request is not valid."


STYLESHEET = TEMPLATES / "web" / "style.css"
CONSOLE_SCRIPT = TEMPLATES / "web" / "console.js"
FAVICON = TEMPLATES / "web" / "favicon.svg"


def create_app(runtime: Runtime) -> FastAPI:
    """Build the app for one runtime (no module-level settings or engines)."""
    web = WebState(runtime=runtime)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        # Sends started after a response (confirmations, "send now") finish before the server
        # stops, within the shutdown grace: cancelled, they would hand their rows back unsent.
        if web.tasks:
            await asyncio.wait(
                set(web.tasks), timeout=runtime.settings.scheduler.shutdown_grace_seconds
            )

    app = FastAPI(
        title="newsletter", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.web = web
    css = Path(STYLESHEET).read_bytes()

    @app.get("/static/style.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(
            css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
        )

    script = Path(CONSOLE_SCRIPT).read_bytes()
    icon = Path(FAVICON).read_bytes()

    @app.get("/static/console.js", include_in_schema=False)
    def console_script() -> Response:
        return Response(
            script,
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @app.get("/favicon.svg", include_in_schema=False)
    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(
            icon, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
        )

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return render(
            request,
            "error.html.j2",
            {"title": exc.title, "message": exc.message},
            status=exc.status,
        )

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.method in ("GET", "HEAD"):
            target = quote(request.url.path, safe="/")
            return RedirectResponse(f"/admin/login?next={target}", status_code=303)
        return render(
            request,
            "error.html.j2",
            {"title": "Please sign in", "message": "Your session has ended."},
            status=401,
        )

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return render(
            request,
            "error.html.j2",
            {"title": "Page not found", "message": "There is nothing at this address."},
            status=404,
        )

    @app.exception_handler(RequestValidationError)
    async def bad_query(request: Request, exc: RequestValidationError) -> Response:
        return render(
            request,
            "error.html.j2",
            {"title": "Bad request", "message": one_line(exc)},
            status=400,
        )

    @app.exception_handler(SubscriberError)
    @app.exception_handler(NewsletterError)
    async def refused(request: Request, exc: Exception) -> Response:
        return render(
            request, "error.html.j2", {"title": "Not done", "message": str(exc)}, status=400
        )

    for module in (
        ops,
        public,
        archive,
        auth,
        admin_dashboard,
        admin_sends,
        admin_content,
        admin_lists,
        admin_subscribers,
        admin_users,
        admin_branding,
        admin_feeds,
        admin_schedule,
        admin_suppressions,
        admin_people,
        admin_webhooks,
        inbound,
    ):
        app.include_router(module.router)
    app.mount(API_PREFIX, create_api(app.state.web))
    # headers, Origin check, log redaction
    guard.protect(app, origin=runtime.settings.links.origin)
    return app
