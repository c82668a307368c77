"""Message parts the archive adds to a digest (pure): RFC 2369 list headers and per-part encoding.

``newsletter/message.py`` owns MIME building; it calls these two functions:
``list_headers`` for the header block and ``transfer_encoding`` once per body part.
"""

from __future__ import annotations

import functools
from enum import StrEnum

from newsletter.publish.urls import archive_index_url, help_url, list_url


class TransferEncoding(StrEnum):
    """The two encodings a UTF-8 body part may use on a 7-bit safe path."""

    QUOTED_PRINTABLE = "quoted-printable"
    BASE64 = "base64"


# Octets quoted-printable writes as themselves (RFC 2045 6.7): printable ASCII but "=", space, tab.
_QP_LITERAL = bytes(range(33, 127)).replace(b"=", b"") + b" \t"


@functools.lru_cache(maxsize=8)
def encoded_sizes(body: str) -> dict[TransferEncoding, int]:
    """Octets of ``body`` (UTF-8) in each encoding, line breaks included (76-column lines).

    Counted, not encoded (a 50 KB digest in about 0.3 ms; ``quoprimime`` takes 5 ms): every
    other octet becomes ``=XX``, as does a line's trailing space or tab, and a line longer than
    76 gets a soft break ("=" CRLF) every 75. The last result is cached: the renderer's size
    check and the message builder ask about the same HTML."""
    raw = body.replace("\r\n", "\n").encode("utf-8", "surrogatepass")
    qp_size = 0
    lines = raw.split(b"\n")
    for line in lines:
        escaped = len(line.translate(None, _QP_LITERAL))
        if line[-1:] in (b" ", b"\t"):
            escaped += 1
        width = len(line) + 2 * escaped
        qp_size += width + 3 * ((width - 2) // 75 if width > 76 else 0)
    qp_size += 2 * (len(lines) - 1)
    b64 = 4 * -(-len(raw) // 3)
    b64_size = b64 + 2 * -(-b64 // 76)
    return {TransferEncoding.QUOTED_PRINTABLE: qp_size, TransferEncoding.BASE64: b64_size}


def transfer_encoding(body: str) -> TransferEncoding:
    """Quoted-printable unless base64 is smaller (mostly non-Latin text: Japanese, Chinese...)."""
    sizes = encoded_sizes(body)
    if sizes[TransferEncoding.BASE64] < sizes[TransferEncoding.QUOTED_PRINTABLE]:
        return TransferEncoding.BASE64
    return TransferEncoding.QUOTED_PRINTABLE


def list_headers(*, base_url: str, slug: str, archive_public: bool) -> tuple[tuple[str, str], ...]:
    """``List-Help``, ``List-Subscribe`` and (for a public archive) ``List-Archive``, RFC 2369."""
    headers = [
        ("List-Help", f"<{help_url(base_url, slug)}>"),
        ("List-Subscribe", f"<{list_url(base_url, slug)}>"),
    ]
    if archive_public:
        headers.append(("List-Archive", f"<{archive_index_url(base_url, slug)}>"))
    return tuple(headers)


#: Gmail clips a message once its HTML passes about 102 KB and hides what follows, the footer's
#: unsubscribe link included; the budget leaves room for the headers and the text part.
HTML_PART_BUDGET = 90_000


def html_part_octets(html: str) -> int:
    """Octets the HTML part takes on the wire in the encoding ``transfer_encoding`` picks."""
    return min(encoded_sizes(html).values())


def fits_gmail(html: str, budget: int = HTML_PART_BUDGET) -> bool:
    """Whether a rendered digest's HTML part stays under Gmail's clipping size."""
    return html_part_octets(html) <= budget
