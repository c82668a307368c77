"""API: the caller's own API tokens (list, create, revoke) and who the caller is."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from newsletter.operations import api_tokens
from newsletter.web.api.deps import Caller, api_runtime
from newsletter.web.api.problems import PROBLEM_RESPONSES

router = APIRouter(tags=["tokens"], responses=PROBLEM_RESPONSES)


class Me(BaseModel):
    """The user a token acts for."""

    email: str
    role: str
    token_id: int


class TokenOut(BaseModel):
    """A token as listed (never its secret)."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenIn(BaseModel):
    """A name for a new token."""

    name: str = Field(min_length=1, max_length=100)


class NewToken(BaseModel):
    """A new token: the secret is shown only in this answer."""

    id: int
    token: str


@router.get("/me", response_model=Me)
def me(owner: Caller) -> Me:
    """Who this token acts for."""
    return Me(email=owner.email, role=owner.role, token_id=owner.token_id)


@router.get("/tokens", response_model=list[TokenOut])
def get_tokens(request: Request, owner: Caller) -> list[TokenOut]:
    """The caller's tokens, newest first."""
    rows = api_tokens.tokens_of(api_runtime(request), user_id=owner.user_id)
    return [
        TokenOut(
            id=r.id,
            name=r.name,
            prefix=r.prefix,
            created_at=r.created_at,
            last_used_at=r.last_used_at,
            revoked_at=r.revoked_at,
        )
        for r in rows
    ]


@router.post("/tokens", response_model=NewToken, status_code=201)
def new_token(request: Request, body: TokenIn, owner: Caller) -> NewToken:
    """Create another token for the caller, with the same role."""
    issued = api_tokens.issue_own_token(
        api_runtime(request), user_id=owner.user_id, name=body.name, listed_for=owner.user_id
    )
    return NewToken(id=issued.token_id, token=issued.token)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke(request: Request, token_id: int, owner: Caller) -> None:
    """Revoke one of the caller's tokens (it stops working at once)."""
    api_tokens.revoke(api_runtime(request), token_id=token_id, owner_id=owner.user_id)
