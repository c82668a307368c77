"""The public addresses of a list's archive, feed, topic pages and help page (pure).

Topic pages carry a signature (``?k=``) so a digest of a list whose archive is private can
still link to them ("4 more in Technology"); public archives answer without it.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote


def list_url(base_url: str, slug: str) -> str:
    """The sign-up page of a list."""
    return f"{base_url}/l/{quote(slug)}"


def archive_index_url(base_url: str, slug: str, page: int = 1) -> str:
    """Page ``page`` of the list's archive, newest issues first."""
    suffix = f"?page={page}" if page > 1 else ""
    return f"{list_url(base_url, slug)}/archive{suffix}"


def issue_url(base_url: str, slug: str, run_id: int) -> str:
    """The stable page of one issue (one run) of a list."""
    return f"{list_url(base_url, slug)}/archive/{run_id}"


def feed_url(base_url: str, slug: str) -> str:
    """The Atom feed of the list's issues."""
    return f"{list_url(base_url, slug)}/feed.xml"


def help_url(base_url: str, slug: str) -> str:
    """What the list is and how to leave it (List-Help)."""
    return f"{list_url(base_url, slug)}/help"


def topic_signature(secret: bytes, slug: str, topic: str) -> str:
    """A short signature that opens a topic page of a private archive."""
    message = f"topic:{slug}:{topic}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:16]


def check_topic_signature(secret: bytes, slug: str, topic: str, signature: str) -> bool:
    """Whether ``signature`` opens the topic page of ``slug``/``topic``."""
    return signature.isascii() and hmac.compare_digest(
        topic_signature(secret, slug, topic), signature
    )


def topic_url(base_url: str, secret: bytes, slug: str, topic: str, *, anchor: int = 0) -> str:
    """A list's topic page (target of "N more in Topic"); ``anchor`` jumps to an article."""
    signature = topic_signature(secret, slug, topic)
    fragment = f"#a{anchor}" if anchor else ""
    return f"{list_url(base_url, slug)}/topics/{quote(topic)}?k={signature}{fragment}"
