"""Signed, purpose-bound, optionally expiring tokens for confirm, unsubscribe and preferences."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from subscribers.errors import InvalidToken

SIGNATURE_BYTES = 16


class Purpose(StrEnum):
    """What a token may be used for; a token for one purpose never works for another."""

    CONFIRM = "c"
    UNSUBSCRIBE = "u"
    PREFERENCES = "p"


@dataclass(frozen=True)
class TokenClaims:
    """What a valid token says."""

    purpose: Purpose
    subscriber_id: int
    list_id: int | None
    expires_at: datetime | None
    generation: int | None = None  # confirm tokens: the sign-up request they answer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, b"newsletter-token\x00" + payload, hashlib.sha256).digest()[
        :SIGNATURE_BYTES
    ]


def make_token(
    secret: bytes,
    purpose: Purpose,
    subscriber_id: int,
    list_id: int | None = None,
    *,
    now: datetime | None = None,
    ttl: timedelta | None = None,
    generation: int | None = None,
) -> str:
    """Sign a token; with ``ttl`` it expires ``ttl`` after ``now``; ``generation`` ties it to
    one version of what it names (a confirm token to one sign-up request)."""
    if ttl is not None and now is None:
        raise ValueError("an expiring token needs `now`")
    expires = int((now + ttl).timestamp()) if ttl is not None and now is not None else 0
    text = f"{purpose.value}.{subscriber_id}.{list_id or 0}.{expires}"
    if generation is not None:
        text += f".{generation}"
    payload = text.encode("ascii")
    return f"{_b64(payload)}.{_b64(_signature(secret, payload))}"


def read_token(secret: bytes, token: str, purpose: Purpose, *, now: datetime) -> TokenClaims:
    """Verify ``token`` for ``purpose`` at ``now``, or raise InvalidToken."""
    try:
        payload_text, signature_text = token.strip().split(".")
        payload = _unb64(payload_text)
        signature = _unb64(signature_text)
    except (ValueError, UnicodeError):
        raise InvalidToken("malformed token") from None
    if not hmac.compare_digest(signature, _signature(secret, payload)):
        raise InvalidToken("bad signature")
    try:
        purpose_code, subscriber, list_id, expires, *rest = payload.decode("ascii").split(".")
        if len(rest) > 1:
            raise ValueError("too many fields")
        claims = TokenClaims(
            purpose=Purpose(purpose_code),
            subscriber_id=int(subscriber),
            list_id=int(list_id) or None,
            expires_at=(
                datetime.fromtimestamp(int(expires), tz=now.tzinfo) if int(expires) else None
            ),
            generation=int(rest[0]) if rest else None,
        )
    except ValueError:
        raise InvalidToken("malformed token") from None
    if claims.purpose is not purpose:
        raise InvalidToken("token is meant for something else")
    if claims.expires_at is not None and now >= claims.expires_at:
        raise InvalidToken("token has expired")
    return claims
