"""Errors raised by the audience package.

SubscriberError (root)
 +-- InvalidAddress (ValueError)        an e-mail address that cannot be used
 +-- InvalidPreference (ValueError)     a topic, cadence, timezone or hour that is not allowed
 +-- ListNotFound (LookupError)
 +-- SubscriberNotFound (LookupError)
 +-- SubscriptionNotFound (LookupError)
 +-- SuppressionNotFound (LookupError)
 +-- ListNotEmpty (ValueError)          deleting a list with subscriptions needs force
 +-- DuplicateList (ValueError)
 +-- InvalidToken (ValueError)          forged, tampered, expired or wrong-purpose token
 +-- Suppressed (PermissionError)       the address must never be mailed
 +-- ImportFileError (ValueError)       a CSV file that cannot be imported at all
"""

from __future__ import annotations


class SubscriberError(Exception):
    """Root of every error the subscribers package raises on purpose."""


class InvalidAddress(SubscriberError, ValueError):
    """An e-mail address that is malformed or cannot be mailed."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"invalid email address {address!r}: {reason}")
        self.address = address
        self.reason = reason


class InvalidPreference(SubscriberError, ValueError):
    """A subscription preference that is not allowed."""


class ListNotFound(SubscriberError, LookupError):
    """No list has this slug."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"unknown list {slug!r}")
        self.slug = slug


class SubscriberNotFound(SubscriberError, LookupError):
    """No subscriber has this address."""

    def __init__(self, email: str) -> None:
        super().__init__(f"unknown subscriber {email!r}")
        self.email = email


class SubscriptionNotFound(SubscriberError, LookupError):
    """The subscriber is not on that list."""

    def __init__(self, email: str, slug: str) -> None:
        super().__init__(f"{email!r} is not subscribed to list {slug!r}")
        self.email = email
        self.slug = slug


class SuppressionNotFound(SubscriberError, LookupError):
    """No suppression entry has this value."""

    def __init__(self, value: str) -> None:
        super().__init__(f"{value!r} is not on the suppression list")
        self.value = value


class ListNotEmpty(SubscriberError, ValueError):
    """A list still has subscriptions and deleting it was not forced."""

    def __init__(self, slug: str, subscriptions: int) -> None:
        super().__init__(
            f"list {slug!r} has {subscriptions} subscription(s); deleting it needs --force "
            "and removes them all"
        )
        self.slug = slug
        self.subscriptions = subscriptions


class DuplicateList(SubscriberError, ValueError):
    """A list with this slug already exists."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"a list with slug {slug!r} already exists")
        self.slug = slug


class InvalidToken(SubscriberError, ValueError):
    """A token that is forged, tampered with, expired or meant for something else."""


class Suppressed(SubscriberError, PermissionError):
    """The address is on the suppression list."""

    def __init__(self, email: str) -> None:
        super().__init__(f"{email!r} is suppressed and cannot be subscribed")
        self.email = email


class ImportFileError(SubscriberError, ValueError):
    """A CSV file that cannot be imported at all."""


class ExportFileError(SubscriberError, OSError):
    """An export that cannot be written where it was asked to go (nothing was left there)."""


def shown(value: object) -> str:
    """``value`` for an error message: quoted, and cut so that one line stays one short line."""
    text = repr(value)
    return text if len(text) <= 66 else text[:64] + "…"
