"""DKIM signing of final message bytes: dkimpy's canonicalisation, OpenSSL's RSA (and Ed25519).

The signature is byte for byte what ``dkim.sign(..., canonicalize=(b"relaxed", b"relaxed"))``
produces for the same message, header list and second (tests/unit/test_dkim_fast.py and
tests/e2e/test_dkim_fast.py check it, on random messages and on real personalised digests).
Only the private-key operation is done by OpenSSL through ``cryptography``; it releases the GIL.

Most of the rest was the same work done again for every recipient: the body lines and header
fields of one digest are the same for all but a few personalised ones. So the signer keeps the
relaxed form of each body line and header field it has seen (bounded caches), the ``h=``
selection per sequence of header names, and the DKIM-Signature header per second, folded once
with slots for ``bh=`` and ``b=``; per message only new lines, the two SHA-256 and the RSA
operation are computed. Relaxed canonicalisation works line by line (white space never spans
a CRLF), and only the body's end has a rule of its own, applied to the joined result. Anything
unusual (a lone CR or LF, an mbox ``From `` line, a header without a name, no single From)
takes the plain path built from dkimpy's own functions, the reference the tests compare with.

Measured on the 2-core development container (Python 3.11, dkimpy 1.1.8, cryptography 50,
RSA-2048, load 5-9), CPU per message over 2,000 captured bench digests (31 KB, median;
``bench/dkim_sign.py``): dkimpy's ``dkim.sign`` ~8.6 ms (pure-Python RSA); the plain path
715 us; the cached path 413-459 us, of which 300-312 us is the RSA operation.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import dkim
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils
from dkim.canonicalization import (
    CanonicalizationPolicy,
    correct_empty_body,
    strip_trailing_lines,
)

# Listed once more than they occur (RFC 6376 8.15, "over-signing"), absent ones included:
# a copy added later by anyone (an injected Reply-To, a second From) breaks the signature.
OVERSIGNED: tuple[str, ...] = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    # RFC 2369 pages: a second copy pointing elsewhere (a phishing "help" or "subscribe" page)
    # must not verify; List-Archive is absent for a private archive and so stays absent.
    "List-Help",
    "List-Subscribe",
    "List-Archive",
)
# Signed as they occur, and listed once when absent. dkimpy's default list leaves out
# List-Unsubscribe-Post and Feedback-ID, so the list is explicit.
SIGNED: tuple[str, ...] = ("Feedback-ID", "MIME-Version", "Content-Type")
MIN_KEY_BITS = 2048  # Google's and Yahoo's bulk-sender rules

_CANON = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
_HEADER_NAME = b"DKIM-Signature"
# Same rule as aiosmtplib's DATA: lone CR or LF become CRLF. Signing the bytes in the form
# they will travel in keeps "sign exactly what is sent" true.
_LINE_ENDINGS = re.compile(rb"\r\n|\n|\r(?!\n)")
_ASCII_LABELS = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9_-]+)*")
_PKCS1 = padding.PKCS1v15()
_PREHASHED = utils.Prehashed(hashes.SHA256())


def header_list(names: list[bytes]) -> list[bytes]:
    """The ``h=`` list for a message whose header names are ``names``, in order."""
    counts = Counter(name.lower() for name in names)
    listed: list[bytes] = []
    for name in OVERSIGNED:
        key = name.lower().encode()
        listed += [key] * (counts[key] + 1)
    for name in SIGNED:
        key = name.lower().encode()
        listed += [key] * max(1, counts[key])
    return listed


def crlf(message: bytes) -> bytes:
    """The message with every line ending CRLF, ending in one (as it will travel)."""
    crlfs = message.count(b"\r\n")
    # counting is a C loop; the regex costs ~0.3 ms on a 40 KB message that needs no change
    if message.count(b"\n") != crlfs or message.count(b"\r") != crlfs:
        message = _LINE_ENDINGS.sub(b"\r\n", message)
    return message if message.endswith(b"\r\n") else message + b"\r\n"


def _compress(value: bytes) -> bytes:
    """Every run of spaces and tabs as one space: dkimpy's ``compress_whitespace`` at C speed."""
    if b"\t" in value:
        value = value.replace(b"\t", b" ")
    while b"  " in value:
        value = value.replace(b"  ", b" ")
    return value


def relaxed_body(body: bytes) -> bytes:
    """dkimpy's relaxed body canonicalisation (RFC 6376 3.4.4), with bytes.replace for its regexes.

    dkimpy's ``compress_whitespace`` replaces every space by a space, one match object each
    (1.5 ms for a 40 KB digest); collapsing runs by halving them gives the same bytes at C
    speed (tests/unit/test_dkim_fast.py compares the two on arbitrary input).
    """
    # a run of blanks is now one space: drop it before a line end
    body = _compress(body).replace(b" \r\n", b"\r\n")
    return correct_empty_body(strip_trailing_lines(body))


# Each cache is cleared when it passes its bound: a digest's fixed lines come back at once.
_LINE_CACHE = 20_000  # body lines; 2,000 bench digests (31 distinct) left ~6,500
_FIELD_CACHE = 10_000  # header fields
_SMALL_CACHE = 256  # h= selections per header-name sequence; signature headers per second
# A header field: a line and the continuation lines (starting with SP or HT) after it.
_FIELD_SPLIT = re.compile(rb"\r\n(?![ \t])")
_FIELD_NAME = re.compile(rb"([\x21-\x7e]+?):")  # as dkimpy's rfc822_parse
_BH_SLOT = b"\x00" * 44  # base64 of a SHA-256; never in a real value, never white space
_B_SLOT = b"\x01"
_SLOTS = re.compile(rb"(\x00+|\x01+)")


_TemplateKey = tuple[bytes, str, bytes, tuple[bytes, ...]]  # algorithm, selector, t=, h=


class _Unusual(Exception):
    """A line or field the fast path leaves to the plain path (lone CR or LF, no name...)."""


class _BodyLines(dict[bytes, bytes]):
    """Body lines (between CRLFs) and their relaxed forms (RFC 6376 3.4.4)."""

    def __missing__(self, line: bytes) -> bytes:
        if b"\r" in line or b"\n" in line:
            raise _Unusual
        relaxed = _compress(line)
        if relaxed.endswith(b" "):
            relaxed = relaxed[:-1]
        self[line] = relaxed
        return relaxed


class _Fields(dict[bytes, tuple[bytes, bytes]]):
    """Raw header fields (no final CRLF) and their lowered names and relaxed ``name:value``."""

    def __missing__(self, field: bytes) -> tuple[bytes, bytes]:
        match = _FIELD_NAME.match(field)
        if match is None:
            raise _Unusual
        name = match.group(1).lower()
        # dkimpy: unfold, compress white space, strip, CRLF (RFC 6376 3.4.2)
        value = _compress(field[match.end() :].replace(b"\r\n", b"")).strip()
        entry = (name, name + b":" + value + b"\r\n")
        self[field] = entry
        return entry


@dataclass(frozen=True)
class _Selection:
    """For one sequence of header names: the From count, the h= list and the fields it signs."""

    froms: int
    include: tuple[bytes, ...]
    signed: tuple[int, ...]  # indices of the header fields hashed, in h= order

    @classmethod
    def of(cls, names: tuple[bytes, ...]) -> _Selection:
        """dkimpy's select_headers on the lowered names (last occurrence first)."""
        include = tuple(header_list(list(names)))
        chosen = dkim.select_headers([(name, i) for i, name in enumerate(names)], include)
        return cls(names.count(b"from"), include, tuple(i for _name, i in chosen))


@dataclass(frozen=True)
class _Prepared:
    """A message ready to sign: its final bytes, h= list, hashed header bytes and bh= value."""

    message: bytes
    include: tuple[bytes, ...]
    headers: bytes  # the selected fields, relaxed, as dkimpy's hash_headers feeds them
    body_hash: bytes


@dataclass(frozen=True)
class _SignatureTemplate:
    """A DKIM-Signature header for one algorithm, selector, second and h= list, with slots.

    dkimpy's ``fold`` breaks lines by length and spaces alone, so a value of the same length
    without spaces (base64) folds at the same places: the header is folded once with slot
    bytes standing in for bh= and b=, and each message's values are poured into the slots.
    """

    hashed: bytes | None  # the canonical header hashed after the fields, bh= as _BH_SLOT
    pieces: tuple[bytes, ...]  # the folded header, split into literals and slot runs


def _load_key(pem: bytes) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError as exc:  # "password was not given but private key is encrypted"
        raise ValueError(f"the key is encrypted: {exc}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"not a PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"a {type(key).__name__} cannot sign DKIM (RSA or Ed25519 only)")
    return key


def new_private_key(algorithm: str = "rsa", *, bits: int = 2048) -> bytes:
    """A fresh DKIM private key as unencrypted PKCS#8 PEM: RSA of ``bits`` bits, or Ed25519."""
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "rsa":
        if bits < MIN_KEY_BITS:
            raise ValueError(f"an RSA DKIM key needs at least {MIN_KEY_BITS} bits, not {bits}")
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        raise ValueError(f"unknown DKIM key algorithm {algorithm!r} (rsa or ed25519)")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def dns_record(private_key_pem: bytes) -> bytes:
    """The TXT record to publish at ``SELECTOR._domainkey.DOMAIN`` for this private key: the
    RSA key's SubjectPublicKeyInfo, or an Ed25519 key's raw 32 bytes (RFC 8463)."""
    key = _load_key(private_key_pem)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


class DkimSigner:
    """Signs messages for one selector and domain with an RSA key, plus an optional Ed25519 one."""

    def __init__(
        self,
        private_key_pem: bytes,
        selector: str,
        domain: str,
        *,
        ed25519_pem: bytes | None = None,
        ed25519_selector: str | None = None,
    ) -> None:
        key = _load_key(private_key_pem)
        if not isinstance(key, rsa.RSAPrivateKey):
            # Some verifiers (Perl Mail::DKIM) reject Ed25519: never sign with it alone.
            raise ValueError("the main DKIM key must be RSA (Ed25519 only as a second key)")
        bits = key.key_size
        if bits < MIN_KEY_BITS:
            raise ValueError(f"DKIM key has {bits} bits; at least {MIN_KEY_BITS} are required")
        for name, value in (("selector", selector), ("domain", domain)):
            # Non-ASCII domains must arrive here already as A-labels (idna).
            if not _ASCII_LABELS.fullmatch(value):
                raise ValueError(f"invalid DKIM {name}: {value!r}")
        self._key = key  # parsed once: OpenSSL keeps the CRT parameters ready
        self._ed25519: ed25519.Ed25519PrivateKey | None = None
        self.ed25519_selector: str | None = None
        if ed25519_pem is not None:
            second = _load_key(ed25519_pem)
            if not isinstance(second, ed25519.Ed25519PrivateKey):
                raise ValueError("the second DKIM key must be Ed25519")
            if not ed25519_selector or not _ASCII_LABELS.fullmatch(ed25519_selector):
                raise ValueError(f"invalid Ed25519 DKIM selector: {ed25519_selector!r}")
            self._ed25519 = second
            self.ed25519_selector = ed25519_selector
        self.selector = selector
        self.domain = domain.lower()
        self.key_bits = bits

        self.plain = 0  # messages signed on the plain path (a lone CR or LF, an mbox line...)
        self._lines = _BodyLines()
        self._fields = _Fields()
        self._selections: dict[tuple[bytes, ...], _Selection] = {}
        self._templates: dict[_TemplateKey, _SignatureTemplate] = {}

    def sign(self, message: bytes, *, timestamp: int | None = None) -> bytes:
        """Return the message, line ends made CRLF, with its DKIM-Signature header(s) prepended."""
        prepared = self._prepare(message)
        if prepared is None:
            self.plain += 1
            prepared = self._prepare_plainly(message)
        stamp = str(int(time.time()) if timestamp is None else timestamp).encode("ascii")
        signature = self._signature(b"rsa-sha256", self.selector, prepared, stamp)
        if self._ed25519 is not None and self.ed25519_selector is not None:
            second = self._signature(b"ed25519-sha256", self.ed25519_selector, prepared, stamp)
            return second + signature + prepared.message
        return signature + prepared.message

    def _prepare(self, message: bytes) -> _Prepared | None:
        """The fast path through the caches, or None for anything unusual (plain path)."""
        split = message.find(b"\r\n\r\n")
        if split <= 0 or not message.endswith(b"\r\n") or message[0] in b" \t":
            return None
        head = message[:split]
        lfs = head.count(b"\n")
        if head.count(b"\r") != lfs or head.count(b"\r\n") != lfs:
            return None  # a lone CR or LF among the headers
        if len(self._fields) > _FIELD_CACHE:
            self._fields.clear()
        if len(self._lines) > _LINE_CACHE:
            self._lines.clear()
        try:
            fields = list(map(self._fields.__getitem__, _FIELD_SPLIT.split(head)))
            # message ends in CRLF, so the last line is empty
            lines = list(map(self._lines.__getitem__, message[split + 4 :].split(b"\r\n")))
        except _Unusual:
            return None
        names = tuple([name for name, _value in fields])
        selection = self._selections.get(names)
        if selection is None:
            if len(self._selections) > _SMALL_CACHE:
                self._selections.clear()
            selection = self._selections[names] = _Selection.of(names)
        if selection.froms != 1:
            return None  # the plain path says what is wrong
        body = correct_empty_body(strip_trailing_lines(b"\r\n".join(lines)))
        return _Prepared(
            message,
            selection.include,
            b"".join([fields[i][1] for i in selection.signed]),
            base64.b64encode(hashlib.sha256(body).digest()),
        )

    @staticmethod
    def _prepare_plainly(message: bytes) -> _Prepared:
        """dkimpy's parsing, canonicalisation and header selection: any message, slowly."""
        message = crlf(message)
        split = message.find(b"\r\n\r\n")
        head, body = (message, b"") if split < 0 else (message[: split + 2], message[split + 4 :])
        try:
            headers, _ = dkim.rfc822_parse(head + b"\r\n")
        except dkim.DKIMException as exc:
            raise ValueError(f"cannot DKIM-sign message: {exc}") from exc
        froms = sum(1 for name, _value in headers if name.lower() == b"from")
        if froms != 1:
            raise ValueError(f"cannot DKIM-sign message: it has {froms} From headers, not 1")
        include = header_list([name for name, _value in headers])
        signed = dkim.select_headers(_CANON.canonicalize_headers(headers), include)
        return _Prepared(
            message,
            tuple(include),
            b"".join([name + b":" + value for name, value in signed]),
            base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()),
        )

    def _signature(
        self, algorithm: bytes, selector: str, prepared: _Prepared, stamp: bytes
    ) -> bytes:
        """One DKIM-Signature header line, as dkimpy's DKIM.sign and gen_header make it."""
        key = (algorithm, selector, stamp, prepared.include)
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) > _SMALL_CACHE:
                self._templates.clear()
            template = self._templates[key] = self._template(*key)
        hasher = hashlib.sha256(prepared.headers)
        if template.hashed is not None:
            hasher.update(template.hashed.replace(_BH_SLOT, prepared.body_hash))
        else:
            hasher.update(self._hashed_header(algorithm, selector, stamp, prepared))
        if algorithm == b"ed25519-sha256" and self._ed25519 is not None:
            raw = self._ed25519.sign(hasher.digest())  # RFC 8463: Ed25519 over the SHA-256
        else:
            raw = self._key.sign(hasher.digest(), _PKCS1, _PREHASHED)
        values = (prepared.body_hash, base64.b64encode(raw))
        out: list[bytes] = []
        taken = [0, 0]
        for piece in template.pieces:
            slot = piece[:1]
            if slot == _BH_SLOT[:1] or slot == _B_SLOT:
                which = 0 if slot == _BH_SLOT[:1] else 1
                out.append(values[which][taken[which] : taken[which] + len(piece)])
                taken[which] += len(piece)
            else:
                out.append(piece)
        return b"".join(out)

    def _fields_of(
        self, algorithm: bytes, selector: str, stamp: bytes, include: tuple[bytes, ...]
    ) -> list[tuple[bytes, bytes]]:
        domain = self.domain.encode("ascii")
        return [
            (b"v", b"1"),
            (b"a", algorithm),
            (b"c", b"relaxed/relaxed"),
            (b"d", domain),
            (b"i", b"@" + domain),
            (b"q", b"dns/txt"),
            (b"s", selector.encode("ascii")),
            (b"t", stamp),
            (b"h", b" : ".join(include)),
        ]

    def _hashed_header(
        self, algorithm: bytes, selector: str, stamp: bytes, prepared: _Prepared
    ) -> bytes:
        """The DKIM-Signature header as hashed, b= empty: dkimpy's gen_header and hash_headers."""
        fields = self._fields_of(algorithm, selector, stamp, prepared.include)
        # Folds b= onto its own line, so the real value does not move the other tags.
        fields += [(b"bh", prepared.body_hash), (b"b", b"0" * 60)]
        value = dkim.fold(b"; ".join(b"=".join(x) for x in fields), namelen=len(_HEADER_NAME))
        value = dkim.RE_BTAG.sub(b"\\1", value)
        canonical = _CANON.canonicalize_headers(
            [(_HEADER_NAME, dkim.RE_BTAG.sub(b"\\1", b" " + value))]
        )
        # the signature header is hashed without its CRLF (dkimpy's hash_headers)
        return b"".join([name + b":" + value.rstrip() for name, value in canonical])

    def _template(
        self, algorithm: bytes, selector: str, stamp: bytes, include: tuple[bytes, ...]
    ) -> _SignatureTemplate:
        slotted = _Prepared(b"", include, b"", _BH_SLOT)
        hashed: bytes | None = self._hashed_header(algorithm, selector, stamp, slotted)
        if hashed is not None and hashed.count(_BH_SLOT) != 1:
            hashed = None  # folded inside bh=: hash each message's header as it comes
        size = 64 if algorithm == b"ed25519-sha256" else (self.key_bits + 7) // 8
        fields = self._fields_of(algorithm, selector, stamp, include)
        fields += [(b"bh", _BH_SLOT), (b"b", _B_SLOT * (4 * ((size + 2) // 3)))]
        value = b"; ".join(b"=".join(x) for x in fields) + b"\r\n"
        folded = _HEADER_NAME + b": " + dkim.fold(value, namelen=len(_HEADER_NAME))
        return _SignatureTemplate(hashed, tuple(p for p in _SLOTS.split(folded) if p))


def load_signer(
    key_file: Path,
    selector: str,
    domain: str,
    *,
    ed25519_key_file: Path | None = None,
    ed25519_selector: str | None = None,
) -> DkimSigner:
    """Read a PEM RSA key (and an optional Ed25519 one); a ValueError names the bad file."""
    pems: list[bytes] = []
    for path in (key_file, ed25519_key_file):
        if path is None:
            continue
        try:
            pems.append(path.read_bytes())
        except OSError as exc:
            raise ValueError(f"cannot read DKIM key file {path}: {exc.strerror}") from exc
    try:
        return DkimSigner(
            pems[0],
            selector,
            domain,
            ed25519_pem=pems[1] if len(pems) > 1 else None,
            ed25519_selector=ed25519_selector,
        )
    except ValueError as exc:
        raise ValueError(f"DKIM key file {key_file}: {exc}") from exc
