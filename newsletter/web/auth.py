"""Console sign-in and sign-out: session cookie, form token, rate-limited failed attempts."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from newsletter.operations.accounts import login_key, sign_in, sign_out
from newsletter.web.deps import (
    Account,
    client_ip,
    form_with_csrf,
    redirect_to,
    render,
    require_editor,
    runtime,
    state,
)
from newsletter.web.security import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    check_form_token,
    make_form_token,
    make_session_cookie,
    new_nonce,
)

router = APIRouter(prefix="/admin")


def _safe_next(target: str | None) -> str:
    """Only local console paths are followed after sign-in (no open redirect)."""
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return "/admin"


def _login_page(
    request: Request, *, error: str = "", email: str = "", status: int = 200
) -> Response:
    rt = runtime(request)
    token = make_form_token(rt.settings.links.secret, purpose="login", now=rt.clock())
    return render(
        request,
        "login.html.j2",
        {
            "title": "Sign in",
            "form_token": token,
            "error": error,
            "email": email,
            "next": _safe_next(request.query_params.get("next")),
        },
        status=status,
    )


@router.get("/login")
def login_form(request: Request) -> Response:
    """The sign-in form."""
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the form token, the limit on failed attempts and the password; set the session
    cookie."""
    rt = runtime(request)
    form = await request.form()
    email = str(form.get("email", "")).strip()
    password = str(form.get("password", ""))
    token = str(form.get("form_token", ""))
    if not check_form_token(rt.settings.links.secret, token, purpose="login", now=rt.clock()):
        return _login_page(request, error="The form expired; please try again.", status=403)
    # Only failures count: an attempt is counted before the password is checked and given back
    # when it succeeds, which also clears the address's failures. Every spelling of an address
    # counts under one key (``login_key``).
    limiter = state(request).login_limiter
    ip_key, address_key = f"ip:{client_ip(request)}", f"email:{login_key(email)}"
    attempt = limiter.take(ip_key, address_key)
    if attempt is None:
        return _login_page(
            request, error="Too many attempts; wait a few minutes.", email=email, status=429
        )
    nonce = new_nonce()
    user_id = sign_in(
        rt,
        email=email,
        password=password,
        nonce=nonce,
        lifetime=timedelta(seconds=SESSION_SECONDS),
    )
    if user_id is None:
        return _login_page(request, error="Wrong email or password.", email=email, status=401)
    limiter.give_back(attempt, ip_key)
    limiter.clear(address_key)
    response = RedirectResponse(_safe_next(str(form.get("next", ""))), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        make_session_cookie(rt.settings.links.secret, user_id=user_id, now=rt.clock(), nonce=nonce),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=rt.settings.links.base_url.startswith("https://"),
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Revoke the session server-side and forget the cookie."""
    await form_with_csrf(request, account)
    sign_out(runtime(request), nonce=account.nonce)
    response = redirect_to("/admin/login", notice="Signed out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
