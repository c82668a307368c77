"""One-shot console messages carried in a short-lived cookie, never in the URL.

A handler that redirects after a POST puts its message (and, after an error, the fields that were
typed) in the ``nl_flash`` cookie; the next page shows it once and clears it. Nothing taken from a
query string is ever printed, so a crafted link cannot make the console say anything.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

FLASH_COOKIE = "nl_flash"
FLASH_SECONDS = 120
MAX_KEPT_CHARS = 500  # per field: the cookie must stay under the browsers' 4 KB
NEVER_KEPT = frozenset({"csrf", "password", "form_token", "confirm_erase", "secret"})


@dataclass(frozen=True)
class Flash:
    """A message for the next page: ``ok`` or ``error``, with the form fields to show again."""

    text: str
    kind: str = "ok"
    kept: dict[str, str] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        """Whether the message reports a failure."""
        return self.kind == "error"


def encode(flash: Flash) -> str:
    """The cookie value of ``flash`` (secrets and CSRF tokens are never kept)."""
    kept = {
        key: value[:MAX_KEPT_CHARS]
        for key, value in flash.kept.items()
        if key not in NEVER_KEPT and isinstance(value, str)
    }
    raw = json.dumps({"t": flash.text[:600], "k": flash.kind, "f": kept}, ensure_ascii=True)
    return base64.urlsafe_b64encode(raw.encode("ascii")).decode("ascii").rstrip("=")


def decode(value: str) -> Flash | None:
    """The flash in a cookie value, or None when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data: Any = json.loads(raw)
    except (ValueError, binascii.Error):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        return None
    kind = "error" if data.get("k") == "error" else "ok"
    fields = data.get("f")
    kept = (
        {str(k): v for k, v in fields.items() if isinstance(v, str)}
        if isinstance(fields, dict)
        else {}
    )
    return Flash(text=data["t"], kind=kind, kept=kept)


def attach(response: Response, flash: Flash) -> None:
    """Set ``flash`` on a redirect."""
    response.set_cookie(
        FLASH_COOKIE,
        encode(flash),
        max_age=FLASH_SECONDS,
        httponly=True,
        samesite="strict",
        path="/",
    )


def take(request: Request) -> Flash | None:
    """The request's flash, if any (the caller clears the cookie with :func:`clear`)."""
    value = request.cookies.get(FLASH_COOKIE)
    return decode(value) if value else None


def clear(request: Request, response: Response) -> None:
    """Forget a shown flash."""
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/")
