"""Console accounts and API tokens: admins create, disable, re-role, reset and remove users
(each change ends that user's sessions); every user manages their own API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.db import session_scope
from newsletter.errors import AccountError
from newsletter.models import UserRole
from newsletter.operations import accounts
from newsletter.operations.api_tokens import create_token, list_tokens, revoke_token
from newsletter.web.deps import (
    Account,
    PageError,
    form_with_csrf,
    redirect_to,
    render,
    require_admin,
    require_editor,
    runtime,
)

router = APIRouter(prefix="/admin")


@router.get("/users")
def users_page(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Every console account, its actions, and a form to add one."""
    with session_scope(runtime(request).engine) as session:
        users = accounts.all_users(session)
    return render(
        request,
        "users.html.j2",
        {"title": "Users", "users": users, "roles": [role.value for role in UserRole]},
    )


@router.post("/users")
async def add_user(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Create an account with a password chosen by the admin."""
    form = await form_with_csrf(request, account)
    rt = runtime(request)
    try:
        with session_scope(rt.engine) as session:
            user = accounts.create_user(
                session,
                email=form.get("email", ""),
                password=form.get("password", ""),
                role=form.get("role", ""),
                now=rt.clock(),
            )
            notice = f"User {user.email} created"
    except AccountError as exc:
        return redirect_to("/admin/users", error=str(exc), keep=form)
    return redirect_to("/admin/users", notice=notice)


@router.post("/users/{user_id}")
async def change_user(
    request: Request, user_id: int, account: Account = Depends(require_admin)
) -> Response:
    """Change a user's role, disable or enable, reset the password, or delete the account."""
    form = await form_with_csrf(request, account)
    action = form.get("action", "")
    rt = runtime(request)
    try:
        with session_scope(rt.engine) as session:
            if action == "role":
                user = accounts.change_role(
                    session, user_id=user_id, role=form.get("role", ""), acting_user_id=account.id
                )
                notice = f"{user.email} is now {user.role}; their sessions ended"
            elif action in ("disable", "enable"):
                user = accounts.set_disabled(
                    session,
                    user_id=user_id,
                    disabled=action == "disable",
                    now=rt.clock(),
                    acting_user_id=account.id,
                )
                notice = f"{user.email} {action}d"
            elif action == "password":
                user = accounts.reset_password(
                    session, user_id=user_id, password=form.get("password", "")
                )
                notice = f"Password of {user.email} reset; their sessions ended"
            elif action == "delete":
                if form.get("confirm_delete") != "yes":
                    raise AccountError("tick the box to confirm the removal")
                email = accounts.delete_user(session, user_id=user_id, acting_user_id=account.id)
                notice = f"{email} removed"
            else:
                raise PageError(400, "Unknown action", f"Users cannot {action!r}.")
    except AccountError as exc:
        return redirect_to("/admin/users", error=str(exc))
    return redirect_to("/admin/users", notice=notice)


@router.get("/tokens")
def tokens_page(request: Request, account: Account = Depends(require_editor)) -> Response:
    """The signed-in user's API tokens (admins see everyone's) and a form to create one."""
    with session_scope(runtime(request).engine) as session:
        rows = list_tokens(session, user_id=None if account.is_admin else account.id)
    return render(request, "tokens.html.j2", {"title": "API tokens", "tokens": rows})


@router.post("/tokens")
async def new_token(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Create a token for the signed-in user and show it once."""
    form = await form_with_csrf(request, account)
    rt = runtime(request)
    try:
        with session_scope(rt.engine) as session:
            token_id, token = create_token(
                session, user_id=account.id, name=form.get("name", ""), now=rt.clock()
            )
            rows = list_tokens(session, user_id=None if account.is_admin else account.id)
    except AccountError as exc:
        return redirect_to("/admin/tokens", error=str(exc), keep=form)
    return render(
        request,
        "tokens.html.j2",
        {"title": "API tokens", "tokens": rows, "new_token": token, "new_id": token_id},
    )


@router.post("/tokens/{token_id}/revoke")
async def revoke(
    request: Request, token_id: int, account: Account = Depends(require_editor)
) -> Response:
    """Revoke a token (one's own; admins any)."""
    await form_with_csrf(request, account)
    rt = runtime(request)
    try:
        with session_scope(rt.engine) as session:
            revoke_token(
                session,
                token_id=token_id,
                now=rt.clock(),
                owner_id=None if account.is_admin else account.id,
            )
    except AccountError as exc:
        return redirect_to("/admin/tokens", error=str(exc))
    return redirect_to("/admin/tokens", notice=f"Token #{token_id} revoked")
