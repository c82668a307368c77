"""Authenticate provider webhooks as each provider documents it (pure: bytes and keys in).

- Mailgun: ``signature.signature`` is HMAC-SHA256(signing key, timestamp + token), hex.
- SendGrid (signed event webhook): ECDSA P-256 / SHA-256 over timestamp + raw body, with the
  base64 DER public key from the SendGrid settings; headers
  ``X-Twilio-Email-Event-Webhook-Signature`` and ``-Timestamp``.
- Postmark: no signature; its documentation has the webhook URL carry HTTP basic-auth
  credentials, so the password must match ours.
- Amazon SNS: RSA over the canonical "Key\\nValue\\n" string of the message's fields, SHA1 for
  SignatureVersion 1 and SHA256 for 2, with the certificate at ``SigningCertURL``, which must
  be an https URL on ``sns.REGION.amazonaws.com``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

MAX_AGE_SECONDS = 600
SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
SNS_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}


def _fresh(timestamp: str, now: float) -> bool:
    try:
        return abs(now - float(timestamp)) <= MAX_AGE_SECONDS
    except ValueError:
        return False


def check_mailgun(key: str, signature: dict[str, Any], *, now: float) -> bool:
    """Whether Mailgun's ``signature`` object is genuine and recent."""
    timestamp, token, given = (
        str(signature.get(k, "")) for k in ("timestamp", "token", "signature")
    )
    if not (timestamp and token and given) or not _fresh(timestamp, now):
        return False
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def check_sendgrid(
    public_key: str, signature: str, timestamp: str, body: bytes, *, now: float
) -> bool:
    """Whether SendGrid's ECDSA signature of ``timestamp + body`` is valid and recent."""
    if not _fresh(timestamp, now):
        return False
    try:
        key = serialization.load_der_public_key(base64.b64decode(public_key))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        key.verify(
            base64.b64decode(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def check_basic_auth(secret: str, authorization: str) -> bool:
    """Whether an ``Authorization: Basic`` header carries ``secret`` as its password."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    password = decoded.partition(":")[2]
    return hmac.compare_digest(password.encode(), secret.encode())


def sns_cert_url_ok(url: str) -> bool:
    """Whether a SigningCertURL may be fetched: https on an SNS host, a .pem path."""
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and SNS_HOST.match(parts.hostname or "") is not None
        and parts.path.endswith(".pem")
    )


def sns_canonical(message: dict[str, Any]) -> bytes:
    """The string SNS signs for this message type."""
    fields = SNS_FIELDS.get(str(message.get("Type")), ())
    if not fields:
        raise ValueError(f"unknown SNS message type {message.get('Type')!r}")
    text = "".join(f"{name}\n{message[name]}\n" for name in fields if message.get(name) is not None)
    return text.encode("utf-8")


def check_sns(message: dict[str, Any], certificate_pem: bytes) -> bool:
    """Whether the SNS message is signed by the certificate's key."""
    version = str(message.get("SignatureVersion"))
    algorithm: hashes.HashAlgorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    if version not in ("1", "2"):
        return False
    try:
        key = x509.load_pem_x509_certificate(certificate_pem).public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        key.verify(
            base64.b64decode(str(message.get("Signature", ""))),
            sns_canonical(message),
            padding.PKCS1v15(),
            algorithm,
        )
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
