"""The suppression list: addresses, whole domains and erased-address hashes never to be mailed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session, col, delete, select

from subscribers.addresses import address_domain, address_hash, normalise_email
from subscribers.errors import InvalidAddress, InvalidPreference, SuppressionNotFound
from subscribers.models import Suppression, SuppressionKind, SuppressionReason


def normalise_domain(domain: str) -> str:
    """The ASCII (IDNA) form of a domain name, or InvalidPreference."""
    try:
        return normalise_email(f"postmaster@{domain.strip().lstrip('@')}").split("@", 1)[1]
    except InvalidAddress as exc:
        raise InvalidPreference(f"invalid domain {domain!r}: {exc.reason}") from None


def suppressed_filter(session: Session, *, secret: bytes | None = None) -> Callable[[str], bool]:
    """Load the suppression list once; the result answers per normalised address.

    Hash entries (erased people) are only checked when ``secret`` is given.
    """
    addresses: set[str] = set()
    domains: set[str] = set()
    hashes: set[str] = set()
    for value, kind in session.exec(select(Suppression.value, Suppression.kind)):
        if kind == SuppressionKind.DOMAIN:
            domains.add(value)
        elif kind == SuppressionKind.HASH:
            hashes.add(value)
        else:
            addresses.add(value)
    check_hashes = secret is not None and bool(hashes)

    def is_blocked(email: str) -> bool:
        if email in addresses or address_domain(email) in domains:
            return True
        return check_hashes and address_hash(secret or b"", email) in hashes

    return is_blocked


def is_suppressed(session: Session, *, email: str, secret: bytes | None = None) -> bool:
    """Whether a normalised address, its domain or (with ``secret``) its hash is suppressed."""
    values = [email, address_domain(email)]
    if secret is not None:
        values.append(address_hash(secret, email))
    found = session.exec(select(Suppression.id).where(col(Suppression.value).in_(values))).first()
    return found is not None


def suppress(
    session: Session,
    *,
    value: str,
    reason: SuppressionReason,
    kind: SuppressionKind = SuppressionKind.ADDRESS,
    note: str = "",
    now: datetime | None = None,
) -> Suppression:
    """Add an address, domain or hash to the suppression list (idempotent)."""
    existing = session.exec(select(Suppression).where(Suppression.value == value)).first()
    if existing is not None:
        return existing
    entry = Suppression(value=value, kind=kind, reason=reason, note=note)
    if now is not None:
        entry.created_at = now
    session.add(entry)
    session.flush()
    return entry


def add_suppression(
    session: Session,
    *,
    value: str,
    now: datetime,
    domain: bool = False,
    reason: SuppressionReason = SuppressionReason.MANUAL,
    note: str = "",
) -> Suppression:
    """An admin's entry: a validated address, or a whole domain when ``domain`` is true."""
    if domain:
        return suppress(
            session,
            value=normalise_domain(value),
            kind=SuppressionKind.DOMAIN,
            reason=reason,
            note=note,
            now=now,
        )
    return suppress(
        session,
        value=normalise_email(value),
        kind=SuppressionKind.ADDRESS,
        reason=reason,
        note=note,
        now=now,
    )


def remove_suppression(
    session: Session, *, value: str, domain: bool = False, secret: bytes | None = None
) -> None:
    """Take an address or domain off the list.

    With ``secret``, an address also loses the hash entry left by erasing it: an erased person
    who was added back can then be mailed again (without it nothing could ever lift it).
    """
    key = normalise_domain(value) if domain else normalise_email(value)
    kind = SuppressionKind.DOMAIN if domain else SuppressionKind.ADDRESS
    wanted = [(key, kind)]
    if not domain and secret is not None:
        wanted.append((address_hash(secret, key), SuppressionKind.HASH))
    ids = [
        entry_id
        for value_, kind_ in wanted
        for entry_id in session.exec(
            select(Suppression.id).where(Suppression.value == value_, Suppression.kind == kind_)
        )
    ]
    if not ids:
        raise SuppressionNotFound(key)
    session.exec(delete(Suppression).where(col(Suppression.id).in_(ids)))


def list_suppressions(
    session: Session, *, kind: SuppressionKind | None = None
) -> list[Suppression]:
    """Every entry (optionally of one kind), newest first."""
    query = select(Suppression).order_by(col(Suppression.created_at).desc(), col(Suppression.id))
    if kind is not None:
        query = query.where(Suppression.kind == kind)
    return list(session.exec(query))
