"""Console accounts, for admins: list them and create new ones."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.accounts import all_users, create_user
from newsletter.db import session_scope
from newsletter.errors import AccountError
from newsletter.models import UserRole
from newsletter.web.deps import (
    Account,
    form_with_csrf,
    redirect_to,
    render,
    require_admin,
    runtime,
)

router = APIRouter(prefix="/admin")


@router.get("/users")
def users_page(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Every console account and a form to add one."""
    with session_scope(runtime(request).engine) as session:
        users = all_users(session)
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
            user = create_user(
                session,
                email=form.get("email", ""),
                password=form.get("password", ""),
                role=form.get("role", ""),
                now=rt.clock(),
            )
            notice = f"User {user.email} created"
    except AccountError as exc:
        notice = str(exc)
    return redirect_to("/admin/users", notice=notice)
