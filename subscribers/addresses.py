"""Validation and normalisation of e-mail addresses (case, spaces, IDNA domains)."""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache

from subscribers.errors import InvalidAddress

# RFC 5322 dot-atom local part in ASCII: what almost every real address looks like. Addresses of
# this shape only need their domain checked, and domains repeat, so the check is cached.
_DOT_ATOM_LOCAL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
)
_MAX_LOCAL = 64
_MAX_ADDRESS = 254


def _full_check(candidate: str, original: str) -> str:
    # email-validator is imported on first use: commands that never check an address skip it.
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(original, str(exc).rstrip(".")) from None
    return f"{result.local_part.lower()}@{result.ascii_domain.lower()}"


@lru_cache(maxsize=8192)
def _checked_domain(domain: str) -> str | None:
    """The ASCII form of ``domain`` if email-validator accepts it, else None (then the slow path
    reports the precise reason)."""
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return result.ascii_domain.lower()


def normalise_email(address: str) -> str:
    """Return the canonical form of ``address`` or raise InvalidAddress.

    The whole address is lower-cased (mailbox providers treat local parts case-insensitively in
    practice, and duplicates differing only by case are the common import mistake); a non-ASCII
    domain becomes its IDNA form; non-ASCII local parts are refused because they need SMTPUTF8,
    which few servers offer. Common shapes take a fast path with the same result as
    email-validator (a property test holds them equal); everything else goes through it in full.
    """
    candidate = address.strip()
    if not candidate:
        raise InvalidAddress(address, "empty")
    if any(ch in candidate for ch in "\r\n"):
        raise InvalidAddress(address, "contains a line break")
    local, at, domain = candidate.rpartition("@")
    if at and len(local) <= _MAX_LOCAL and _DOT_ATOM_LOCAL.fullmatch(local):
        ascii_domain = _checked_domain(domain)
        if ascii_domain is not None:
            normalised = f"{local.lower()}@{ascii_domain}"
            if len(normalised) <= _MAX_ADDRESS:
                return normalised
    return _full_check(candidate, address)


def normalise_email_slow(address: str) -> str:
    """Normalise through email-validator only (the reference the fast path is tested against)."""
    candidate = address.strip()
    if not candidate:
        raise InvalidAddress(address, "empty")
    if any(ch in candidate for ch in "\r\n"):
        raise InvalidAddress(address, "contains a line break")
    return _full_check(candidate, address)


def address_domain(address: str) -> str:
    """The domain part of a normalised address."""
    return address.rsplit("@", 1)[1]


def address_hash(secret: bytes, address: str) -> str:
    """A salted one-way hash of a normalised address, kept after erasure to block re-imports."""
    digest = hmac.new(secret, b"erased-address\x00" + address.encode(), hashlib.sha256)
    return f"sha256:{digest.hexdigest()}"
