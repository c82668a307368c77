"""What the DKIM tests of every tier share: a fresh RSA key, its DNS record and a digest-shaped
message with every header the signer treats specially."""

from __future__ import annotations

import base64
import email.policy
from email.message import EmailMessage

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SELECTOR = "fast2026"
DOMAIN = "example.org"


def new_rsa_pem() -> bytes:
    """A new 2048-bit RSA private key, PEM (PKCS#8)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def dns_record(pem: bytes) -> bytes:
    """The ``v=DKIM1`` TXT record publishing the public half of ``pem``."""
    key = serialization.load_pem_private_key(pem, None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def sample_digest(body: str = "Hello, café.\n", *, extra: dict[str, str] | None = None) -> bytes:
    """A digest-shaped message: list headers, a long non-ASCII subject, text and HTML parts."""
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
