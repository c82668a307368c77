"""Validation and normalisation of e-mail addresses (case, spaces, IDNA domains)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from subscribers.errors import InvalidAddress


def normalise_email(address: str) -> str:
    """Return the canonical form of ``address`` or raise InvalidAddress.

    The whole address is lower-cased (mailbox providers treat local parts case-insensitively in
    practice, and duplicates differing only by case are the common import mistake); a non-ASCII
    domain becomes its IDNA form; non-ASCII local parts are refused because they need SMTPUTF8,
    which few servers offer.
    """
    candidate = address.strip()
    if not candidate:
        raise InvalidAddress(address, "empty")
    if any(ch in candidate for ch in "\r\n"):
        raise InvalidAddress(address, "contains a line break")
    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(address, str(exc).rstrip(".")) from None
    return f"{result.local_part.lower()}@{result.ascii_domain.lower()}"


def address_domain(address: str) -> str:
    """The domain part of a normalised address."""
    return address.rsplit("@", 1)[1]
