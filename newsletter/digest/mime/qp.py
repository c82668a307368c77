"""Quoted-printable templates whose placeholders can be filled in as bytes, per recipient.

The digest body is encoded once; each `@@NAME@@` placeholder becomes its own physical line
(a soft line break before and after it), so a value encoded by `encode_qp_value` into lines
of at most 75 octets can be dropped in without breaking RFC 2045's 76-octet line limit.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

MAX_LINE = 76  # RFC 2045 6.7 (5), the "=" of a soft line break included
_SOFT_BREAK = "=\r\n"
_HARD_BREAK = "\r\n"
# CRLF and lone LF are line breaks; a lone CR is data and gets encoded as =0D.
_LINE_BREAK = re.compile(r"\r\n|\n")
_PLAIN_VALUE = re.compile(r"[\x21-\x3c\x3e-\x7e]([\x20\x21-\x3c\x3e-\x7e]*[\x21-\x3c\x3e-\x7e])?")
_PLACEHOLDER_NAME = re.compile(r"[A-Za-z0-9_.:-]+")


def _encode_char(char: str, *, trailing: bool) -> str:
    code = ord(char)
    if 33 <= code <= 126 and char != "=":
        return char
    if char in " \t" and not trailing:
        return char
    return "".join(f"={byte:02X}" for byte in char.encode("utf-8"))


def _wrap_line(line: str, *, encode_trailing_space: bool, last_limit: int) -> list[str]:
    """Encode one logical line into physical lines; all but the last end with a soft break.

    The last physical line is at most `last_limit` octets: 76 before a hard line break,
    75 where a soft break will follow it.
    """
    physical: list[str] = []
    current: list[str] = []
    width = 0
    for index, char in enumerate(line):
        is_last = index == len(line) - 1
        token = _encode_char(char, trailing=is_last and encode_trailing_space)
        # Room for the "=" of a soft break, unless this token ends the line for good.
        limit = last_limit if is_last else MAX_LINE - 1
        if width + len(token) > limit:
            physical.append("".join(current) + _SOFT_BREAK)
            current, width = [], 0
        current.append(token)
        width += len(token)
    physical.append("".join(current))
    return physical


def _encode_block(text: str, *, followed_by_soft_break: bool) -> str:
    """Encode text whose last line is followed by a soft break, or by the end of the part."""
    lines = _LINE_BREAK.split(text)
    out: list[str] = []
    for index, line in enumerate(lines):
        if index < len(lines) - 1:
            out.extend(_wrap_line(line, encode_trailing_space=True, last_limit=MAX_LINE))
            out.append(_HARD_BREAK)
        else:
            # Whitespace before a soft break's "=" is not trailing and may stay literal.
            out.extend(
                _wrap_line(
                    line,
                    encode_trailing_space=not followed_by_soft_break,
                    last_limit=MAX_LINE - 1 if followed_by_soft_break else MAX_LINE,
                )
            )
    return "".join(out)


def _placeholder_pattern(placeholders: Collection[str]) -> re.Pattern[str] | None:
    for name in placeholders:
        if not _PLACEHOLDER_NAME.fullmatch(name):
            raise ValueError(f"invalid placeholder name: {name!r}")
    if not placeholders:
        return None
    # Longest first, so that of two names where one is a prefix the whole name wins.
    names = sorted(set(placeholders), key=len, reverse=True)
    return re.compile("@@(" + "|".join(re.escape(name) for name in names) + ")@@")


def encode_qp_template(text: str, placeholders: Collection[str]) -> list[bytes | str]:
    """Encode `text` as quoted-printable (CRLF, UTF-8); placeholders stay as `str` segments."""
    pattern = _placeholder_pattern(placeholders)
    matches = list(pattern.finditer(text)) if pattern else []
    segments: list[bytes | str] = []
    pending = ""  # encoded text not yet emitted, after the last placeholder
    start = 0
    for match in matches:
        piece = _encode_block(text[start : match.start()], followed_by_soft_break=True)
        # Put the placeholder on a physical line of its own, unless it already starts one.
        if piece and not piece.endswith(_HARD_BREAK):
            piece += _SOFT_BREAK
        pending += piece
        if pending:
            segments.append(pending.encode("ascii"))
        segments.append(match.group(1))
        pending = _SOFT_BREAK  # ends the value's last line, which is at most 75 octets
        start = match.end()
    pending += _encode_block(text[start:], followed_by_soft_break=False)
    if pending:
        segments.append(pending.encode("ascii"))
    return segments


def encode_qp_value(value: str) -> bytes:
    """Encode a placeholder value: lines of at most 75 octets, no final line break."""
    if len(value) <= MAX_LINE - 1 and _PLAIN_VALUE.fullmatch(value):
        return value.encode("ascii")  # the common case: a short URL, token or name
    lines = _LINE_BREAK.split(value)
    out: list[str] = []
    for index, line in enumerate(lines):
        is_last = index == len(lines) - 1
        # The last line is followed by the template's soft break: leave room for its "=".
        # Trailing whitespace is encoded even there, so the value is safe on its own.
        out.extend(
            _wrap_line(
                line,
                encode_trailing_space=True,
                last_limit=MAX_LINE - 1 if is_last else MAX_LINE,
            )
        )
        if not is_last:
            out.append(_HARD_BREAK)
    return "".join(out).encode("ascii")


def join_segments(segments: Sequence[bytes | str], values: Mapping[str, bytes]) -> bytes:
    """Fill the placeholders of an encoded template with encoded values."""
    try:
        return b"".join(
            segment if isinstance(segment, bytes) else values[segment] for segment in segments
        )
    except KeyError as exc:
        raise KeyError(f"no value for placeholder {exc.args[0]!r}") from None
