"""Classification of SMTP replies and the retry policy that follows from them."""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta
from enum import StrEnum


class ReplyKind(StrEnum):
    """What one SMTP outcome means for one recipient."""

    SENT = "sent"
    TEMPORARY = "temporary"  # 4xx, dropped connection, timeout: retry later
    BAD_MAILBOX = "bad_mailbox"  # the address does not exist: suppress it
    POLICY = "policy"  # refused for the sender's setup or reputation: not the subscriber's fault
    PERMANENT = "permanent"  # any other 5xx: do not retry


# RFC 3463: class.subject.detail. Subjects 0-7 are the only ones defined; keeping to them
# stops version strings such as "Exim 4.94.2" from being read as a status.
_STATUS = r"([245])\.([0-7])\.(\d{1,3})(?![\d.]*\d)"
# The enhanced code normally opens the reply text (after the basic code, if the caller kept it).
_LEADING_STATUS = re.compile(r"^\s*(?:[245]\d\d[ -]\s*)?#?" + _STATUS, re.MULTILINE)
# Some servers put it elsewhere: "mailbox unavailable (5.1.1)". Not after a digit or a dot so
# that IP addresses ("192.5.1.1") never match.
_ANY_STATUS = re.compile(r"(?<![\d.])#?" + _STATUS)

_USER_UNKNOWN = re.compile(
    r"user unknown|unknown user|unknown (?:local[- ]part|recipient|mailbox|address)"
    r"|no such (?:user|mailbox|recipient|address|account)"
    r"|(?:recipient|mailbox|address|account|user)(?: address)? (?:is )?"
    r"(?:unknown|not found|does not exist|doesn't exist|not exist)"
    r"|invalid (?:recipient|mailbox)|mailbox not found|account (?:has been )?disabled",
    re.IGNORECASE,
)
# For 5xx replies without an enhanced code only: words that point at the sender's setup or
# reputation rather than at the address.
_POLICY_WORDS = re.compile(
    r"\bspam\b|block ?list|black ?list|blocked|\bpolicy\b|reputation|\bdmarc\b|\bspf\b"
    r"|\bdkim\b|authenticat|relay(?:ing)? (?:access )?denied|not permitted to relay",
    re.IGNORECASE,
)
_RATE_WORDS = re.compile(
    r"\brate\b|rate[- ]?limit|throttl|unexpected volume|unusual (?:rate|volume)"
    r"|too many (?:connections|concurrent|messages|mails?|emails?|sessions)"
    r"|(?:sending|hourly|daily) (?:limit|quota)|temporarily deferred",
    re.IGNORECASE,
)
# Sender-side address problems (RFC 3463): 5.1.7 bad sender mailbox syntax, 5.1.8 bad sender
# system address. They are in 5.1.x but are our fault, not the subscriber's.
_SENDER_ADDRESS_STATUSES = frozenset({"5.1.7", "5.1.8"})
# Exponents above this already exceed any sane cap and would overflow a float.
_MAX_EXPONENT = 60


def enhanced_status(message: str) -> str | None:
    """Return the RFC 3463 enhanced status code ("5.1.1") in an SMTP reply text, if any."""
    match = _LEADING_STATUS.search(message) or _ANY_STATUS.search(message)
    if match is None:
        return None
    return ".".join(str(int(part)) for part in match.groups())


def classify_status(status: str) -> ReplyKind:
    """Classify an enhanced status code alone ("5.1.1", e.g. from a DSN)."""
    if status.startswith("2."):
        return ReplyKind.SENT
    if not status.startswith("5."):
        return ReplyKind.TEMPORARY
    if status in _SENDER_ADDRESS_STATUSES:
        return ReplyKind.POLICY
    if status.startswith("5.1."):
        return ReplyKind.BAD_MAILBOX
    if status.startswith("5.7."):
        return ReplyKind.POLICY
    return ReplyKind.PERMANENT


def classify_reply(code: int | None, message: str) -> ReplyKind:
    """Classify one SMTP outcome; `code` None means the connection dropped or timed out."""
    if code is None:
        return ReplyKind.TEMPORARY
    if 200 <= code < 300:
        return ReplyKind.SENT
    if not 500 <= code < 600:
        # 4xx, and anything a broken server might say (3xx, garbage): retrying is the safe call.
        return ReplyKind.TEMPORARY
    status = enhanced_status(message)
    # RFC 3463 says the basic code wins when the two disagree.
    if status is not None and status.startswith("5."):
        return classify_status(status)
    if code in (550, 551, 553) and _USER_UNKNOWN.search(message):
        return ReplyKind.BAD_MAILBOX
    if _POLICY_WORDS.search(message):
        return ReplyKind.POLICY
    return ReplyKind.PERMANENT


def is_rate_limited(code: int | None, message: str) -> bool:
    """Tell whether a reply asks us to slow down (Gmail 4.7.28, "421 4.7.0 try again later")."""
    if code is None or not 400 <= code < 500:
        return False
    status = enhanced_status(message)
    if status == "4.7.28":
        return True
    if code == 421 and status == "4.7.0":
        return True
    # Other 4.7.x and bare 421/450/451 replies are rate limits only when they say so:
    # greylisting ("451 4.7.1 try again later") must not pause a whole server.
    return bool(_RATE_WORDS.search(message)) and (
        status is None or status.startswith("4.7.") or code == 421
    )


def retry_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait after `attempt` failed tries (1 = first): exponential, "equal" jitter
    (between half the ceiling and the ceiling, so a retry never comes back at once)."""
    if attempt < 1:
        raise ValueError(f"attempt must be at least 1, got {attempt}")
    if base <= 0 or cap < base:
        raise ValueError(f"need 0 < base <= cap, got base={base} cap={cap}")
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, _MAX_EXPONENT))
    # Jitter spreads the retries of a whole run that failed together instead of hitting the
    # server again in lockstep; keeping half the ceiling honours the back-off itself.
    return rng.uniform(ceiling / 2.0, ceiling)


def should_give_up(first_attempt_at: datetime, now: datetime, max_age: timedelta) -> bool:
    """Tell whether a delivery first tried at `first_attempt_at` is too old to retry at `now`."""
    if first_attempt_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("first_attempt_at and now must be timezone-aware")
    return now - first_attempt_at >= max_age
