"""SMTP URLs: required STARTTLS, implicit TLS and AUTH against real aiosmtpd servers."""

from __future__ import annotations

import asyncio
import gc
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from newsletter.config import parse_smtp_url
from newsletter.delivery.mailer import Envelope
from newsletter.delivery.replies import ReplyKind
from newsletter.delivery.smtp import SmtpMailer
from newsletter.devtools.capture import free_port
from newsletter.errors import SmtpAuthError, SmtpUnavailable
from tests.smtpserver import RecordingHandler

# aiosmtplib leaves a socket behind when a TLS upgrade or AUTH fails during connect; the leak is
# the library's, not ours, so it is tolerated here and collected before the next test runs.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(autouse=True)
def _collect_leaked_sockets() -> Iterator[None]:
    yield
    gc.collect()


MESSAGE = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    if isinstance(data, LoginPassword) and (data.login, data.password) == (b"user", b"s3cret"):
        return AuthResult(success=True)
    # handled=False makes aiosmtpd answer 535 instead of hanging the client
    return AuthResult(success=False, handled=False)


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[int, RecordingHandler]]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    controller.start()
    yield port, handler
    controller.stop()


async def send_once(mailer: SmtpMailer) -> ReplyKind:
    await mailer.check()
    outcome = await mailer.send(Envelope("a@example.org", "b@example.com", MESSAGE))
    await mailer.close()
    return outcome.kind


def test_required_starttls_with_auth_delivers(
    starttls_server: tuple[int, RecordingHandler], certificate: tuple[Path, Path]
) -> None:
    port, handler = starttls_server
    target = parse_smtp_url(f"smtp+starttls://user:s3cret@127.0.0.1:{port}")
    mailer = SmtpMailer(target, tls_context=client_context(certificate[0]))
    assert asyncio.run(send_once(mailer)) is ReplyKind.SENT
    assert handler.messages[0].data == MESSAGE


def test_wrong_password_is_one_clear_error(
    starttls_server: tuple[int, RecordingHandler], certificate: tuple[Path, Path]
) -> None:
    port, _ = starttls_server
    target = parse_smtp_url(f"smtp+starttls://user:wrong@127.0.0.1:{port}")
    mailer = SmtpMailer(target, tls_context=client_context(certificate[0]), timeout=5)
    with pytest.raises(SmtpAuthError, match="refused our credentials"):
        asyncio.run(mailer.check())


def test_untrusted_certificate_is_refused(starttls_server: tuple[int, RecordingHandler]) -> None:
    port, _ = starttls_server
    target = parse_smtp_url(f"smtp+starttls://user:s3cret@127.0.0.1:{port}")
    mailer = SmtpMailer(target, timeout=5)  # system trust store: our self-signed cert fails
    with pytest.raises((SmtpAuthError, SmtpUnavailable)):
        asyncio.run(mailer.check())


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        target = parse_smtp_url(f"smtps://127.0.0.1:{port}")
        assert target.security == "tls"
        mailer = SmtpMailer(target, tls_context=client_context(cert))
        assert asyncio.run(send_once(mailer)) is ReplyKind.SENT
        assert len(handler.messages) == 1
    finally:
        controller.stop()


def test_unreachable_server() -> None:
    mailer = SmtpMailer(parse_smtp_url(f"smtp://127.0.0.1:{free_port()}"), timeout=3)
    with pytest.raises(SmtpUnavailable, match="cannot reach SMTP server"):
        asyncio.run(mailer.check())
