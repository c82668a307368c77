"""Incoming bounce and complaint webhooks (Mailgun, SendGrid, Postmark, SES through SNS) and ARF
reports: each authenticated as its provider documents (keys generated here), applied like DSNs,
and refused with a problem document (changing nothing) when the signature is wrong."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.db import session_scope
from newsletter.inbound.apply import process_arf_mailbox
from newsletter.inbound.verify import sns_canonical
from newsletter.models import Delivery
from newsletter.operations import runs
from newsletter.runtime import Runtime
from newsletter.web.app import create_app
from subscribers.models import Subscriber, Suppression
from tests.conftest import FIXTURES, NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer

PROVIDERS = FIXTURES / "providers"
MAILGUN_KEY = "key-mailgun-test-0123456789"
POSTMARK_SECRET = "postmark-hook-secret"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:newsletter-bounces"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
STAMP = str(int(NOW.timestamp()))


@dataclass
class Keys:
    """Keys generated for the test: SendGrid's EC pair and an SNS signing certificate."""

    sendgrid: ec.EllipticCurvePrivateKey
    sendgrid_public: str
    sns: rsa.RSAPrivateKey
    sns_cert: bytes


@pytest.fixture(scope="module")
def keys() -> Keys:
    sendgrid = ec.generate_private_key(ec.SECP256R1())
    public = sendgrid.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sns = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(sns.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=30))
        .sign(sns, hashes.SHA256())
    )
    return Keys(
        sendgrid,
        base64.b64encode(public).decode(),
        sns,
        cert.public_bytes(serialization.Encoding.PEM),
    )


@dataclass
class Env:
    """The app's client, runtime, the Message-IDs each person received, and SNS fetches."""

    client: TestClient
    runtime: Runtime
    sent: dict[str, str]
    fetched: list[str]


@pytest.fixture
def env(sqlite_url: str, smtp_server: RecordingServer, keys: Keys) -> Iterator[Env]:
    runtime = make_runtime(
        make_settings(
            sqlite_url,
            smtp_server,
            mailgun_signing_key=MAILGUN_KEY,
            sendgrid_public_key=keys.sendgrid_public,
            postmark_webhook_secret=POSTMARK_SECRET,
            ses_topic_arns=[TOPIC],
        )
    )
    seed_list(runtime.engine, NOW, ["tech"])
    for person in ("hard", "soft", "angry", "fine"):
        subscribe(runtime.engine, NOW, f"{person}@example.com", ["tech"])
    add_articles(runtime.engine, NOW, [["tech"]])
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert summary.report is not None and summary.report.sent == 4
    with session_scope(runtime.engine) as session:
        sent = {d.email: d.message_id or "" for d in session.exec(select(Delivery))}
    fetched: list[str] = []
    app = create_app(runtime)

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return keys.sns_cert

    app.state.sns_fetch = fetch
    with TestClient(app) as client:
        yield Env(client, runtime, sent, fetched)
    runtime.dispose()


def person(env: Env, email: str) -> Subscriber:
    with session_scope(env.runtime.engine) as session:
        return session.exec(select(Subscriber).where(Subscriber.email == email)).one()


def suppressed(env: Env) -> set[str]:
    with session_scope(env.runtime.engine) as session:
        return {s.value for s in session.exec(select(Suppression))}


def delivery_status(env: Env, email: str) -> str:
    with session_scope(env.runtime.engine) as session:
        return session.exec(select(Delivery.status).where(Delivery.email == email)).one()


def fixture(name: str, **values: str) -> str:
    text = (PROVIDERS / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def mailgun_body(name: str, message_id: str, *, key: str = MAILGUN_KEY, stamp: str = STAMP) -> str:
    payload = json.loads(fixture(name, MESSAGE_ID=message_id.strip("<>"), TIMESTAMP=stamp))
    token = payload["signature"]["token"]
    payload["signature"]["signature"] = hmac.new(
        key.encode(), (stamp + token).encode(), hashlib.sha256
    ).hexdigest()
    return json.dumps(payload)


def assert_refused(response: object, status: int) -> None:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]


def test_mailgun_permanent_failure_and_complaint(env: Env) -> None:
    body = mailgun_body("mailgun-failed-permanent.json", env.sent["hard@example.com"])
    forged = mailgun_body("mailgun-failed-permanent.json", env.sent["hard@example.com"], key="x")
    old = mailgun_body(
        "mailgun-failed-permanent.json", env.sent["hard@example.com"], stamp=str(int(STAMP) - 3600)
    )
    for refused in (forged, old, "not json"):
        assert_refused(
            env.client.post("/hooks/mailgun", content=refused),
            401 if refused != "not json" else 400,
        )
    assert person(env, "hard@example.com").status == "active" and not suppressed(env)
    answer = env.client.post("/hooks/mailgun", content=body)
    assert answer.json() == {"hard": 1, "soft": 0, "complaints": 0, "unmatched": 0, "ignored": 0}
    assert person(env, "hard@example.com").status == "bounced"
    assert delivery_status(env, "hard@example.com") == "bounced"
    assert "hard@example.com" in suppressed(env)
    complaint = mailgun_body("mailgun-complained.json", env.sent["angry@example.com"])
    assert env.client.post("/hooks/mailgun", content=complaint).json()["complaints"] == 1
    assert person(env, "angry@example.com").status == "complained"


def test_sendgrid_signed_events(env: Env, keys: Keys) -> None:
    body = fixture("sendgrid-events.json", MESSAGE_ID=env.sent["hard@example.com"]).encode()
    signature = base64.b64encode(
        keys.sendgrid.sign(STAMP.encode() + body, ec.ECDSA(hashes.SHA256()))
    ).decode()
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": STAMP,
    }
    assert_refused(env.client.post("/hooks/sendgrid", content=body + b" ", headers=headers), 401)
    assert_refused(env.client.post("/hooks/sendgrid", content=body), 401)
    answer = env.client.post("/hooks/sendgrid", content=body, headers=headers).json()
    assert answer == {"hard": 1, "soft": 1, "complaints": 1, "unmatched": 0, "ignored": 0}
    assert person(env, "hard@example.com").status == "bounced"
    assert person(env, "soft@example.com").soft_bounces == 1
    assert person(env, "soft@example.com").status == "active"
    assert person(env, "angry@example.com").status == "complained"
    assert person(env, "fine@example.com").status == "active"


def test_postmark_needs_its_basic_auth(env: Env) -> None:
    body = fixture("postmark-bounce.json")
    assert_refused(env.client.post("/hooks/postmark", content=body), 401)
    wrong = {"Authorization": "Basic " + base64.b64encode(b"postmark:nope").decode()}
    assert_refused(env.client.post("/hooks/postmark", content=body, headers=wrong), 401)
    right = {
        "Authorization": "Basic " + base64.b64encode(f"hook:{POSTMARK_SECRET}".encode()).decode()
    }
    assert env.client.post("/hooks/postmark", content=body, headers=right).json()["hard"] == 1
    assert person(env, "hard@example.com").status == "bounced"
    spam = fixture("postmark-spam.json")
    assert env.client.post("/hooks/postmark", content=spam, headers=right).json()["complaints"] == 1
    assert person(env, "angry@example.com").status == "complained"


def sns(keys: Keys, message: dict[str, object], version: str = "2") -> bytes:
    message = {"SignatureVersion": version, "SigningCertURL": CERT_URL, **message}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signed = keys.sns.sign(sns_canonical(message), padding.PKCS1v15(), algorithm)
    return json.dumps(message | {"Signature": base64.b64encode(signed).decode()}).encode()


def notification(keys: Keys, inner: str, *, version: str = "2", **extra: str) -> bytes:
    return sns(
        keys,
        {
            "Type": "Notification",
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": TOPIC,
            "Message": inner,
            "Timestamp": "2026-11-25T08:00:02.000Z",
        }
        | extra,
        version,
    )


def test_ses_through_sns_verified_with_the_signing_certificate(env: Env, keys: Keys) -> None:
    bounce = fixture("ses-bounce.json", MESSAGE_ID=env.sent["hard@example.com"])
    body = notification(keys, bounce)
    tampered = body.replace(b"Permanent", b"Transient")
    assert_refused(env.client.post("/hooks/ses", content=tampered), 401)
    other_topic = notification(keys, bounce, TopicArn="arn:aws:sns:eu-west-1:999:other")
    assert_refused(env.client.post("/hooks/ses", content=other_topic), 401)
    fake_host = json.loads(body) | {"SigningCertURL": "https://attacker.example/cert.pem"}
    assert_refused(env.client.post("/hooks/ses", content=json.dumps(fake_host)), 401)
    assert person(env, "hard@example.com").status == "active"
    assert env.client.post("/hooks/ses", content=body).json()["hard"] == 1
    assert person(env, "hard@example.com").status == "bounced"
    assert delivery_status(env, "hard@example.com") == "bounced"
    complaint = notification(keys, fixture("ses-complaint.json"), version="1")
    assert env.client.post("/hooks/ses", content=complaint).json()["complaints"] == 1
    assert person(env, "angry@example.com").status == "complained"
    assert set(env.fetched) == {CERT_URL}


def test_sns_subscription_is_confirmed_after_verification(env: Env, keys: Keys) -> None:
    subscribe_url = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=t1"
    body = sns(
        keys,
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "t1",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe to the topic.",
            "SubscribeURL": subscribe_url,
            "Timestamp": "2026-11-25T08:00:00.000Z",
        },
    )
    assert env.client.post("/hooks/ses", content=body).status_code == 200
    assert env.fetched == [CERT_URL, subscribe_url]


def test_unconfigured_or_unknown_providers_are_refused(sqlite_url: str) -> None:
    runtime = make_runtime(make_settings(sqlite_url))
    with TestClient(create_app(runtime)) as client:
        for provider in ("mailgun", "ses", "nosuch"):
            answer = client.post(f"/hooks/{provider}", content=b"{}")
            assert_refused(answer, 404)
            assert "configured" in answer.json()["detail"]
    runtime.dispose()


def test_arf_reports_apply_only_when_they_match_a_delivery(env: Env, tmp_path: Path) -> None:
    box = mailbox.mbox(str(tmp_path / "complaints.mbox"))
    genuine = fixture(
        "arf-abuse.eml", RECIPIENT="angry@example.com", MESSAGE_ID=env.sent["angry@example.com"]
    )
    forged = fixture("arf-abuse.eml", RECIPIENT="fine@example.com", MESSAGE_ID="<made-up@x>")
    wrong_person = fixture(
        "arf-abuse.eml", RECIPIENT="fine@example.com", MESSAGE_ID=env.sent["angry@example.com"]
    )
    for text in (genuine, forged, wrong_person, "Subject: hello\n\nnot a report\n"):
        box.add(text.encode())
    box.flush()
    box.close()
    with session_scope(env.runtime.engine) as session:
        report = process_arf_mailbox(session, tmp_path / "complaints.mbox", now=NOW)
    assert (report.complaints, report.unmatched, report.ignored) == (1, 2, 1)
    assert person(env, "angry@example.com").status == "complained"
    assert person(env, "fine@example.com").status == "active"
    assert "angry@example.com" in suppressed(env)
