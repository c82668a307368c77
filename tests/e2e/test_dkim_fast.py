"""The OpenSSL signing path: byte-identical to dkimpy, verified by dkimpy and by opendkim."""

from __future__ import annotations

import base64
import email.policy
import os
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from newsletter.delivery.dkim import DkimSigner
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
