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


def personalised_digests(count: int) -> list[bytes]:
    """Real digest messages as the engine builds them (``message.personalise``), for ``count``
    recipients of two digests: the rendered sample (quoted-printable) and a Japanese one
    (base64), names plain, accented, quoted and long, so personalised lines differ."""
    from datetime import UTC, datetime

    from newsletter.digest.links import PersonalLinks
    from newsletter.digest.message import Recipient, Sender, build_template, personalise
    from newsletter.digest.render import (
        PERSONAL_MARKERS,
        RenderedDigest,
        make_environment,
        render_digest,
    )
    from tests.unit.test_render import sample_digest as sample_view

    sender = Sender(
        name="Rédaction Exemple",
        address=f"digest@{DOMAIN}",
        reply_to=f"editors@{DOMAIN}",
        list_id=f"daily.{DOMAIN}",
        list_name="The Example Daily",
    )
    date = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    name, unsub = PERSONAL_MARKERS["name"], PERSONAL_MARKERS["unsubscribe_url"]
    japanese = RenderedDigest(
        subject="今日のニュース",
        preheader="",
        html=f"<p>{name}さん、こんにちは。</p>\n<p>記事  \t です。</p>\n<a href='{unsub}'>x</a>\n",
        text=f"{name}さん、こんにちは。\n記事  \t です。  \n\n解除: {unsub}\n\n\n",
    )
    templates = [
        build_template(render_digest(make_environment(), sample_view()), sender, date=date),
        build_template(japanese, sender, date=date),
    ]
    names = ["Ada", "", "Zoë  Müller", 'A "quoted", name', "x" * 90, "Ben\tTab"]
    messages: list[bytes] = []
    for n in range(count):
        token = f"t{n:04d}.{'ab' * (n % 5)}"
        links = PersonalLinks(
            unsubscribe_url=f"https://{DOMAIN}/u/{token}",
            unsubscribe_mailto=f"unsubscribe+{token}@{DOMAIN}",
            preferences_url=f"https://{DOMAIN}/p/{token}",
        )
        recipient = Recipient(email=f"r{n}@example.net", name=names[n % len(names)], links=links)
        template = templates[n % len(templates)]
        messages.append(personalise(template, recipient, f"m{n}.{token}@{DOMAIN}"))
    return messages
