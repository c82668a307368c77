"""The web app factory: public subscriber pages and the /admin console on one runtime."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from newsletter.render import TEMPLATES
from newsletter.runtime import Runtime
from newsletter.web import (
    admin_content,
    admin_dashboard,
    admin_lists,
    admin_sends,
    admin_subscribers,
    admin_users,
    auth,
    guard,
    public,
)
from newsletter.web.deps import LoginRequired, PageError, WebState, render

STYLESHEET = TEMPLATES / "web" / "style.css"


def create_app(runtime: Runtime) -> FastAPI:
    """Build the app for one runtime (no module-level settings or engines)."""
    app = FastAPI(title="newsletter", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = WebState(runtime=runtime)
    css = Path(STYLESHEET).read_bytes()

    @app.get("/static/style.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(
            css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"}
        )

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

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

    for module in (
        public,
        auth,
        admin_dashboard,
        admin_sends,
        admin_content,
        admin_lists,
        admin_subscribers,
        admin_users,
    ):
        app.include_router(module.router)
    guard.protect(app, base_url=runtime.settings.base_url)  # headers, Origin check, log redaction
    return app
