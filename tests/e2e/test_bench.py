"""``newsletter bench`` end to end on small audiences: its own sink, a given server, DKIM,
a delaying proxy, PostgreSQL with two sender processes, and bad options."""

from __future__ import annotations

import smtplib

import pytest

from newsletter.delivery.dkim import DkimSigner
from newsletter.devtools.bench import run_bench
from newsletter.devtools.bench.network import Sink
from newsletter.errors import ConfigError
from tests.conftest import POSTGRES_URL
from tests.smtpserver import RecordingServer


def test_bench_into_its_own_sink_counts_premailer_calls() -> None:
    result = run_bench(subscribers=400, topics=3, articles=12, concurrency=4, batch_size=100)
    assert result.sent == 400 and result.status == "done"
    # subscribers are spread over the 7 combinations of 3 topics
    assert result.distinct_digests == 7
    assert result.premailer_calls == result.distinct_digests
    assert result.send_rate > 0 and result.peak_rss_mb > 0
    assert "send (wall)" in "".join(result.stages)
    assert result.signed == 0 and result.cpu_per_message_us > 0


def test_bench_against_a_given_server(smtp_server: RecordingServer) -> None:
    result = run_bench(
        subscribers=50, topics=2, articles=6, smtp=f"127.0.0.1:{smtp_server.port}", concurrency=2
    )
    assert result.sent == 50
    assert len({m.rcpt_tos[0] for m in smtp_server.messages}) == 50
    assert result.premailer_calls == result.distinct_digests == 3


def test_bench_signs_through_a_delaying_proxy(smtp_server: RecordingServer) -> None:
    result = run_bench(
        subscribers=60,
        topics=2,
        articles=6,
        smtp=f"127.0.0.1:{smtp_server.port}",
        concurrency=2,
        dkim=True,
        latency_ms=5,
        pipelining="on",
        in_flight=2,
    )
    assert result.sent == 60 and result.signed == 60 and result.signing_rate > 0
    assert "delayproxy +5 ms" in result.sink
    received = smtp_server.messages
    assert len(received) == 60
    assert all(m.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;") for m in received)


def test_bench_verify_checks_every_signature_at_the_sink() -> None:
    result = run_bench(subscribers=80, topics=2, articles=6, concurrency=2, dkim=True, verify=True)
    assert result.sent == 80 and result.signed == 80
    assert "verifying DKIM" in result.sink
    assert (result.verified, result.unverified) == (80, 0)


def test_the_verifying_sink_counts_a_tampered_message_as_failed(rsa_pem: bytes) -> None:
    from tests.dkimkeys import DOMAIN, SELECTOR, dns_record

    signer = DkimSigner(rsa_pem, SELECTOR, DOMAIN)
    message = (
        b"From: Desk <desk@example.org>\r\nTo: ann@example.org\r\nSubject: Today\r\n"
        b"Message-ID: <1@example.org>\r\nDate: Mon, 02 Nov 2026 08:00:00 +0000\r\n\r\n"
        b"Hello Ann.\r\n"
    )
    signed = signer.sign(message)
    tampered = signed.replace(b"Hello Ann.", b"Hello Bob.")
    with Sink(verify=dns_record(rsa_pem)) as sink, smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for data in (signed, tampered):
            smtp.sendmail("desk@example.org", ["ann@example.org"], data)
        smtp.quit()
    assert (sink.verified, sink.unverified) == (1, 1)


@pytest.mark.postgres
def test_bench_on_postgresql_with_two_sender_processes(postgres_template: str) -> None:
    result = run_bench(
        subscribers=300, topics=3, articles=12, concurrency=2, senders=2, database_url=POSTGRES_URL
    )
    assert result.database == "postgresql" and result.senders == 2
    assert result.sent == 300 and result.status == "done"
    assert len([n for n in result.stages if n.startswith("  sender 2:")]) > 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"senders": 0}, "--senders"),
        ({"latency_ms": -1}, "--latency-ms"),
        ({"smtp": "example.com:25"}, "--smtp"),
        ({"database_url": "mysql://x@127.0.0.1/db"}, "--database-url"),
        ({"database_url": "postgresql://nobody@127.0.0.1:1/x"}, "--database-url"),
        ({"pipelining": "sometimes"}, "--pipelining"),
        ({"verify": True}, "--verify"),
        ({"verify": True, "dkim": True, "smtp": "127.0.0.1:2525"}, "--verify"),
    ],
)
def test_bad_options_are_one_clear_error(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run_bench(subscribers=5, topics=1, articles=2, **options)  # type: ignore[arg-type]
