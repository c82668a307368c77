"""The OpenSSL signing path: byte-identical to dkimpy, verified by dkimpy and by opendkim."""

from __future__ import annotations

import base64
import email.policy
import os
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from dkim.canonicalization import Relaxed
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.delivery.dkim import DkimSigner, crlf, header_list, relaxed_body
from newsletter.delivery.signing import SigningPool
from tests.dnsstub import DnsStub, opendkim_testmsg, opendkim_verify

SELECTOR = "fast2026"
DOMAIN = "example.org"


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def record(rsa_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(rsa_pem, None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


@pytest.fixture(scope="module")
def signer(rsa_pem: bytes) -> DkimSigner:
    return DkimSigner(rsa_pem, SELECTOR, DOMAIN)


def _digest(body: str = "Hello, café.\n", *, extra: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Digest <digest@example.org>"
    msg["To"] = "ada@example.net"
    msg["Subject"] = "Your weekly digest:   Ünïcode and a long subject " + "word " * 20
    msg["Date"] = "Sun, 01 Mar 2026 09:00:00 +0000"
    msg["Message-ID"] = "<nl.1.abc@example.org>"
    msg["List-Id"] = "Weekly <weekly.example.org>"
    msg["List-Unsubscribe"] = "<https://example.org/u/T>, <mailto:unsubscribe+T@example.org>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Feedback-ID"] = "7:weekly:digest:example"
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.set_content(body, cte="quoted-printable")
    msg.add_alternative(
        "<table>\n  <tr>\t<td>  " + body + "  </td></tr>\n</table>\n\n\n", subtype="html"
    )
    return msg.as_bytes(policy=email.policy.SMTP)


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
        _digest(),
        _digest("".join(f".line {n} {'é' * (n % 7)}  trailing  \n" for n in range(300))),
        _digest("\n\n\n"),
        _digest(extra={"Reply-To": "editor@example.org", "Cc": "x@example.net"}),
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
        messages = [_digest(f"message {n}\n") for n in range(120)]
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
    signed = both.sign(_digest())
    first, second = (h for h in signed.split(b"\r\n\r\n")[0].split(b"\r\nD") if b"KIM-Sig" in h)
    assert b"a=ed25519-sha256" in first and b"s=ed;" in first
    assert b"a=rsa-sha256" in second
    # dkimpy verifies the RSA one (index 1); its Ed25519 check needs PyNaCl, not installed.
    assert dkim.DKIM(signed).verify(idx=1, dnsfunc=lambda name, timeout=5: record)
    ed_header = [v for n, v in dkim.rfc822_parse(signed)[0] if n == b"DKIM-Signature"][0]
    assert len(base64.b64decode(dkim.util.parse_tag_value(ed_header)[b"b"])) == 64


# -- an independent verifier ---------------------------------------------------------------


@pytest.fixture
def opendkim(record: bytes, tmp_path: Path) -> Iterator[tuple[DnsStub, Path]]:
    if opendkim_testmsg() is None:
        if os.environ.get("CI"):
            pytest.fail("opendkim-testmsg is required under CI (make system-deps)")
        pytest.skip("opendkim-testmsg is not installed (apt-get install opendkim-tools)")
    with DnsStub({f"{SELECTOR}._domainkey.{DOMAIN}": record}) as stub:
        probe = opendkim_verify(b"From: a@example.org\r\n\r\nx\r\n", stub, tmp_path)
        if b"unshare" in probe.stderr or b"mount" in probe.stderr:
            problem = probe.stderr.decode(errors="replace").strip()
            if os.environ.get("CI"):
                pytest.fail(f"cannot give opendkim-testmsg a private resolv.conf: {problem}")
            pytest.skip(f"cannot give opendkim-testmsg a private resolv.conf: {problem}")
        yield stub, tmp_path


def test_opendkim_verifies_our_signatures(
    signer: DkimSigner, opendkim: tuple[DnsStub, Path]
) -> None:
    stub, workdir = opendkim
    for message in (_digest(), _digest(".dots\n  and  spaces \n" * 200)):
        result = opendkim_verify(signer.sign(message), stub, workdir)
        assert result.returncode == 0, result.stderr
    assert stub.queries and set(stub.queries) == {f"{SELECTOR}._domainkey.{DOMAIN}"}


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (b"Hello, caf", b"Hallo, caf", b"Bad signature"),
        (b"\r\n\r\n", b"\r\nReply-To: thief@example.net\r\n\r\n", b"Bad signature"),
        (b"\r\n\r\n", b"\r\nList-Unsubscribe: <https://evil.example/u>\r\n\r\n", b"Bad sig"),
        (b"\r\n\r\n", b"\r\nList-Unsubscribe-Post: x\r\n\r\n", b"Bad signature"),
        # opendkim refuses a second From outright, before looking at the signature
        (b"\r\n\r\n", b"\r\nFrom: ceo@example.org\r\n\r\n", b"Syntax error"),
    ],
)
def test_opendkim_rejects_tampering_and_injected_headers(
    signer: DkimSigner, opendkim: tuple[DnsStub, Path], old: bytes, new: bytes, error: bytes
) -> None:
    stub, workdir = opendkim
    signed = signer.sign(_digest())
    assert opendkim_verify(signed, stub, workdir).returncode == 0
    result = opendkim_verify(signed.replace(old, new, 1), stub, workdir)
    assert result.returncode != 0
    assert error in result.stderr
