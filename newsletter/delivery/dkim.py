"""DKIM signing of final message bytes (RSA-SHA256, relaxed/relaxed) with dkimpy."""

from __future__ import annotations

import re
from pathlib import Path

import dkim
from dkim.crypto import UnparsableKeyError, parse_pem_private_key

# dkimpy's default list leaves out List-Unsubscribe-Post and Feedback-ID, which Gmail wants
# covered by the signature (one-click unsubscribe), so the list is explicit.
SIGNED_HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Feedback-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
)
MIN_KEY_BITS = 2048  # Google's and Yahoo's bulk-sender rules

# Same rule as aiosmtplib's DATA: lone CR or LF become CRLF. Signing the bytes in the form
# they will travel in keeps "sign exactly what is sent" true.
_LINE_ENDINGS = re.compile(rb"\r\n|\n|\r(?!\n)")
_ASCII_LABELS = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9_-]+)*")

# Measured on the development container (Python 3.11, dkimpy 1.1.8, no `cryptography`, so
# dkimpy's pure-Python RSA): about 8 ms per signature of a 20 KB message with a 2048-bit key,
# three quarters of it the RSA private-key operation (two 1024-bit pow() calls) and most of
# the rest canonicalising the body. It holds the GIL, so one process signs at most about
# 120 messages a second: sign in a process pool if the send rate must go higher.


class DkimSigner:
    """Signs messages for one selector and domain with an RSA private key."""

    def __init__(self, private_key_pem: bytes, selector: str, domain: str) -> None:
        # dkimpy looks for the base64 between "--\n" and "\n--": CRLF files would not parse.
        key = private_key_pem.replace(b"\r\n", b"\n").strip() + b"\n"
        try:
            parsed = parse_pem_private_key(key)
        except (UnparsableKeyError, ValueError, IndexError) as exc:
            raise ValueError(f"not an unencrypted PEM RSA private key: {exc}") from exc
        bits = parsed["modulus"].bit_length()
        if bits < MIN_KEY_BITS:
            raise ValueError(f"DKIM key has {bits} bits; at least {MIN_KEY_BITS} are required")
        for name, value in (("selector", selector), ("domain", domain)):
            # Non-ASCII domains must arrive here already as A-labels (idna).
            if not _ASCII_LABELS.fullmatch(value):
                raise ValueError(f"invalid DKIM {name}: {value!r}")
        self._key = key
        self.selector = selector
        self.domain = domain.lower()
        self.key_bits = bits

    def sign(self, message: bytes) -> bytes:
        """Return the message, line ends made CRLF, with its DKIM-Signature header prepended."""
        message = _LINE_ENDINGS.sub(b"\r\n", message)
        if not message.endswith(b"\r\n"):
            message += b"\r\n"
        try:
            headers, _body = dkim.rfc822_parse(message)
            present = {bytes(name).lower() for name, _value in headers}
            # A name listed in h= but absent is signed as "no such header", so a relay or
            # list server that later adds it (Reply-To, List-Id) breaks the signature.
            include = [n.encode() for n in SIGNED_HEADERS if n.lower().encode() in present]
            signature: bytes = dkim.sign(
                message,
                self.selector.encode("ascii"),
                self.domain.encode("ascii"),
                self._key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=include,
                linesep=b"\r\n",
            )
        except dkim.DKIMException as exc:
            raise ValueError(f"cannot DKIM-sign message: {exc}") from exc
        return signature + message


def load_signer(key_file: Path, selector: str, domain: str) -> DkimSigner:
    """Read a PEM RSA key from `key_file`; a ValueError names the file if that fails."""
    try:
        pem = key_file.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read DKIM key file {key_file}: {exc.strerror}") from exc
    try:
        return DkimSigner(pem, selector, domain)
    except ValueError as exc:
        raise ValueError(f"DKIM key file {key_file}: {exc}") from exc
