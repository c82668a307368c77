"""The message format over a real send: transfer encoding per part (base64 personalised per
reader), RFC 2369 pages that answer, Gmail's clipping size, List-Id and Message-IDs."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import os
import random
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session, select

from newsletter.content.draft import ArticleDraft
from newsletter.content.store import store_drafts
from newsletter.db import session_scope
from newsletter.digest.message import display_name, list_id_header
from newsletter.models import Delivery, SentArticle
from newsletter.operations import runs
from newsletter.publish.mailparts import HTML_PART_BUDGET, MAX_LIST_ID, list_id_for
from newsletter.runtime import Runtime
from newsletter.sending.kinds import message_id_for
from newsletter.web.app import create_app
from subscribers import lists as list_service
from tests.conftest import make_runtime, make_settings
from tests.dnsstub import DnsStub, opendkim_testmsg, opendkim_verify
from tests.helpers import seed_list, subscribe
from tests.smtpserver import Received, RecordingServer

BASE = "https://news.example.test"
SELECTOR = "fmt2026"
DOMAIN = "news.example.org"
KANA = "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわ"
KANJI = "東京大阪電池技術研究発表新型政府経済市場会社社長選挙議会科学宇宙医療教育環境"


def _openssl(*args: str) -> bytes:
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    _openssl("genrsa", "-out", str(path), "2048")
    return path


def _record(key_file: Path) -> bytes:
    der = _openssl("rsa", "-in", str(key_file), "-pubout", "-outform", "DER")
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def _dns(key_file: Path):  # type: ignore[no-untyped-def]
    record = _record(key_file)

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode()
        return record

    return dnsfunc


def _japanese(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(KANJI if rng.random() < 0.4 else KANA) for _ in range(length))


def _store(runtime: Runtime, drafts: list[ArticleDraft]) -> None:
    with session_scope(runtime.engine) as session:
        store_drafts(session, drafts, topics=[], now=runtime.clock(), source="test")


def _drafts(runtime: Runtime, count: int, topics: list[str], *, japanese: bool) -> None:
    rng = random.Random(count)
    now = runtime.clock()
    drafts = []
    for index in range(count):
        topic = topics[index % len(topics)]
        if japanese:
            title = f"{_japanese(rng, 24)}、第{index}報"
            summary = f"{_japanese(rng, 120)}。{_japanese(rng, 100)}。"
        else:
            words = [rng.choice(("energy", "city", "council", "market", "science", "vote"))]
            title = f"Story {index}: the {words[0]} report nobody expected ({rng.random():.6f})"
            summary = " ".join(
                rng.choice(("The", "council", "said", "prices", "would", "rise", "again"))
                for _ in range(45)
            )
        drafts.append(
            ArticleDraft(
                title=title,
                body_html=f"<p>{summary}</p>",
                published_at=now - timedelta(minutes=10 + index),
                url=f"https://news.example.org/{topic}/{index}-{rng.randrange(10**9)}",
                summary=summary,
                topics=(topic,),
            )
        )
    _store(runtime, drafts)


@dataclass
class Sent:
    runtime: Runtime
    messages: list[Received]


def _send(
    database_url: str,
    smtp: RecordingServer,
    key_file: Path,
    *,
    japanese: bool,
    count: int = 20,
    per_topic: int = 5,
    total: int = 20,
    public: bool = True,
) -> Sent:
    settings_ = make_settings(
        database_url,
        smtp,
        base_url=BASE,
        dkim_key_file=key_file,
        dkim_selector=SELECTOR,
        dkim_domain=DOMAIN,
        max_articles_per_topic=per_topic,
        max_articles_total=total,
    )
    runtime = make_runtime(settings_)
    now = runtime.clock()
    topics = ["tech", "science", "world", "arts"]
    seed_list(runtime.engine, now, topics)
    with session_scope(runtime.engine) as session:
        list_service.update_list(session, slug="daily", archive_public=public)
    subscribe(runtime.engine, now, "hanako@example.com", topics, name="山田 花子")
    subscribe(runtime.engine, now, "bob@example.com", topics, name="Bob O'Brien")
    _drafts(runtime, count, topics, japanese=japanese)
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert summary.report is not None and summary.report.sent == 2
    return Sent(runtime, list(smtp.messages))


def _parts(message: EmailMessage) -> dict[str, EmailMessage]:
    return {
        part.get_content_subtype(): part  # type: ignore[misc]
        for part in message.walk()
        if part.get_content_maintype() == "text"
    }


def _raw_part(data: bytes, subtype: str) -> bytes:
    """The encoded body of the text/``subtype`` part, as it travelled."""
    found = re.search(
        rb"Content-Type: text/" + subtype.encode() + rb"[^\r]*\r\n"
        rb"Content-Transfer-Encoding: [^\r]*\r\n\r\n(.*?)\r\n--",
        data,
        re.DOTALL,
    )
    assert found is not None
    return found.group(1)


def _unsubscribe_url(message: EmailMessage) -> str:
    found = re.search(r"<(https://[^>]+)>", str(message["List-Unsubscribe"]))
    assert found is not None
    return found.group(1)


@pytest.fixture
def japanese(sqlite_url: str, smtp_server: RecordingServer, key_file: Path) -> Iterator[Sent]:
    sent = _send(sqlite_url, smtp_server, key_file, japanese=True)
    yield sent
    sent.runtime.dispose()


def test_a_japanese_digest_is_base64_personalised_and_signed(
    japanese: Sent, key_file: Path
) -> None:
    dnsfunc = _dns(key_file)
    unsubscribe = {}
    for received in japanese.messages:
        message = received.parsed()
        unsubscribe[received.rcpt_tos[0]] = _unsubscribe_url(message)
    for received in japanese.messages:
        data = received.data
        assert dkim.verify(data, dnsfunc=dnsfunc)
        message = received.parsed()
        parts = _parts(message)
        assert parts["html"]["Content-Transfer-Encoding"] == "base64"
        raw = _raw_part(data, "html")
        assert all(len(line) <= 76 for line in raw.split(b"\r\n"))
        html = base64.b64decode(raw.replace(b"\r\n", b""), validate=True).decode("utf-8")
        assert html == parts["html"].get_content()
        assert html.count('class="article-title"') == 20
        own = unsubscribe[received.rcpt_tos[0]]
        other = next(url for rcpt, url in unsubscribe.items() if rcpt != received.rcpt_tos[0])
        assert own in html and other not in html
        text_part = parts["plain"].get_content()
        assert own in text_part and other not in text_part
        name = "山田 花子" if received.rcpt_tos[0] == "hanako@example.com" else "Bob O&#x27;Brien"
        assert f"Hi {name}," in html
        assert max(len(line) for line in data.split(b"\r\n")) <= 998


def test_opendkim_verifies_base64_digests_and_refuses_an_added_list_help(
    japanese: Sent, key_file: Path, tmp_path: Path
) -> None:
    """An independent verifier (Debian's opendkim-testmsg, the key served by a DNS stub)."""
    if opendkim_testmsg() is None:
        if os.environ.get("CI"):
            pytest.fail("opendkim-testmsg is required under CI (make system-deps)")
        pytest.skip("opendkim-testmsg is not installed (apt-get install opendkim-tools)")
    with DnsStub({f"{SELECTOR}._domainkey.{DOMAIN}": _record(key_file)}) as stub:
        for received in japanese.messages:
            result = opendkim_verify(received.data, stub, tmp_path)
            if b"unshare" in result.stderr or b"mount" in result.stderr:
                pytest.skip(
                    f"cannot give opendkim-testmsg a private resolv.conf: {result.stderr!r}"
                )
            assert result.returncode == 0, result.stderr
            tampered = received.data.replace(
                b"\r\nList-Id:", b"\r\nList-Help: <https://evil.example/>\r\nList-Id:", 1
            )
            assert opendkim_verify(tampered, stub, tmp_path).returncode != 0


def test_the_list_pages_named_in_the_headers_answer(japanese: Sent) -> None:
    message = japanese.messages[0].parsed()
    with TestClient(create_app(japanese.runtime)) as client:
        for name in ("List-Help", "List-Subscribe", "List-Archive"):
            value = str(message[name])
            assert value.startswith(f"<{BASE}/l/daily") and value.endswith(">"), value
            response = client.get(value[1:-1].removeprefix(BASE))
            assert response.status_code == 200, (name, value)
    assert message["List-Id"] == "Example Daily <daily.news.example.org>"


def test_a_latin_digest_stays_quoted_printable_and_a_private_archive_is_not_named(
    sqlite_url: str, smtp_server: RecordingServer, key_file: Path
) -> None:
    sent = _send(sqlite_url, smtp_server, key_file, japanese=False, public=False)
    dnsfunc = _dns(key_file)
    for received in sent.messages:
        assert dkim.verify(received.data, dnsfunc=dnsfunc)
        message = received.parsed()
        parts = _parts(message)
        assert {p["Content-Transfer-Encoding"] for p in parts.values()} == {"quoted-printable"}
        assert _unsubscribe_url(message) in parts["html"].get_content()
        assert message["List-Archive"] is None and message["List-Help"] is not None
    with TestClient(create_app(sent.runtime)) as client:  # a private list's pages still answer
        for name in ("List-Help", "List-Subscribe"):
            url = str(sent.messages[0].parsed()[name])[1:-1]
            assert client.get(url.removeprefix(BASE)).status_code == 200, (name, url)
    sent.runtime.dispose()


def test_a_digest_over_gmails_clipping_size_shows_fewer_and_counts_the_rest(
    sqlite_url: str, smtp_server: RecordingServer, key_file: Path
) -> None:
    sent = _send(
        sqlite_url, smtp_server, key_file, japanese=False, count=120, per_topic=30, total=120
    )
    for received in sent.messages:
        message = received.parsed()
        html = _parts(message)["html"].get_content()
        plain = _parts(message)["plain"].get_content()
        assert len(_raw_part(received.data, "html")) <= HTML_PART_BUDGET + 1_000
        shown = len(re.findall(r'class="article-title"', html))
        more = sum(int(n) for n in re.findall(r"(\d+) more in \w+", plain))
        assert 0 < shown < 120 and shown + more == 120, (shown, more)
        assert _unsubscribe_url(message) in html  # the footer survives: nothing clipped
    with Session(sent.runtime.engine) as session:  # all 120 count as offered, for each reader
        assert len(session.exec(select(SentArticle)).all()) == 240
    again = asyncio.run(runs.send_list(sent.runtime, slug="daily"))
    assert again.plan.queued == 0
    sent.runtime.dispose()


# -- List-Id -------------------------------------------------------------------------------


def _parsed_list_id(line: bytes) -> tuple[str, str]:
    """(the name a client shows, the id) of a ``List-Id:`` line, checked as one header."""
    message = email.message_from_bytes(line + b"\r\n", policy=email.policy.default)
    assert list(message.keys()) == ["List-Id"], line
    value = line.decode("ascii").removeprefix("List-Id: ").removesuffix("\r\n")
    # within 78 columns, except a line holding nothing but a long <id>, which cannot be folded
    for physical in line.split(b"\r\n"):
        assert (
            len(physical) <= 78
            or (physical.strip().startswith(b"<") and len(physical) <= 998)
            or (physical.startswith(b"List-Id: <") and len(physical) <= 998)
        ), line
    unfolded = value.replace("\r\n", "")
    assert unfolded.endswith(">") and unfolded.count("<") >= 1
    phrase, ident = unfolded[:-1].rsplit("<", 1)
    phrase = phrase.strip()
    if phrase.startswith("=?"):
        name = str(make_header(decode_header(phrase)))
        assert re.fullmatch(r"(=\?utf-8\?b\?[A-Za-z0-9+/=]+\?=\s?)+", phrase)
    elif phrase.startswith('"'):
        assert phrase.endswith('"') and len(phrase) >= 2
        inner = phrase[1:-1]
        assert not re.search(r'(?<!\\)"', inner.replace("\\\\", ""))
        name = re.sub(r"\\(.)", r"\1", inner)
    else:
        assert re.fullmatch(rf"{ATOM}( {ATOM})*|", phrase)
        name = phrase
    return name, ident


ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
SLUGS = st.text(
    alphabet=st.one_of(st.sampled_from("abcxyz019-_"), st.characters(categories=("Lo", "Ll"))),
    min_size=1,
    max_size=300,
).filter(lambda s: all(ch.isalnum() or ch in "-_" for ch in s))
LIST_NAMES = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs",)), st.sampled_from(':,;<>"\\@()[]. \t=?')
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(name=LIST_NAMES, slug=SLUGS)
def test_list_id_names_one_list_whatever_its_name(name: str, slug: str) -> None:
    list_id = list_id_for(slug, "news.example.org")
    assert len(list_id) <= MAX_LIST_ID and list_id.isascii()
    assert re.fullmatch(r"[a-z0-9_-]+(\.[a-z0-9-]+)+", list_id), list_id
    assert list_id_for(slug, "news.example.org") == list_id  # stable
    line = list_id_header(name, list_id)
    shown, ident = _parsed_list_id(line)
    assert ident == list_id
    assert shown.replace(" ", "") == display_name(name).replace(" ", "")


def test_list_ids_of_different_long_or_foreign_slugs_differ() -> None:
    ids = {list_id_for(slug, "news.example.org") for slug in ("ニュース", "новости", "x" * 300)}
    ids |= {list_id_for("x" * 299 + "y", "news.example.org"), list_id_for("daily", "ex.org")}
    assert len(ids) == 5
    assert list_id_for("Daily", "News.Example.ORG") == "daily.news.example.org"
    assert list_id_for("daily", "straße.de") == "daily.xn--strae-oqa.de"
    long_domain = ".".join(["d" * 60] * 4) + ".org"  # 248 octets
    assert list_id_for("daily", long_domain) == "daily." + ".".join(["d" * 60] * 3) + ".org"
    for bad in ("", "a b.org", "x" * 250):
        with pytest.raises(ValueError):
            list_id_for("daily", bad)


def test_list_id_header_refuses_an_id_that_is_not_a_dot_atom() -> None:
    for bad in ("daily", "a b.org", "a>\r\nBcc: x@y.org", "x" * 256 + ".org"):
        with pytest.raises(ValueError):
            list_id_header("Daily", bad)


# -- Message-IDs ---------------------------------------------------------------------------


def test_message_ids_differ_between_installations_sharing_a_secret() -> None:
    secret = b"s" * 32
    one = message_id_for(7, secret, DOMAIN, "a" * 32)
    assert one == message_id_for(7, secret, DOMAIN, "a" * 32)  # stable for a delivery
    assert one != message_id_for(7, secret, DOMAIN, "b" * 32)
    assert one != message_id_for(8, secret, DOMAIN, "a" * 32)
    assert one.endswith(f"@{DOMAIN}") and one.startswith("nl.7.")
    with pytest.raises(ValueError):
        message_id_for(7, secret, DOMAIN, "")


def _installation(runtime: Runtime) -> str:
    with runtime.engine.connect() as connection:
        return str(connection.execute(text("SELECT token FROM installation")).scalar_one())


def test_each_installation_draws_its_own_token_and_a_resend_keeps_the_message_id(
    sqlite_url: str, tmp_path: Path, smtp_server: RecordingServer, key_file: Path
) -> None:
    from newsletter.db import upgrade

    other = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(other)
    sent = _send(sqlite_url, smtp_server, key_file, japanese=False)
    runtime = sent.runtime
    token = _installation(runtime)
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    other_runtime = make_runtime(make_settings(other))
    assert _installation(other_runtime) != token
    other_runtime.dispose()
    with Session(runtime.engine) as session:
        deliveries = session.exec(select(Delivery)).all()
    seen = {str(m.parsed()["Message-ID"]).strip("<>") for m in sent.messages}
    assert seen == {d.message_id for d in deliveries}
    secret = runtime.settings.links.secret
    for delivery in deliveries:
        assert delivery.id is not None
        assert delivery.message_id == message_id_for(delivery.id, secret, DOMAIN, token)
    runtime.dispose()


def test_a_confirmation_names_the_list_and_its_help_pages_but_no_archive() -> None:
    from datetime import UTC, datetime

    from newsletter.digest.confirmmail import (
        build_confirmation_template,
        personalise_confirmation,
        render_confirmation,
    )
    from newsletter.digest.message import Sender
    from newsletter.digest.render import make_environment
    from newsletter.publish.mailparts import list_headers

    sender = Sender(
        name="東京デイリー編集部",
        address=f"digest@{DOMAIN}",
        reply_to=None,
        list_id=list_id_for("東京", DOMAIN),
        list_name='東京デイリー "Tokyo Daily", <news>',
        list_headers=list_headers(base_url=BASE, slug="東京", archive_public=True),
    )
    rendered = render_confirmation(
        make_environment(),
        list_name=sender.list_name,
        sender_name=sender.name,
        sender_address=sender.address,
        topics=["テクノロジー"],
        ttl_hours=48,
    )
    template = build_confirmation_template(
        rendered, sender, date=datetime(2026, 11, 25, tzinfo=UTC)
    )
    data = personalise_confirmation(
        template,
        email="hanako@example.com",
        name="山田 花子",
        confirm_url=f"{BASE}/c/TOKEN",
        message_id=f"c.1@{DOMAIN}",
    )
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    name, ident = _parsed_list_id(re.search(rb"List-Id: .*?\r\n(?! )", data, re.S).group(0))  # type: ignore[union-attr]
    assert (name, ident) == ('東京デイリー "Tokyo Daily", <news>', "xn--1lqs71d.news.example.org")
    assert message["List-Help"] == f"<{BASE}/l/%E6%9D%B1%E4%BA%AC/help>"
    assert message["List-Subscribe"] == f"<{BASE}/l/%E6%9D%B1%E4%BA%AC>"
    assert message["List-Archive"] is None and message["List-Unsubscribe"] is None
    html = _parts(message)["html"].get_content()
    assert f"{BASE}/c/TOKEN" in html and "山田 花子" in html


def test_a_missing_installation_token_is_drawn_once_and_kept(sqlite_url: str) -> None:
    from newsletter.db import make_engine
    from newsletter.sending.kinds import installation_token

    engine = make_engine(sqlite_url)
    with session_scope(engine) as session:
        first = installation_token(session)
        session.execute(text("DELETE FROM installation"))
    with session_scope(engine) as session:
        drawn = installation_token(session)
    with session_scope(engine) as session:
        assert installation_token(session) == drawn
    assert drawn != first and re.fullmatch(r"[0-9a-f]{32}", drawn)
    engine.dispose()
