"""HTTP API tokens: issued per user, stored as SHA-256 hashes, revocable, acting with the role of
the user who owns them (a disabled or removed user's tokens stop working at once).

A token is ``nl_`` followed by 32 random bytes in URL-safe base64: with 256 bits of entropy a
plain SHA-256 is enough to store it (no salt or slow hash is needed, unlike passwords), and the
lookup stays one indexed equality per request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from newsletter.db import session_scope
from newsletter.errors import AccountError
from newsletter.models import ApiToken, User
from newsletter.operations.accounts import find_user

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

TOKEN_PREFIX = "nl_"
# last_used_at is written at most once a minute per token, so reads do not all become writes
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenOwner:
    """Who a presented token acts for."""

    token_id: int
    user_id: int
    email: str
    role: str


@dataclass(frozen=True)
class TokenRow:
    """A token as listings show it (never the secret itself)."""

    id: int
    name: str
    prefix: str
    email: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, *, user_id: int, name: str, now: datetime) -> tuple[int, str]:
    """Issue a token for a user; returns its id and the token, which is shown only this once."""
    label = name.strip()
    if not label or len(label) > 100:
        raise AccountError("a token needs a name of 1 to 100 characters")
    user = session.get(User, user_id)
    if user is None or user.disabled_at is not None:
        raise AccountError(f"unknown or disabled user #{user_id}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user_id,
        name=label,
        prefix=token[:10],
        token_hash=hash_token(token),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row.id or 0, token


def revoke_token(
    session: Session, *, token_id: int, now: datetime, owner_id: int | None = None
) -> None:
    """Revoke a token (only the owner's own when ``owner_id`` is given); repeats are harmless."""
    row = session.get(ApiToken, token_id)
    if row is None or (owner_id is not None and row.user_id != owner_id):
        raise AccountError(f"unknown token #{token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.flush()


def list_tokens(session: Session, *, user_id: int | None = None) -> list[TokenRow]:
    """Tokens (one user's, or everyone's), newest first."""
    query = (
        select(ApiToken, User.email)
        .join(User, col(User.id) == col(ApiToken.user_id))
        .order_by(col(ApiToken.id).desc())
    )
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return [
        TokenRow(
            id=row.id or 0,
            name=row.name,
            prefix=row.prefix,
            email=email,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )
        for row, email in session.exec(query)
    ]


def token_owner(session: Session, *, token: str, now: datetime) -> TokenOwner | None:
    """Who a presented token acts for, or None when it is unknown, revoked or its user disabled."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    found = session.exec(
        select(ApiToken, User)
        .join(User, col(User.id) == col(ApiToken.user_id))
        .where(ApiToken.token_hash == hash_token(token))
    ).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or user.disabled_at is not None:
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        row.last_used_at = now
        session.flush()
    return TokenOwner(token_id=row.id or 0, user_id=user.id or 0, email=user.email, role=user.role)


# The use cases of the CLI (`newsletter tokens`): each one transaction.


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued: the secret is in ``token`` and is never shown again."""

    token_id: int
    token: str
    email: str
    role: str


def issue_token(runtime: Runtime, *, email: str, name: str) -> IssuedToken:
    """Issue a token for the console user ``email``, with that user's role."""
    with session_scope(runtime.engine) as session:
        user = find_user(session, email=email)
        token_id, token = create_token(
            session, user_id=user.id or 0, name=name, now=runtime.clock()
        )
        return IssuedToken(token_id, token, user.email, user.role)


def tokens_of(
    runtime: Runtime, *, email: str | None = None, user_id: int | None = None
) -> list[TokenRow]:
    """Every token, or only those of the console user ``email`` (or ``user_id``)."""
    with session_scope(runtime.engine) as session:
        if email:
            user_id = find_user(session, email=email).id
        return list_tokens(session, user_id=user_id)


def revoke(runtime: Runtime, *, token_id: int, owner_id: int | None = None) -> None:
    """Revoke a token (only the owner's own when ``owner_id`` is given); it stops working at
    once."""
    with session_scope(runtime.engine) as session:
        revoke_token(session, token_id=token_id, now=runtime.clock(), owner_id=owner_id)


@dataclass(frozen=True)
class OwnToken:
    """A token a signed-in user issued for themselves, and the tokens listed beside it."""

    token_id: int
    token: str
    listed: list[TokenRow]


def issue_own_token(
    runtime: Runtime, *, user_id: int, name: str, listed_for: int | None
) -> OwnToken:
    """Issue a token for the signed-in user; the answer lists ``listed_for``'s tokens
    (everyone's for None)."""
    with session_scope(runtime.engine) as session:
        token_id, token = create_token(session, user_id=user_id, name=name, now=runtime.clock())
        return OwnToken(token_id, token, list_tokens(session, user_id=listed_for))


def caller_of(runtime: Runtime, *, token: str) -> TokenOwner | None:
    """Who a presented token acts for (its last use recorded), or None."""
    with session_scope(runtime.engine) as session:
        return token_owner(session, token=token, now=runtime.clock())
