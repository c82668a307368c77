"""Pure parts of a list's messages: RFC 2369 list headers, the RFC 2919 list identifier,
per-part transfer encoding and Gmail's clipping size.

``newsletter/digest/message.py`` owns MIME building; it calls ``list_headers``/``url_headers`` and
``list_id_for`` for the header block and ``transfer_encoding`` once per body part.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from enum import StrEnum

import idna

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


# A header value that is one URL (or mailto) in angle brackets, as RFC 2369 writes them.
_ANGLE_URL = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>")
_LIST_FIELDS = ("List-Help", "List-Subscribe", "List-Archive", "List-Post", "List-Owner")


def url_headers(headers: Sequence[tuple[str, str]]) -> bytes:
    """RFC 2369 headers, each ``<URL>`` on its own line (a URL is never folded or encoded)."""
    lines = []
    for name, value in headers:
        if name not in _LIST_FIELDS or not _ANGLE_URL.fullmatch(value):
            raise ValueError(f"invalid {name} header value")
        line = f"{name}: {value}"
        if len(line) > 998 - 2:
            raise ValueError(f"{name} URL is too long for a header line")
        lines.append(line.encode("ascii") + b"\r\n")
    return b"".join(lines)


#: RFC 2919: the list identifier is at most 255 octets.
MAX_LIST_ID = 255
#: RFC 5322 dot-atom-text: what a list identifier must be (RFC 2919).
DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[a-z0-9_-]+")


def list_id_for(slug: str, domain: str) -> str:
    """The RFC 2919 list identifier ``label.domain``: ASCII, at most 255 octets, stable.

    A non-ASCII slug becomes its Punycode form (``xn--...``); a label too long for the limit
    is cut and ends with a hash of the whole slug, so two lists never share an id."""
    host = domain.strip().rstrip(".").lower()
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise ValueError(f"list domain {domain!r} is not a valid domain") from exc
    if not DOT_ATOM.fullmatch(host):
        raise ValueError(f"list domain {domain!r} is not a valid domain")
    label = slug.strip().lower()
    if not _LABEL.fullmatch(label):
        punycode = label.encode("punycode").decode("ascii").strip("-")
        label = f"xn--{punycode}" if punycode else "list"
        if not _LABEL.fullmatch(label):
            label = "list-" + hashlib.sha256(slug.encode()).hexdigest()[:16]
    digest = hashlib.sha256(slug.encode()).hexdigest()[:16]
    while len(host) > MAX_LIST_ID - 1 - len(digest) and "." in host:
        host = host.split(".", 1)[1]  # a very long domain: its parent domain names the list
    room = MAX_LIST_ID - len(host) - 1
    if room <= len(digest) + 1:
        raise ValueError(f"list domain {domain!r} is too long for a List-Id")
    if len(label) > room:
        label = f"{label[: room - len(digest) - 1]}-{digest}".lstrip("-") or digest
    return f"{label}.{host}"


#: Gmail clips a message once its HTML passes about 102 KB and hides what follows, the footer's
#: unsubscribe link included; the budget leaves room for the headers and the text part.
HTML_PART_BUDGET = 90_000


def html_part_octets(html: str) -> int:
    """Octets the HTML part takes on the wire in the encoding ``transfer_encoding`` picks."""
    return min(encoded_sizes(html).values())


def fits_gmail(html: str, budget: int = HTML_PART_BUDGET) -> bool:
    """Whether a rendered digest's HTML part stays under Gmail's clipping size."""
    return html_part_octets(html) <= budget
