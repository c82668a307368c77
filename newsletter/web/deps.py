"""What every handler shares: the app state, page rendering, the signed-in user, CSRF checks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from newsletter.models import UserRole
from newsletter.operations.accounts import console_user
from newsletter.operations.lists import find_list
from newsletter.runtime import Runtime
from newsletter.web import flash
from newsletter.web.security import (
    SESSION_COOKIE,
    RateLimiter,
    check_csrf,
    csrf_token,
    read_session_cookie,
)
from subscribers.errors import SubscriberError
from subscribers.models import MailingList

log = logging.getLogger(__name__)


@dataclass
class WebState:
    """Per-app state: the runtime, rate limits and the background sends in flight."""

    runtime: Runtime
    login_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(limit=5, window=300))
    signup_ip_limiter: RateLimiter = field(
        default_factory=lambda: RateLimiter(limit=10, window=3600)
    )
    signup_address_limiter: RateLimiter = field(
        default_factory=lambda: RateLimiter(limit=3, window=3600)
    )
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


@dataclass(frozen=True)
class Account:
    """The signed-in console user, as handlers see it."""

    id: int
    email: str
    role: str
    nonce: str

    @property
    def is_admin(self) -> bool:
        """Whether the account may manage lists, subscribers and users."""
        return self.role == UserRole.ADMIN


class PageError(Exception):
    """Stops a handler and shows an error page with this status."""

    def __init__(self, status: int, title: str, message: str = "") -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


class LoginRequired(Exception):
    """A console page was asked for without a valid session."""


def state(request: Request) -> WebState:
    """The app's state."""
    found: WebState = request.app.state.web
    return found


def runtime(request: Request) -> Runtime:
    """The app's runtime."""
    return state(request).runtime


def client_ip(request: Request) -> str:
    """The peer's address (no proxy headers are trusted)."""
    return request.client.host if request.client else "unknown"


def current_account(request: Request) -> Account | None:
    """The account of a valid session cookie, else None."""
    if hasattr(request.state, "account"):
        cached: Account | None = request.state.account
        return cached
    rt = runtime(request)
    account = None
    cookie = request.cookies.get(SESSION_COOKIE)
    claims = (
        read_session_cookie(rt.settings.links.secret, cookie, now=rt.clock()) if cookie else None
    )
    if claims is not None:
        user = console_user(rt, nonce=claims.nonce, user_id=claims.user_id)
        if user is not None and user.id is not None:
            account = Account(id=user.id, email=user.email, role=user.role, nonce=claims.nonce)
    request.state.account = account
    return account


def require_editor(request: Request) -> Account:
    """Dependency: any signed-in account (editors and admins)."""
    account = current_account(request)
    if account is None:
        raise LoginRequired()
    return account


def require_admin(request: Request) -> Account:
    """Dependency: a signed-in admin."""
    account = require_editor(request)
    if not account.is_admin:
        raise PageError(403, "Admins only", "Your account may not manage lists, people or users.")
    return account


async def form_with_csrf(request: Request, account: Account) -> dict[str, str]:
    """The posted form's text fields, after checking the session's CSRF token."""
    form = await request.form()
    token = form.get("csrf")
    if not isinstance(token, str) or not check_csrf(
        runtime(request).settings.links.secret, account.nonce, token
    ):
        raise PageError(403, "Form expired", "The form's security token is missing or wrong.")
    return {key: value for key, value in form.items() if isinstance(value, str)}


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """Render ``templates/web/NAME`` with the account, its CSRF token and a one-shot message."""
    rt = runtime(request)
    account = current_account(request) if request.url.path.startswith("/admin") else None
    shown = flash.take(request)
    values: dict[str, Any] = {
        "account": account,
        "csrf": csrf_token(rt.settings.links.secret, account.nonce) if account else "",
        "flash": shown,
        "kept": shown.kept if shown and shown.is_error else {},
        "path": request.url.path,
        "title": "",
    }
    values.update(context or {})
    html = rt.env.get_template(f"web/{name}").render(values)
    response = HTMLResponse(html, status_code=status)
    flash.clear(request, response)
    return response


# The full set (CSP, no-store, ...) is added to every response by ``newsletter.web.guard``;
# these are what handlers that answer on their own have always sent.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "SAMEORIGIN",
}


def redirect_to(
    path: str,
    *,
    notice: str = "",
    error: str = "",
    keep: dict[str, str] | None = None,
    **params: str,
) -> RedirectResponse:
    """A 303 to a local path with query parameters (after a POST); ``notice`` or ``error`` (with
    the typed fields in ``keep``) travel in the flash cookie, never in the URL."""
    query = urlencode({key: value for key, value in params.items() if value})
    response = RedirectResponse(f"{path}?{query}" if query else path, status_code=303)
    if error:
        flash.attach(response, flash.Flash(text=error, kind="error", kept=keep or {}))
    elif notice:
        flash.attach(response, flash.Flash(text=notice))
    return response


def in_background(web: WebState, work: Coroutine[Any, Any, Any], what: str) -> None:
    """Run ``work`` on the server's event loop after the response; log (never raise) failures."""

    async def guarded() -> None:
        try:
            await work
        except Exception:  # the page has answered; the console shows what is left
            log.exception("background task failed: %s", what)

    task = asyncio.get_running_loop().create_task(guarded())
    web.tasks.add(task)
    task.add_done_callback(web.tasks.discard)


def list_or_404(request: Request, slug: str) -> MailingList:
    """The list with this slug, or a 404 page."""
    try:
        return find_list(runtime(request), slug=slug)
    except SubscriberError:
        raise PageError(404, "No such list", "There is no list at this address.") from None
