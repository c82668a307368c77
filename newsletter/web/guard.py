"""Web hardening in one place: security headers, the Origin check, scripts as files, log redaction.

- Every response gets a Content-Security-Policy without inline script (pages load their two
  small scripts from ``/static/*.js``), ``frame-ancestors 'none'`` (the console's preview frame
  alone may be framed, by the console), ``Referrer-Policy: same-origin`` (links carry tokens:
  none leaves the site), ``nosniff``; console pages, exports and token pages are
  ``Cache-Control: no-store``.
- A state-changing request (POST, PUT, PATCH, DELETE) from another site is refused with 403
  before any handler runs: its ``Origin`` (else ``Sec-Fetch-Site``, else ``Referer``) must be
  this site. That also closes login CSRF. The one-click unsubscribe (``POST /u/TOKEN``) is
  exempt: mail providers post it from their servers (RFC 8058), and its token authenticates it.
- A path segment or query value that is a number beyond 64 bits answers 404 (ids are 64-bit).
- Access and error logs never hold tokens, query strings or e-mail addresses.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.digest.render import TEMPLATES
from newsletter.web.deps import render

SCRIPTS = TEMPLATES / "web" / "scripts"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Posted by mail providers' servers, authenticated by the signed token in the path.
ORIGIN_EXEMPT = re.compile(r"/u/[^/]+/?")

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# A digest as readers see it on the web (archive copies): its own <style> and inline styles,
# remote images, never a script.
ISSUE_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src https: http: data:; font-src https: data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# The console's preview of a digest, framed by the console page alone and sandboxed into an
# opaque origin (no forms, no plugins, no script).
PREVIEW_POLICY = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; "
    "img-src https: http: data:; font-src https: data:; form-action 'none'; base-uri 'none'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox; frame-ancestors 'self'"
)
ISSUE_PATHS = re.compile(r"/v/.*|/l/[^/]+/archive/[^/]+")
BASE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Not "no-referrer": Chromium then sends "Origin: null" on same-site form posts.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
NO_STORE_PREFIXES = ("/admin", "/u/", "/p/", "/c/")


def headers_for(path: str) -> dict[str, str]:
    """The security headers of a response to ``path``."""
    headers = dict(BASE_HEADERS)
    headers["X-Frame-Options"] = "DENY"
    if path == "/admin/preview/frame":
        headers["Content-Security-Policy"] = PREVIEW_POLICY
        headers["X-Frame-Options"] = "SAMEORIGIN"
    elif ISSUE_PATHS.fullmatch(path):
        headers["Content-Security-Policy"] = ISSUE_POLICY
    else:
        headers["Content-Security-Policy"] = PAGE_POLICY
    if path.startswith(NO_STORE_PREFIXES):
        headers["Cache-Control"] = "no-store"
    return headers


def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def site_origins(origin: str, scheme: str, host_header: str | None) -> frozenset[str]:
    """The origins this site answers as: the public base URL's ``origin`` and the request's own."""
    origins: set[str | None] = {origin}
    if host_header:
        origins.add(_origin_of(f"{scheme}://{host_header}"))
    return frozenset(found for found in origins if found is not None)


def is_cross_site(
    method: str, path: str, headers: Mapping[str, str], allowed: frozenset[str]
) -> bool:
    """Whether a request must be refused as cross-site (browsers always say where a POST comes
    from: ``Origin`` on every POST, ``Sec-Fetch-Site`` in current ones, older ones ``Referer``;
    a request with none of them is not from a browser and carries no victim's cookies)."""
    if method.upper() in SAFE_METHODS or ORIGIN_EXEMPT.fullmatch(path):
        return False
    origin = headers.get("origin")
    if origin is not None:
        return _origin_of(origin.strip()) not in allowed  # "null" included
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site.strip().lower() not in ("same-origin", "none")
    referer = headers.get("referer")
    if referer:
        return _origin_of(referer.strip()) not in allowed
    return False


# Ids and page numbers are 64-bit database integers: a longer number names nothing, and
# handing it to the database driver fails (OverflowError) instead of finding nothing.
_OVERSIZED_NUMBER = re.compile(r"(?:^|[/=])[+-]?0*\d{19,}(?:$|[/&;])")


def has_oversized_number(path: str, query: bytes) -> bool:
    """Whether a path segment or query value is a number beyond 64 bits."""
    return bool(
        _OVERSIZED_NUMBER.search(path)
        or _OVERSIZED_NUMBER.search(query.decode("latin-1").replace("%2B", "+"))
    )


class SecurityMiddleware:
    """ASGI middleware: refuse cross-site state changes, add the security headers."""

    def __init__(self, app: ASGIApp, *, origin: str) -> None:
        self.app = app
        self.origin = origin  # the public base URL's, parsed once by the settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            install_log_redaction()  # the server has set up its log handlers by now
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = headers_for(path)
        request_headers = Headers(scope=scope)
        allowed = site_origins(
            self.origin, scope.get("scheme", "http"), request_headers.get("host")
        )
        if has_oversized_number(path, scope.get("query_string", b"")):
            response = render(
                Request(scope, receive),
                "error.html.j2",
                {"title": "Page not found", "message": "There is nothing at this address."},
                status=404,
            )
            response.headers.update(extra)
            await response(scope, receive, send)
            return
        if is_cross_site(scope["method"], path, request_headers, allowed):
            response = render(
                Request(scope, receive),
                "error.html.j2",
                {"title": "Request refused", "message": "This form was sent from another site."},
                status=403,
            )
            response.headers.update(extra)
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Tokens in paths, whole query strings and e-mail addresses (also %40-encoded) in log lines.
_TOKEN_PATH = re.compile(r"(/(?:u|p|c)/|/v/\d+/)[^/\s\"?#]+")
_QUERY = re.compile(r"\?[^\s\"]*")
_ADDRESS = re.compile(r"[^\s@/?&=\"'<>,;:]+(?:@|%40)[^\s@/?&=\"'<>,;:]+", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with link tokens, query strings and e-mail addresses replaced."""
    text = _TOKEN_PATH.sub(r"\1[token]", text)
    text = _QUERY.sub("?[query]", text)
    return _ADDRESS.sub("[address]", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and arguments through ``redact`` (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


# Records logged on these loggers are filtered where they are made; every handler of these and
# of the root logger (and Python's last-resort handler) filters what children propagate to it.
REDACTED_LOGGERS = ("uvicorn.access", "uvicorn.error", "newsletter")


def install_log_redaction() -> None:
    """Put a RedactingFilter on the web server's and the app's loggers and on their handlers
    (idempotent; run again once the server has configured its logging)."""
    loggers = [logging.getLogger(name) for name in (*REDACTED_LOGGERS, "uvicorn")]
    handlers = [h for lg in [logging.getLogger(), *loggers] for h in lg.handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for target in [*loggers, *handlers]:
        if not any(isinstance(f, RedactingFilter) for f in target.filters):
            target.addFilter(RedactingFilter())


router = APIRouter(include_in_schema=False)
_SCRIPT_FILES = {path.name: path for path in Path(SCRIPTS).glob("*.js")}


@router.get("/static/{name}.js")
def script(name: str) -> Response:
    """The pages' scripts, served as files so the CSP needs no inline script."""
    path = _SCRIPT_FILES.get(f"{name}.js")
    if path is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(
        path.read_bytes(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )


def protect(app: FastAPI, *, origin: str) -> None:
    """Wire everything above into the app; ``origin`` is the public base URL's."""
    install_log_redaction()
    app.include_router(router)
    app.add_middleware(SecurityMiddleware, origin=origin)
