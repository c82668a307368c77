"""Public URLs and addresses that go into digests: signed, per subscriber or per digest (pure)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from subscribers.tokens import Purpose, make_token


@dataclass(frozen=True)
class PersonalLinks:
    """The links one subscriber gets in one digest."""

    unsubscribe_url: str
    unsubscribe_mailto: str
    preferences_url: str


def personal_links(
    *,
    base_url: str,
    secret: bytes,
    subscriber_id: int,
    list_id: int,
    mailto_domain: str,
) -> PersonalLinks:
    """Signed unsubscribe (https and mailto) and preferences links for one subscriber."""
    unsubscribe = make_token(secret, Purpose.UNSUBSCRIBE, subscriber_id, list_id)
    preferences = make_token(secret, Purpose.PREFERENCES, subscriber_id, list_id)
    return PersonalLinks(
        unsubscribe_url=f"{base_url}/u/{unsubscribe}",
        unsubscribe_mailto=f"unsubscribe+{unsubscribe}@{mailto_domain}",
        preferences_url=f"{base_url}/p/{preferences}",
    )


def confirm_url(*, base_url: str, token: str) -> str:
    """The link in a confirmation email."""
    return f"{base_url}/c/{token}"


def token_from_link(value: str) -> str:
    """The token of a confirm/unsubscribe/preferences link, or the value itself if it is one."""
    return value.strip().split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def archive_signature(secret: bytes, digest_id: int) -> str:
    """A short signature so archived digests cannot be enumerated."""
    mac = hmac.new(secret, f"archive:{digest_id}".encode(), hashlib.sha256).hexdigest()
    return mac[:16]


def archive_url(*, base_url: str, secret: bytes, digest_id: int) -> str:
    """The view-in-browser URL of a digest (no personal data in it)."""
    return f"{base_url}/v/{digest_id}/{archive_signature(secret, digest_id)}"


def check_archive_signature(secret: bytes, digest_id: int, signature: str) -> bool:
    """Whether ``signature`` is the archive signature of ``digest_id``."""
    return hmac.compare_digest(archive_signature(secret, digest_id), signature)
