"""Signed session cookies, CSRF tokens, signed form tokens and in-memory rate limits (pure)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

SESSION_COOKIE = "nl_session"
SESSION_SECONDS = 12 * 3600
FORM_TOKEN_SECONDS = 4 * 3600


def _same(left: str, right: str) -> bool:
    """Constant-time comparison that also accepts non-ASCII input (as bytes)."""
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))


def _mac(secret: bytes, label: str, value: str) -> str:
    digest = hmac.new(secret, f"web:{label}\x00{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:20]).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class SessionClaims:
    """What a valid session cookie says."""

    user_id: int
    issued_at: int
    nonce: str


def new_nonce() -> str:
    """A random session nonce (the key of the session's server-side record)."""
    return secrets.token_urlsafe(16)


def make_session_cookie(
    secret: bytes, *, user_id: int, now: datetime, nonce: str | None = None
) -> str:
    """A signed cookie value naming the user, when it was issued and a random nonce."""
    value = f"{user_id}.{int(now.timestamp())}.{nonce or new_nonce()}"
    return f"{value}.{_mac(secret, 'session', value)}"


def read_session_cookie(secret: bytes, cookie: str, *, now: datetime) -> SessionClaims | None:
    """The claims of a valid, unexpired cookie, else None."""
    try:
        user_id, issued, nonce, signature = cookie.split(".")
        claims = SessionClaims(user_id=int(user_id), issued_at=int(issued), nonce=nonce)
    except ValueError:
        return None
    expected = _mac(secret, "session", f"{user_id}.{issued}.{nonce}")
    if not _same(expected, signature):
        return None
    age = now.timestamp() - claims.issued_at
    if age < 0 or age > SESSION_SECONDS:
        return None
    return claims


def csrf_token(secret: bytes, nonce: str) -> str:
    """The CSRF token of one session (bound to the session's nonce)."""
    return _mac(secret, "csrf", nonce)


def check_csrf(secret: bytes, nonce: str, token: str | None) -> bool:
    """Whether ``token`` is this session's CSRF token."""
    return bool(token) and _same(csrf_token(secret, nonce), token or "")


def make_form_token(secret: bytes, *, purpose: str, now: datetime) -> str:
    """A signed, timestamped token for forms shown before login (login, sign-up, preferences)."""
    stamp = str(int(now.timestamp()))
    return f"{stamp}.{_mac(secret, 'form:' + purpose, stamp)}"


def check_form_token(secret: bytes, token: str | None, *, purpose: str, now: datetime) -> bool:
    """Whether ``token`` was issued for ``purpose`` within the last few hours."""
    if not token or token.count(".") != 1:
        return False
    stamp, signature = token.split(".")
    if not _same(_mac(secret, "form:" + purpose, stamp), signature):
        return False
    try:
        age = now.timestamp() - int(stamp)
    except ValueError:
        return False
    return 0 <= age <= FORM_TOKEN_SECONDS


@dataclass
class RateLimiter:
    """At most ``limit`` hits per key within ``window`` seconds (one process, in memory)."""

    limit: int
    window: float
    clock: object = time.monotonic
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def hit(self, *keys: str) -> bool:
        """Count one attempt for every key; False, and nothing counted, when any key is at its
        limit (a refused attempt does not extend the wait)."""
        return self.take(*keys) is not None

    def take(self, *keys: str) -> float | None:
        """Count one attempt for every key and return its stamp (for ``give_back``); None, and
        nothing counted, when any key is already at its limit.

        The attempt is counted before its outcome is known, so parallel attempts cannot all pass
        the check before the first failure is recorded.
        """
        now: float = self.clock()  # type: ignore[operator]
        queues = [self._window(key, now) for key in keys]
        if any(len(queue) >= self.limit for queue in queues):
            return None
        for queue in queues:
            queue.append(now)
        if len(self._hits) > 10_000:
            self._forget(now)
        return now

    def give_back(self, stamp: float, *keys: str) -> None:
        """Uncount an attempt taken at ``stamp`` that turned out not to count (a success)."""
        for key in keys:
            queue = self._hits.get(key)
            if queue is not None and stamp in queue:
                queue.remove(stamp)

    def clear(self, key: str) -> None:
        """Forget every attempt counted for ``key``."""
        self._hits.pop(key, None)

    def _window(self, key: str, now: float) -> deque[float]:
        queue = self._hits.setdefault(key, deque())
        while queue and queue[0] <= now - self.window:
            queue.popleft()
        return queue

    def _forget(self, now: float) -> None:
        for key in [k for k, q in self._hits.items() if not q or q[-1] <= now - self.window]:
            del self._hits[key]
