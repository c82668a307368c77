"""DKIM through the full send path, VERP return paths, and ``bounces process`` on real DSNs."""

from __future__ import annotations

import asyncio
import base64
import mailbox
import subprocess
from pathlib import Path

import dkim
import pytest
from sqlmodel import Session, select

from newsletter.db import make_engine
from newsletter.delivery.verp import parse_return_path
from newsletter.errors import ConfigError
from newsletter.models import Delivery, DeliveryStatus
from newsletter.operations import runs
from subscribers.models import Subscriber, SubscriberStatus, Suppression
from tests.cli_helpers import SECRET, cli
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer

SELECTOR = "news2026"
DOMAIN = "news.example.org"


def _openssl(*args: str) -> bytes:
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    _openssl("genrsa", "-out", str(path), "2048")
    return path


def _setup(url: str, addresses: list[str]) -> None:
    engine = make_engine(url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    for address in addresses:
        subscribe(engine, NOW, address, ["tech"], name="Reader")
    engine.dispose()


def test_the_received_bytes_carry_a_valid_signature(
    sqlite_url: str, smtp_server: RecordingServer, key_file: Path
) -> None:
    _setup(sqlite_url, ["a@example.com", "b@example.com"])
    settings = make_settings(
        sqlite_url,
        smtp_server,
        dkim_key_file=key_file,
        dkim_selector=SELECTOR,
        dkim_domain=DOMAIN,
    )
    summary = asyncio.run(runs.send_list(make_runtime(settings), slug="daily"))
    assert summary.report is not None and summary.report.sent == 2
    der = _openssl("rsa", "-in", str(key_file), "-pubout", "-outform", "DER")
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode()
        return record

    for received in smtp_server.messages:
        assert received.data.startswith(b"DKIM-Signature:")
        assert dkim.verify(received.data, dnsfunc=dnsfunc)
        header = received.data.split(b"\r\n\r\n", 1)[0].decode()
        signed = header.split("h=", 1)[1].split(";", 1)[0].replace("\r\n", "").replace(" ", "")
        for name in (
            "from",
            "to",
            "subject",
            "date",
            "message-id",
            "list-id",
            "list-unsubscribe",
            "list-unsubscribe-post",
        ):
            assert name in signed.lower().split(":")


def test_an_ed25519_key_adds_a_second_signature_and_both_verify(
    sqlite_url: str, smtp_server: RecordingServer, key_file: Path, tmp_path: Path
) -> None:
    _setup(sqlite_url, ["a@example.com", "b@example.com"])
    ed_file = tmp_path / "ed25519.pem"
    _openssl("genpkey", "-algorithm", "ed25519", "-out", str(ed_file))
    settings = make_settings(
        sqlite_url,
        smtp_server,
        dkim_key_file=key_file,
        dkim_selector=SELECTOR,
        dkim_domain=DOMAIN,
        dkim_ed25519_key_file=ed_file,
        dkim_ed25519_selector="ed2026",
    )
    summary = asyncio.run(runs.send_list(make_runtime(settings), slug="daily"))
    assert summary.report is not None and summary.report.sent == 2
    rsa_der = _openssl("rsa", "-in", str(key_file), "-pubout", "-outform", "DER")
    ed_der = _openssl("pkey", "-in", str(ed_file), "-pubout", "-outform", "DER")
    records = {
        f"{SELECTOR}._domainkey.{DOMAIN}.".encode(): b"v=DKIM1; k=rsa; p="
        + base64.b64encode(rsa_der),
        # RFC 8463: the record holds the raw 32-byte key (the DER's last 32 bytes)
        f"ed2026._domainkey.{DOMAIN}.".encode(): b"v=DKIM1; k=ed25519; p="
        + base64.b64encode(ed_der[-32:]),
    }

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        return records[name]

    for received in smtp_server.messages:
        signatures = [v for n, v in dkim.rfc822_parse(received.data)[0] if n == b"DKIM-Signature"]
        assert len(signatures) == 2
        assert b"a=ed25519-sha256" in signatures[0] and b"a=rsa-sha256" in signatures[1]
        checker = dkim.DKIM(received.data)
        assert checker.verify(idx=0, dnsfunc=dnsfunc) and checker.verify(idx=1, dnsfunc=dnsfunc)
        tampered = dkim.DKIM(received.data.replace(b"Subject: ", b"Subject: Re: ", 1))
        assert not tampered.verify(idx=0, dnsfunc=dnsfunc)


def test_a_bad_key_is_one_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    settings = make_settings(
        sqlite_url, dkim_key_file=bad, dkim_selector=SELECTOR, dkim_domain=DOMAIN
    )
    with pytest.raises(ConfigError, match="NEWSLETTER_DKIM_KEY_FILE: DKIM key file"):
        make_runtime(settings).signer()


def _dsn(return_path: str, recipient: str, action: str, status: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.com\n"
        f"To: {return_path}\n"
        "Subject: Delivery Status Notification\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nSomething happened.\n\n"
        "--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; {status[0]}50 {status} reason\n\n"
        "--b--\n"
    ).encode()


def test_verp_envelope_and_bounces_process(
    sqlite_url: str, smtp_server: RecordingServer, tmp_path: Path
) -> None:
    addresses = ["hard@example.com", "soft@example.com", "fine@example.com"]
    _setup(sqlite_url, addresses)
    settings = make_settings(
        sqlite_url, smtp_server, bounce_domain="bounces.example.org", secret_key=SECRET
    )
    summary = asyncio.run(runs.send_list(make_runtime(settings), slug="daily"))
    assert summary.report is not None and summary.report.sent == 3
    paths = {m.rcpt_tos[0]: m.mail_from for m in smtp_server.messages}
    with Session(make_engine(sqlite_url)) as session:
        ids = {d.email: d.id for d in session.exec(select(Delivery))}
    for address, return_path in paths.items():
        assert return_path.endswith("@bounces.example.org")
        assert parse_return_path(return_path, secret=SECRET.encode()) == ids[address]

    box = mailbox.Maildir(str(tmp_path / "bounces"), create=True)
    box.add(_dsn(paths["hard@example.com"], "hard@example.com", "failed", "5.1.1"))
    for _ in range(3):
        box.add(_dsn(paths["soft@example.com"], "soft@example.com", "delayed", "4.2.2"))
    box.add(b"From: someone@example.net\nSubject: thanks\n\nnice digest\n")
    result = cli(
        sqlite_url,
        "bounces",
        "process",
        str(tmp_path / "bounces"),
        NEWSLETTER_SOFT_BOUNCE_LIMIT="3",
    )
    assert result.returncode == 0, result.stderr
    assert "5 message(s): 1 hard bounce(s), 3 soft" in result.stdout
    assert "1 suppressed after repeated soft bounces" in result.stdout
    with Session(make_engine(sqlite_url)) as session:
        people = {s.email: s for s in session.exec(select(Subscriber))}
        suppressed = {s.value: s.reason for s in session.exec(select(Suppression))}
        rows = {d.email: d.status for d in session.exec(select(Delivery))}
    assert people["hard@example.com"].status == SubscriberStatus.BOUNCED
    assert rows["hard@example.com"] == DeliveryStatus.BOUNCED
    assert suppressed == {"hard@example.com": "hard-bounce", "soft@example.com": "soft-bounces"}
    assert people["soft@example.com"].soft_bounces == 3
    assert people["fine@example.com"].status == SubscriberStatus.ACTIVE

    wrong = cli(sqlite_url, "bounces", "process", str(tmp_path / "nothing-here"))
    assert wrong.returncode == 1 and "neither a Maildir nor an mbox" in wrong.stderr


def test_a_successful_send_resets_the_soft_bounce_count(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    _setup(sqlite_url, ["soft@example.com"])
    with Session(make_engine(sqlite_url)) as session:
        person = session.exec(select(Subscriber)).one()
        person.soft_bounces = 2
        session.add(person)
        session.commit()
    summary = asyncio.run(
        runs.send_list(make_runtime(make_settings(sqlite_url, smtp_server)), slug="daily")
    )
    assert summary.report is not None and summary.report.sent == 1
    with Session(make_engine(sqlite_url)) as session:
        assert session.exec(select(Subscriber)).one().soft_bounces == 0
