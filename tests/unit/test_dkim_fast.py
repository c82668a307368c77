"""The OpenSSL signing path: byte-identical to dkimpy on any input, signatures kept in order."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from dkim.canonicalization import Relaxed
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.delivery import dkim as dkim_module
from newsletter.delivery.dkim import DkimSigner, crlf, dns_record, header_list, relaxed_body
from newsletter.delivery.signing import SigningPool
from tests.dkimkeys import (
    DOMAIN,
    SELECTOR,
    new_rsa_pem,
    personalised_digests,
    sample_digest,
)


def _dkimpy_sign(message: bytes, pem: bytes) -> bytes:
    headers, _ = dkim.rfc822_parse(message)
    signature: bytes = dkim.sign(
        message,
        SELECTOR.encode(),
        DOMAIN.encode(),
        pem,
        canonicalize=(b"relaxed", b"relaxed"),
        include_headers=header_list([name for name, _ in headers]),
        linesep=b"\r\n",
    )
    return signature


def _same_second(ours: DkimSigner, message: bytes, pem: bytes) -> tuple[bytes, bytes]:
    """Our signature and dkimpy's, made within one second so their t= tags agree."""
    for _ in range(5):
        stamp = int(time.time())
        theirs = _dkimpy_sign(crlf(message), pem)
        if int(time.time()) == stamp:
            return ours.sign(message, timestamp=stamp), theirs + crlf(message)
    raise AssertionError("the clock kept moving")


@pytest.mark.parametrize(
    "message",
    [
        sample_digest(),
        sample_digest("".join(f".line {n} {'é' * (n % 7)}  trailing  \n" for n in range(300))),
        sample_digest("\n\n\n"),
        sample_digest(extra={"Reply-To": "editor@example.org", "Cc": "x@example.net"}),
        b"From: a@example.org\nSubject:  spaced\t out \n\nbody  \t\nlast line without newline",
        b"From: a@example.org\r\n\r\n",
    ],
)
def test_signature_is_byte_identical_to_dkimpys(
    signer: DkimSigner, rsa_pem: bytes, record: bytes, message: bytes
) -> None:
    ours, theirs = _same_second(signer, message, rsa_pem)
    assert ours == theirs
    assert dkim.verify(ours, dnsfunc=lambda name, timeout=5: record)


# Bodies built from the characters canonicalisation cares about, in any mix.
_BODY = st.lists(st.sampled_from([b" ", b"\t", b"\r\n", b"a", b"  ", b"\r", b"\n", b"."])).map(
    b"".join
)


@given(_BODY)
@settings(max_examples=400, deadline=None)
def test_relaxed_body_matches_dkimpy_on_any_input(body: bytes) -> None:
    body = crlf(body) if body else body
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


# -- the cached fast path against dkimpy ----------------------------------------------------
# Messages drawn from small pools of header values and body lines, so that one signer, kept
# across examples, meets the same lines and fields again (cache hits) beside new ones; lone CR
# and LF, mbox "From " lines and folded fields send a message down the plain path.

_WSP = [b" ", b"\t", b"  ", b" \t "]
_HEADER_VALUE = st.lists(
    st.sampled_from([b"a", b"b c", b"x:y", b"\xc3\xa9", b"\r\n ", b"\r\n\t", b"\n ", *_WSP]),
    max_size=6,
).map(b"".join)
_HEADER_NAME = st.sampled_from(
    [b"To", b"Subject", b"Reply-To", b"List-Id", b"list-unsubscribe", b"Feedback-ID", b"X-A"]
)
_LINE = st.lists(
    st.sampled_from([b"a", b"word", b".", b"=20", b"\r", b"\n", b"\xe3\x81\x82", *_WSP]),
    max_size=5,
).map(b"".join)


@st.composite
def _messages(draw: st.DrawFn) -> bytes:
    fields = draw(st.lists(st.tuples(_HEADER_NAME, _HEADER_VALUE), max_size=6))
    fields.insert(draw(st.integers(0, len(fields))), (b"From", b" a@example.org"))
    head = b"".join(name + b":" + value + b"\r\n" for name, value in fields)
    if draw(st.booleans()):
        head = b"From a@example.org Sun Mar  1 09:00:00 2026\r\n" + head
    lines = draw(st.lists(_LINE, max_size=8))
    body = b"".join(line + b"\r\n" for line in lines) + b"\r\n" * draw(st.integers(0, 3))
    tail = draw(st.sampled_from([b"", b"last", b"last  "]))
    return head + b"\r\n" + body + tail


_WARM_PEM = new_rsa_pem()
_WARM = DkimSigner(_WARM_PEM, SELECTOR, DOMAIN)


@given(_messages())
@settings(max_examples=250, deadline=None)
def test_cached_signing_is_byte_identical_to_dkimpy(message: bytes) -> None:
    pem = _WARM_PEM
    try:
        ours, theirs = _same_second(_WARM, message, pem)
    except ValueError:
        # we refuse only what dkimpy cannot parse either
        with pytest.raises(dkim.DKIMException):
            _dkimpy_sign(crlf(message), pem)
        return
    assert ours == theirs


def test_real_digests_sign_as_dkimpy_does(rsa_pem: bytes, record: bytes) -> None:
    signer = DkimSigner(rsa_pem, SELECTOR, DOMAIN)
    for message in personalised_digests(12):
        ours, theirs = _same_second(signer, message, rsa_pem)
        assert ours == theirs
        assert dkim.verify(ours, dnsfunc=lambda name, timeout=5: record)
    assert signer.plain == 0  # every one took the cached path
    signer.sign(b"From: a@example.org\n\nlone LF line ends\n")
    assert signer.plain == 1


def test_caches_stay_bounded_and_correct_when_cleared(
    rsa_pem: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dkim_module, "_LINE_CACHE", 40)
    monkeypatch.setattr(dkim_module, "_FIELD_CACHE", 5)
    monkeypatch.setattr(dkim_module, "_SMALL_CACHE", 1)
    signer = DkimSigner(rsa_pem, SELECTOR, DOMAIN)
    for n, message in enumerate(personalised_digests(6)):
        ours, theirs = _same_second(signer, message, rsa_pem)
        assert ours == theirs
        # a bound is checked before each message is added
        assert len(signer._lines) <= 40 + message.count(b"\r\n"), n  # noqa: SLF001


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_line_endings_match_the_regex_rule(data: bytes) -> None:
    import re

    expected = re.sub(rb"\r\n|\n|\r(?!\n)", b"\r\n", data)
    if not expected.endswith(b"\r\n"):
        expected += b"\r\n"
    assert crlf(data) == expected


async def test_signing_pool_keeps_order_and_counts(tmp_path: Path, rsa_pem: bytes) -> None:
    key_file = tmp_path / "k.pem"
    key_file.write_bytes(rsa_pem)
    pool = SigningPool(key_file, SELECTOR, DOMAIN, threads=2)
    try:
        messages = [sample_digest(f"message {n}\n") for n in range(120)]
        signed = await pool.sign_many(messages)
    finally:
        pool.close()
    assert [s.split(b"\r\n\r\n", 1)[1] for s in signed] == [
        m.split(b"\r\n\r\n", 1)[1] for m in messages
    ]
    assert pool.signed == 120 and pool.seconds > 0


def test_ed25519_is_a_second_signature_never_alone(rsa_pem: bytes, record: bytes) -> None:
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_pem = ed_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="must be RSA"):
        DkimSigner(ed_pem, SELECTOR, DOMAIN)
    both = DkimSigner(rsa_pem, SELECTOR, DOMAIN, ed25519_pem=ed_pem, ed25519_selector="ed")
    signed = both.sign(sample_digest())
    first, second = (h for h in signed.split(b"\r\n\r\n")[0].split(b"\r\nD") if b"KIM-Sig" in h)
    assert b"a=ed25519-sha256" in first and b"s=ed;" in first
    assert b"a=rsa-sha256" in second
    raw = ed_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    records = {
        f"{SELECTOR}._domainkey.{DOMAIN}.".encode(): record,
        f"ed._domainkey.{DOMAIN}.".encode(): b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw),
    }
    checker = dkim.DKIM(signed)  # dkimpy checks Ed25519 (RFC 8463) with PyNaCl
    assert checker.verify(idx=0, dnsfunc=lambda name, timeout=5: records[name])
    assert checker.verify(idx=1, dnsfunc=lambda name, timeout=5: records[name])
    ed_header = [v for n, v in dkim.rfc822_parse(signed)[0] if n == b"DKIM-Signature"][0]
    assert len(base64.b64decode(dkim.util.parse_tag_value(ed_header)[b"b"])) == 64


def test_the_dns_record_publishes_the_public_half(rsa_pem: bytes, record: bytes) -> None:
    assert dns_record(rsa_pem) == record  # tests/dkimkeys.py computes it on its own
    ed_key = ed25519.Ed25519PrivateKey.generate()
    ed_pem = ed_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    raw = ed_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert dns_record(ed_pem) == b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)
    with pytest.raises(ValueError, match="not a PEM private key"):
        dns_record(b"not a key")
