"""Display names (subscriber names, list names, sender names): one line of printable text."""

from __future__ import annotations

import unicodedata

from subscribers.errors import InvalidPreference

NAME_LIMIT = 200


def clean_name(value: str, *, field: str = "name", limit: int = NAME_LIMIT) -> str:
    """Collapse every run of whitespace (CR, LF and tabs too) to one space and strip the ends;
    refuse other control characters and names longer than ``limit``, naming ``field``.

    Names end up in mail headers, where a line break would inject a header of its own.
    """
    cleaned = " ".join(value.split())
    for char in cleaned:
        if unicodedata.category(char) == "Cc":
            raise InvalidPreference(
                f"{field} must not contain control characters (found U+{ord(char):04X})"
            )
    if len(cleaned) > limit:
        raise InvalidPreference(f"{field} is longer than {limit} characters")
    return cleaned
