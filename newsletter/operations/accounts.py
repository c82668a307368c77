"""Console accounts: create, change, disable and remove users (argon2 password hashes), check
their logins and keep their sessions; any change to a user ends that user's sessions."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, delete, select

from newsletter.db import session_scope
from newsletter.errors import AccountError
from newsletter.models import ApiToken, ConsoleSession, User, UserRole
from subscribers.addresses import normalise_email
from subscribers.errors import InvalidAddress

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

MIN_PASSWORD_LENGTH = 10
_HASHER = PasswordHasher()
# Verified against when the address is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = _HASHER.hash("not-a-real-password-0000")


def check_role(role: str) -> UserRole:
    """The role named ``role``, or AccountError."""
    try:
        return UserRole(role.strip().lower())
    except ValueError:
        raise AccountError(f"unknown role {role!r} (choose admin or editor)") from None


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` after checking its length."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def create_user(session: Session, *, email: str, password: str, role: str, now: datetime) -> User:
    """Create a console account; refuses a duplicate address, a short password, a bad role."""
    try:
        address = normalise_email(email)
    except InvalidAddress as exc:
        raise AccountError(str(exc)) from exc
    chosen = check_role(role)
    hashed = hash_password(password)
    if session.exec(select(User.id).where(User.email == address)).first() is not None:
        raise AccountError(f"a user {address!r} already exists")
    user = User(email=address, password_hash=hashed, role=chosen, created_at=now)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, email: str, password: str, now: datetime) -> User | None:
    """The user if the address and password match (records the login), else None."""
    try:
        address = normalise_email(email)
    except InvalidAddress:
        address = ""
    user = session.exec(select(User).where(User.email == address)).first() if address else None
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled_at is not None:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    user.last_login_at = now
    session.flush()
    return user


def login_key(email: str) -> str:
    """The one name sign-in attempts for ``email`` are counted under.

    It is the account address ``authenticate`` would look up when there is one, so every spelling
    that could sign in as an account (case, a full-width or IDNA domain) counts against that
    account; otherwise the address after NFKC and case folding, so that width, case and
    compatibility variants (``ａｄｍｉｎ@…``, ``ADMIN@…``) share the real address's count too.
    """
    compatible = unicodedata.normalize("NFKC", email).strip()
    for candidate in (email, compatible):
        try:
            return normalise_email(candidate)
        except InvalidAddress:
            continue
    return unicodedata.normalize("NFKC", compatible.casefold())


def all_users(session: Session) -> list[User]:
    """Every account, by address."""
    return list(session.exec(select(User).order_by(col(User.email))))


def start_session(
    session: Session, *, user_id: int, nonce: str, now: datetime, lifetime: timedelta
) -> None:
    """Record a console sign-in (and forget this user's expired sessions)."""
    session.execute(
        delete(ConsoleSession).where(
            col(ConsoleSession.user_id) == user_id, col(ConsoleSession.expires_at) <= now
        )
    )
    session.add(
        ConsoleSession(nonce=nonce, user_id=user_id, created_at=now, expires_at=now + lifetime)
    )
    session.flush()


def session_user(session: Session, *, nonce: str, user_id: int, now: datetime) -> User | None:
    """The user of a recorded, unexpired console session, else None."""
    found = session.get(ConsoleSession, nonce)
    if found is None or found.user_id != user_id or found.expires_at <= now:
        return None
    user = session.get(User, user_id)
    return user if user is not None and user.disabled_at is None else None


def end_session(session: Session, *, nonce: str) -> None:
    """Revoke one console session (sign-out)."""
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.nonce) == nonce))


def end_all_sessions(session: Session, *, user_id: int) -> None:
    """Revoke every console session of a user (for a password or role change or a removal)."""
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.user_id) == user_id))


def get_user(session: Session, *, user_id: int) -> User:
    """The user with this id, or AccountError."""
    user = session.get(User, user_id)
    if user is None:
        raise AccountError(f"unknown user #{user_id}")
    return user


def find_user(session: Session, *, email: str) -> User:
    """The user with this address, or AccountError."""
    try:
        address = normalise_email(email)
    except InvalidAddress as exc:
        raise AccountError(str(exc)) from exc
    user = session.exec(select(User).where(User.email == address)).first()
    if user is None:
        raise AccountError(f"unknown user {address!r}")
    return user


def _other_active_admins(session: Session, user_id: int) -> int:
    query = select(User.id).where(
        User.role == UserRole.ADMIN, col(User.disabled_at).is_(None), col(User.id) != user_id
    )
    return len(session.exec(query).all())


def _keep_an_admin(session: Session, user: User, *, acting_user_id: int | None) -> None:
    """Refuse a change that would leave no active admin, or an admin locking themselves out."""
    if user.id is not None and user.id == acting_user_id:
        raise AccountError("you cannot change your own role, status or account here")
    if user.role == UserRole.ADMIN and not _other_active_admins(session, user.id or 0):
        raise AccountError("this is the last active admin: make another admin first")


def change_role(
    session: Session, *, user_id: int, role: str, acting_user_id: int | None = None
) -> User:
    """Give a user another role; their sessions end."""
    user = get_user(session, user_id=user_id)
    chosen = check_role(role)
    if chosen == user.role:
        return user
    _keep_an_admin(session, user, acting_user_id=acting_user_id)
    user.role = chosen
    end_all_sessions(session, user_id=user_id)
    session.flush()
    return user


def set_disabled(
    session: Session,
    *,
    user_id: int,
    disabled: bool,
    now: datetime,
    acting_user_id: int | None = None,
) -> User:
    """Disable (no sign-in, no API) or re-enable a user; disabling ends their sessions."""
    user = get_user(session, user_id=user_id)
    if disabled and user.disabled_at is None:
        _keep_an_admin(session, user, acting_user_id=acting_user_id)
        user.disabled_at = now
        end_all_sessions(session, user_id=user_id)
    elif not disabled:
        user.disabled_at = None
    session.flush()
    return user


def reset_password(session: Session, *, user_id: int, password: str) -> User:
    """Set a new password chosen by an admin; the user's sessions end."""
    user = get_user(session, user_id=user_id)
    user.password_hash = hash_password(password)
    end_all_sessions(session, user_id=user_id)
    session.flush()
    return user


def delete_user(session: Session, *, user_id: int, acting_user_id: int | None = None) -> str:
    """Remove a user with their sessions and API tokens; returns the address removed."""
    user = get_user(session, user_id=user_id)
    _keep_an_admin(session, user, acting_user_id=acting_user_id)
    end_all_sessions(session, user_id=user_id)
    session.execute(delete(ApiToken).where(col(ApiToken.user_id) == user_id))
    session.delete(user)
    session.flush()
    return user.email


# The use cases of the CLI (`newsletter users`), the console and the API: each one
# transaction.


def console_user(runtime: Runtime, *, nonce: str, user_id: int) -> User | None:
    """The active user of a recorded, unexpired console session, else None."""
    with session_scope(runtime.engine) as session:
        return session_user(session, nonce=nonce, user_id=user_id, now=runtime.clock())


def sign_in(
    runtime: Runtime, *, email: str, password: str, nonce: str, lifetime: timedelta
) -> int | None:
    """Check the password and record a console session under ``nonce``; the user's id or None."""
    with session_scope(runtime.engine) as session:
        user = authenticate(session, email=email, password=password, now=runtime.clock())
        user_id = user.id if user else None
        if user_id is not None:
            start_session(
                session, user_id=user_id, nonce=nonce, now=runtime.clock(), lifetime=lifetime
            )
    return user_id


def sign_out(runtime: Runtime, *, nonce: str) -> None:
    """Revoke one console session."""
    with session_scope(runtime.engine) as session:
        end_session(session, nonce=nonce)


def users(runtime: Runtime) -> list[User]:
    """Every account, by address."""
    with session_scope(runtime.engine) as session:
        return all_users(session)


def add_user(runtime: Runtime, *, email: str, password: str, role: str) -> User:
    """Create a console account (AccountError for a duplicate, short password or bad role)."""
    with session_scope(runtime.engine) as session:
        return create_user(session, email=email, password=password, role=role, now=runtime.clock())


class UserAction(StrEnum):
    """What an admin can do to another account."""

    ROLE = "role"
    DISABLE = "disable"
    ENABLE = "enable"
    PASSWORD = "password"
    DELETE = "delete"


def change_user(
    runtime: Runtime,
    *,
    user_id: int,
    action: UserAction,
    acting_user_id: int,
    role: str = "",
    password: str = "",
) -> str:
    """Change a user's role, disable or enable them, reset their password or remove them;
    returns a one-line account of what was done."""
    with session_scope(runtime.engine) as session:
        if action == UserAction.ROLE:
            user = change_role(session, user_id=user_id, role=role, acting_user_id=acting_user_id)
            return f"{user.email} is now {user.role}; their sessions ended"
        if action in (UserAction.DISABLE, UserAction.ENABLE):
            user = set_disabled(
                session,
                user_id=user_id,
                disabled=action == UserAction.DISABLE,
                now=runtime.clock(),
                acting_user_id=acting_user_id,
            )
            return f"{user.email} {action.value}d"
        if action == UserAction.PASSWORD:
            user = reset_password(session, user_id=user_id, password=password)
            return f"Password of {user.email} reset; their sessions ended"
        email = delete_user(session, user_id=user_id, acting_user_id=acting_user_id)
        return f"{email} removed"
