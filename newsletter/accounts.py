"""Console accounts: create users with argon2 password hashes and check their logins."""

from __future__ import annotations

from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, delete, select

from newsletter.errors import AccountError
from newsletter.models import ConsoleSession, User, UserRole
from subscribers.addresses import normalise_email
from subscribers.errors import InvalidAddress

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
    if user is None:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    user.last_login_at = now
    session.flush()
    return user


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
    return session.get(User, user_id)


def end_session(session: Session, *, nonce: str) -> None:
    """Revoke one console session (sign-out)."""
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.nonce) == nonce))


def end_all_sessions(session: Session, *, user_id: int) -> None:
    """Revoke every console session of a user (for a password or role change or a removal)."""
    session.execute(delete(ConsoleSession).where(col(ConsoleSession.user_id) == user_id))
