"""Tests for DKIM signing: verification, tampering, and the exact bytes over real SMTP."""

from __future__ import annotations

import base64
import email.policy
import re
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import aiosmtplib
import dkim
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from newsletter.delivery.dkim import DkimSigner, load_signer

SELECTOR = "news2026"
DOMAIN = "example.org"


def _openssl(*args: str) -> bytes:
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # OpenSSL 3 writes PKCS#8, which both dkimpy and cryptography read.
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    _openssl("genrsa", "-out", str(path), "2048")
    return path


@pytest.fixture(scope="module")
def dns_record(key_file: Path) -> bytes:
    der = _openssl("rsa", "-in", str(key_file), "-pubout", "-outform", "DER")
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


@pytest.fixture(scope="module")
def signer(key_file: Path) -> DkimSigner:
    return load_signer(key_file, SELECTOR, DOMAIN)


def _verify(message: bytes, record: bytes) -> bool:
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode()
        return record

    return bool(dkim.verify(message, dnsfunc=dnsfunc))


def _message(*, extra: dict[str, str] | None = None, body: str = "Hello, café.\n") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Digest <digest@example.org>"
    msg["To"] = "ada@example.net"
    msg["Subject"] = "Your weekly digest: Ünïcode"
    msg["Date"] = format_datetime(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    msg["Message-ID"] = "<abc.123@example.org>"
    msg["List-Id"] = "Weekly digest <weekly.example.org>"
    msg["List-Unsubscribe"] = "<https://example.org/u/TOKEN>, <mailto:unsubscribe+T@example.org>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Feedback-ID"] = "w1:weekly:digest:example"
    msg["Precedence"] = "bulk"
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.set_content(body, cte="quoted-printable")
    return msg.as_bytes(policy=email.policy.SMTP)


def _signed_headers(signed: bytes) -> list[str]:
    header = signed.split(b"\r\n\r\n", 1)[0].decode()
    h_tag = re.search(r"\bh=([^;]+);", header.replace("\r\n", ""))
    assert h_tag is not None
    return [name.strip() for name in h_tag.group(1).split(":")]


def test_signature_verifies(signer: DkimSigner, dns_record: bytes) -> None:
    signed = signer.sign(_message())
    assert signed.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org")
    assert _verify(signed, dns_record)


def test_headers_that_must_not_be_added_are_over_signed(signer: DkimSigner) -> None:
    signed = signer.sign(_message())
    assert _signed_headers(signed) == [
        *("from", "from", "to", "to", "subject", "subject", "date", "date"),
        *("message-id", "message-id", "reply-to", "list-id", "list-id"),
        *("list-unsubscribe", "list-unsubscribe", "list-unsubscribe-post"),
        *("list-unsubscribe-post", "list-help", "list-subscribe", "list-archive"),
        *("feedback-id", "mime-version", "content-type"),
    ]  # reply-to and the List-* pages once though absent: listing them forbids adding one
    with_reply_to = signer.sign(_message(extra={"Reply-To": "editor@example.org"}))
    assert _signed_headers(with_reply_to).count("reply-to") == 2


def test_trace_headers_added_later_do_not_break_it(signer: DkimSigner, dns_record: bytes) -> None:
    signed = signer.sign(_message())
    relayed = b"Received: from relay by mx; Sun, 1 Mar 2026 09:00:01 +0000\r\n" + signed
    relayed = relayed.replace(b"\r\n\r\n", b"\r\nX-Spam-Score: 0.1\r\n\r\n", 1)
    assert _verify(relayed, dns_record)


@pytest.mark.parametrize(
    "added",
    [
        b"Reply-To: someone@example.net",
        b"From: ceo@example.org",
        b"Subject: urgent",
        b"List-Unsubscribe: <https://evil.example/u>",
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        b"List-Id: <other.example.org>",
    ],
)
def test_an_injected_copy_of_an_over_signed_header_breaks_it(
    signer: DkimSigner, dns_record: bytes, added: bytes
) -> None:
    signed = signer.sign(_message())
    for place in (b"\r\n\r\n", b"DKIM-Signature"):
        injected = (
            signed.replace(b"\r\n\r\n", b"\r\n" + added + b"\r\n\r\n", 1)
            if place == b"\r\n\r\n"
            else added + b"\r\n" + signed
        )
        assert not _verify(injected, dns_record), (added, place)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Hello, caf", b"Hallo, caf"),
        (b"Subject: Your weekly", b"Subject: Our weekly"),
        (b"List-Unsubscribe=One-Click", b"List-Unsubscribe=Two-Clicks"),
        (b"w1:weekly:digest", b"w2:weekly:digest"),
    ],
)
def test_tampered_message_fails(
    signer: DkimSigner, dns_record: bytes, old: bytes, new: bytes
) -> None:
    signed = signer.sign(_message())
    assert old in signed
    assert not _verify(signed.replace(old, new, 1), dns_record)


def test_relaxed_canonicalisation_tolerates_rewrapping(
    signer: DkimSigner, dns_record: bytes
) -> None:
    signed = signer.sign(_message())
    rewrapped = signed.replace(b"Subject: Your", b"Subject:   Your", 1)
    assert _verify(rewrapped, dns_record)


def test_lf_line_ends_are_signed_as_crlf(signer: DkimSigner, dns_record: bytes) -> None:
    lf = _message().replace(b"\r\n", b"\n").rstrip(b"\n")
    signed = signer.sign(lf)
    assert b"\n" not in signed.replace(b"\r\n", b"")
    assert signed.endswith(b"\r\n")
    assert _verify(signed, dns_record)


@pytest.mark.parametrize(
    "message",
    [
        b"To: a@example.net\r\nSubject: x\r\n\r\nbody\r\n",
        b"From: a@example.org\r\nFrom: b@example.org\r\n\r\nbody\r\n",
        b"From: a@example.org\r\n\x00bad header\r\n\r\nbody\r\n",
    ],
)
def test_message_without_exactly_one_from_is_refused(signer: DkimSigner, message: bytes) -> None:
    with pytest.raises(ValueError, match="DKIM-sign"):
        signer.sign(message)


def test_load_signer_names_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ValueError, match="nope.pem"):
        load_signer(missing, SELECTOR, DOMAIN)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a key at all",
        b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
    ],
)
def test_load_signer_names_an_unparsable_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pem"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken.pem"):
        load_signer(path, SELECTOR, DOMAIN)


def test_short_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "short.pem"
    _openssl("genrsa", "-out", str(path), "1024")
    with pytest.raises(ValueError, match=r"short\.pem.*1024 bits"):
        load_signer(path, SELECTOR, DOMAIN)


def test_pkcs1_and_crlf_key_files_load(key_file: Path, tmp_path: Path, dns_record: bytes) -> None:
    pkcs1 = _openssl("rsa", "-in", str(key_file), "-traditional")
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    path = tmp_path / "crlf.pem"
    path.write_bytes(pkcs1.replace(b"\n", b"\r\n"))
    signer = load_signer(path, SELECTOR, DOMAIN)
    assert signer.key_bits == 2048
    assert _verify(signer.sign(_message()), dns_record)


@pytest.mark.parametrize(
    ("selector", "domain"), [("", DOMAIN), ("s", "bücher.de"), ("s;x", DOMAIN)]
)
def test_bad_selector_or_domain_is_refused(key_file: Path, selector: str, domain: str) -> None:
    with pytest.raises(ValueError, match="invalid DKIM"):
        DkimSigner(key_file.read_bytes(), selector, domain)


class Recorder:
    """aiosmtpd handler that keeps every envelope it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 2.0.0 OK"


def _free_port() -> int:
    # aiosmtpd's Controller cannot bind port 0, so ask the OS for a free one first.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    handler = Recorder()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


async def test_signed_bytes_survive_smtp(
    signer: DkimSigner, dns_record: bytes, smtp_server: tuple[Recorder, int]
) -> None:
    handler, port = smtp_server
    # A long body with lines starting with dots exercises dot-stuffing on the way.
    body = "".join(f".line {n} {'é' * (n % 7)} trailing space \n" for n in range(400))
    signed = signer.sign(_message(body=body))
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
        errors, _reply = await client.sendmail(
            "bounces+1-abc@example.org", ["ada@example.net"], signed
        )
    assert errors == {}
    (envelope,) = handler.envelopes
    assert envelope.original_content == signed
    assert isinstance(envelope.original_content, bytes)
    assert _verify(envelope.original_content, dns_record)
