"""Base64 body templates whose placeholders are filled in per recipient (pure).

Base64 turns each group of three octets into four characters, so a value of any length moves
every later octet within its group. A template keeps each literal stretch of the body encoded
once for each of the three possible shifts; per recipient only a small window is encoded (the
octets carried over from before, the value, and the one or two octets of the next literal
that complete the last group), then the stretch encoded for the resulting shift follows.

Every piece but the last encodes a multiple of three octets (no ``=`` padding before the end)
and ends its lines with CRLF at most 76 characters apart: RFC 2045 asks only for that bound,
and decoders skip line breaks, so lines may end wherever a piece ends.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from dataclasses import dataclass

LINE = 76  # RFC 2045 6.8: encoded lines of at most 76 characters
_CRLF = b"\r\n"


def encode_lines(data: bytes) -> bytes:
    """``data`` in base64, CRLF after every 76 characters and at the end ("" for no data)."""
    if not data:
        return b""
    encoded = binascii.b2a_base64(data, newline=False)
    if len(encoded) <= LINE:
        return encoded + _CRLF
    return _CRLF.join(encoded[i : i + LINE] for i in range(0, len(encoded), LINE)) + _CRLF


@dataclass(frozen=True)
class Stretch:
    """A literal stretch of the body, encoded for each number of octets carried into it."""

    raw: bytes
    # by carry (0, 1, 2 octets waiting before it): its octets after the 0, 2 or 1 that complete
    # the carried group, up to the last whole group, encoded; then how many octets are left over
    encoded: tuple[bytes, bytes, bytes]
    left: tuple[int, int, int]

    @classmethod
    def of(cls, raw: bytes) -> Stretch:
        """Encode ``raw`` for the three possible carries."""
        encoded: list[bytes] = []
        left: list[int] = []
        for carry in range(3):
            head = min((3 - carry) % 3, len(raw))
            body = raw[head:]
            whole = len(body) - len(body) % 3
            encoded.append(encode_lines(body[:whole]))
            left.append(len(body) - whole)
        return cls(raw, (encoded[0], encoded[1], encoded[2]), (left[0], left[1], left[2]))


@dataclass(frozen=True)
class Base64Body:
    """A body part's content as literal stretches and placeholder names, ready for base64."""

    items: tuple[Stretch | str, ...]

    @classmethod
    def of(cls, segments: list[bytes | str]) -> Base64Body:
        """Build from raw (unencoded) literal octets and placeholder names, in order."""
        return cls(tuple(Stretch.of(s) if isinstance(s, bytes) else s for s in segments))

    def fill(self, values: Mapping[str, bytes]) -> list[bytes]:
        """The encoded part for one recipient's raw values, as pieces to join (no final CRLF)."""
        pieces: list[bytes] = []
        carry = b""
        for item in self.items:
            if isinstance(item, str):
                carry += values[item]
                continue
            waiting = len(carry) % 3
            head = (3 - waiting) % 3
            if head > len(item.raw):  # too short to complete the group: carry it on
                carry += item.raw
                continue
            pieces.append(encode_lines(carry + item.raw[:head]))
            pieces.append(item.encoded[waiting])
            left = item.left[waiting]
            carry = item.raw[len(item.raw) - left :] if left else b""
        pieces.append(encode_lines(carry))
        while pieces and not pieces[-1]:
            pieces.pop()
        if pieces:
            pieces[-1] = pieces[-1][: -len(_CRLF)]
        return pieces
