"""Message templates: headers, MIME structure, safe per-recipient substitution."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from email.utils import parseaddr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.digest.links import PersonalLinks
from newsletter.digest.message import Recipient, Sender, build_template, personalise
from newsletter.digest.render import make_environment, render_digest
from tests.conftest import NOW
from tests.unit.test_render import sample_digest

SENDER = Sender(
    name="Rédaction Exemple",
    address="digest@news.example.org",
    reply_to="editors@news.example.org",
    list_id="daily.news.example.org",
    list_name="The Example Daily",
)
LINKS = PersonalLinks(
    unsubscribe_url="https://news.example.test/u/dS4xLjEuMA.abc-_DEF",
    unsubscribe_mailto="unsubscribe+dS4xLjEuMA.abc-_DEF@news.example.org",
    preferences_url="https://news.example.test/p/cC4xLjEuMA.xyz",
)
TEMPLATE = build_template(render_digest(make_environment(), sample_digest()), SENDER, date=NOW)


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_headers_and_parts() -> None:
    data = personalise(
        TEMPLATE, Recipient("zoe@example.com", "Zoë O'Brien", LINKS), "m1@news.example.org"
    )
    message = parse(data)
    assert parseaddr(str(message["From"])) == ("Rédaction Exemple", "digest@news.example.org")
    assert parseaddr(str(message["To"])) == ("Zoë O'Brien", "zoe@example.com")
    assert message["Reply-To"] == "editors@news.example.org"
    assert message["Message-ID"] == "<m1@news.example.org>"
    assert message["Date"] == "Wed, 25 Nov 2026 09:00:00 +0000"
    assert message["List-Id"] == "The Example Daily <daily.news.example.org>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(message["List-Unsubscribe"]).replace(" ", "") == (
        f"<{LINKS.unsubscribe_url}>,<mailto:{LINKS.unsubscribe_mailto}>"
    )
    assert message["Precedence"] == "bulk" and message["Auto-Submitted"] == "auto-generated"
    assert message["Subject"].startswith("The Example Daily: Servers add <one-click>")
    text, html = message.get_payload()
    assert "Hi Zoë O'Brien," in text.get_content()
    assert "Hi Zoë O&#x27;Brien," in html.get_content()  # escaped for HTML
    assert f'href="{LINKS.preferences_url}"' in html.get_content()
    assert all(byte < 128 for byte in data)
    assert max(len(line) for line in data.split(b"\r\n")) <= 78


def test_each_recipient_gets_own_values_and_nothing_else_changes() -> None:
    a = personalise(TEMPLATE, Recipient("a@example.com", "A", LINKS), "1@news.example.org")
    b = personalise(TEMPLATE, Recipient("b@example.com", "B", LINKS), "2@news.example.org")
    assert parse(a).get_payload()[0].get_content().replace("Hi A,", "Hi B,") == (
        parse(b).get_payload()[0].get_content()
    )


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        personalise(TEMPLATE, Recipient("a@example.com", "A\r\nBcc: x@evil.test", LINKS), "1@x.org")
    bad_links = PersonalLinks("https://x/u/a>\r\nBcc: e@x", LINKS.unsubscribe_mailto, "https://x/p")
    with pytest.raises(ValueError):
        personalise(TEMPLATE, Recipient("a@example.com", "A", bad_links), "1@x.org")


@settings(max_examples=60, deadline=None)
@given(name=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=60))
def test_any_name_round_trips(name: str) -> None:
    data = personalise(TEMPLATE, Recipient("a@example.com", name, LINKS), "1@news.example.org")
    message = parse(data)
    expected = name or "there"
    assert f"Hi {expected}," in message.get_payload()[0].get_content()
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
