"""Console accounts and API tokens: admins create, disable, re-role, reset and remove users
(each change ends that user's sessions); every user manages their own API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.errors import AccountError
from newsletter.models import UserRole
from newsletter.operations import accounts, api_tokens
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
    users = accounts.users(runtime(request))
    return render(
        request,
        "users.html.j2",
        {"title": "Users", "users": users, "roles": [role.value for role in UserRole]},
    )


@router.post("/users")
async def add_user(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Create an account with a password chosen by the admin."""
    form = await form_with_csrf(request, account)
    try:
        user = accounts.add_user(
            runtime(request),
            email=form.get("email", ""),
            password=form.get("password", ""),
            role=form.get("role", ""),
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
    try:
        chosen = accounts.UserAction(action)
    except ValueError:
        raise PageError(400, "Unknown action", f"Users cannot {action!r}.") from None
    try:
        if chosen == accounts.UserAction.DELETE and form.get("confirm_delete") != "yes":
            raise AccountError("tick the box to confirm the removal")
        notice = accounts.change_user(
            runtime(request),
            user_id=user_id,
            action=chosen,
            acting_user_id=account.id,
            role=form.get("role", ""),
            password=form.get("password", ""),
        )
    except AccountError as exc:
        return redirect_to("/admin/users", error=str(exc))
    return redirect_to("/admin/users", notice=notice)


@router.get("/tokens")
def tokens_page(request: Request, account: Account = Depends(require_editor)) -> Response:
    """The signed-in user's API tokens (admins see everyone's) and a form to create one."""
    rows = api_tokens.tokens_of(runtime(request), user_id=None if account.is_admin else account.id)
    return render(request, "tokens.html.j2", {"title": "API tokens", "tokens": rows})


@router.post("/tokens")
async def new_token(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Create a token for the signed-in user and show it once."""
    form = await form_with_csrf(request, account)
    try:
        issued = api_tokens.issue_own_token(
            runtime(request),
            user_id=account.id,
            name=form.get("name", ""),
            listed_for=None if account.is_admin else account.id,
        )
    except AccountError as exc:
        return redirect_to("/admin/tokens", error=str(exc), keep=form)
    return render(
        request,
        "tokens.html.j2",
        {
            "title": "API tokens",
            "tokens": issued.listed,
            "new_token": issued.token,
            "new_id": issued.token_id,
        },
    )


@router.post("/tokens/{token_id}/revoke")
async def revoke(
    request: Request, token_id: int, account: Account = Depends(require_editor)
) -> Response:
    """Revoke a token (one's own; admins any)."""
    await form_with_csrf(request, account)
    try:
        api_tokens.revoke(
            runtime(request), token_id=token_id, owner_id=None if account.is_admin else account.id
        )
    except AccountError as exc:
        return redirect_to("/admin/tokens", error=str(exc))
    return redirect_to("/admin/tokens", notice=f"Token #{token_id} revoked")
