"""Webhook signatures and retry back-off (pure).

A receiver checks ``Newsletter-Signature: t=<unix seconds>,v1=<hex>`` where the hex is
HMAC-SHA256(endpoint secret, "<t>.<raw body>"), and refuses timestamps older than a few
minutes (replays). The scheme follows Stripe's, which receivers know how to check.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

SIGNATURE_HEADER = "Newsletter-Signature"
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=6)
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value signing ``body`` at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: int) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within the tolerance (for receivers)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected.encode(), fields.get("v1", "").encode("utf-8", "replace"))


def backoff(attempts: int) -> timedelta:
    """The wait after ``attempts`` failed tries: 30 s doubling, at most 6 hours."""
    wait = FIRST_RETRY * (2 ** max(0, attempts - 1))
    return min(wait, LONGEST_WAIT)
