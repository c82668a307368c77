"""Every email the project sends, rendered with realistic content, for client-style checks.

Used by the Chromium layout test, the SpamAssassin test and the caniemail check: each sample
is the HTML a client receives (personal markers filled in) and, for SpamAssassin, the bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime

from jinja2 import Environment

from newsletter.digest.confirmmail import (
    build_confirmation_template,
    personalise_confirmation,
    render_confirmation,
)
from newsletter.digest.links import personal_links
from newsletter.digest.message import Recipient, Sender, build_template, personalise
from newsletter.digest.render import (
    ArticleView,
    DigestView,
    RenderedDigest,
    SectionView,
    fill_markers,
    make_environment,
    render_digest,
    render_web_issue,
    render_welcome,
)
from newsletter.publish.brand import Brand
from newsletter.publish.mailparts import list_headers
from newsletter.publish.notes import note_html

BASE = "https://news.example.org"
SENDER = Sender(
    name="Example Newsroom",
    address="digest@news.example.org",
    reply_to="editor@news.example.org",
    list_id="daily.news.example.org",
    list_name="The Example Daily",
    list_headers=list_headers(base_url=BASE, slug="daily", archive_public=True),
)
NOTE = (
    "Good morning. This week we follow the **energy transition** from three cities, and our "
    "science desk explains *why* the new telescope matters.\n\n"
    "Write back: we read every reply. [About us](https://news.example.org/about)"
)


def article(index: int, topic: str, *, image: bool = False, japanese: bool = False) -> ArticleView:
    if japanese:
        title, summary = (
            "東京の研究者が新しい電池技術を発表しました",
            "新しい電池は従来の二倍の容量を持ち、充電時間も半分になると研究チームは説明しています。",
        )
    else:
        title = f"{topic.title()} story {index}: what changed this week and why it matters"
        summary = (
            "A clear two-sentence summary of the story, long enough to wrap over several lines "
            "on a phone. It names the people involved and what happens next."
        )
    return ArticleView(
        title=title,
        url=f"{BASE}/{topic}/2026/11/25/a-rather-long-article-slug-number-{index}-for-wrapping",
        summary=summary,
        source="Example Wire",
        published="25 Nov 2026",
        image_url=f"https://cdn.example.org/{topic}-{index}.jpg" if image else "",
        lang="ja" if japanese else "",
    )


JAPANESE_SUMMARY = (
    "新しい電池は従来の二倍の容量を持ち、充電時間も半分になると研究チームは説明しています。"
    "量産は来年の春に始まる予定で、価格は現在の製品とほぼ同じになる見込みです。"
    "専門家は、電気自動車の普及に大きく役立つと評価しています。"
)


def japanese_digest() -> DigestView:
    """A 20-article Japanese digest: its parts go base64 (smaller than quoted-printable)."""
    sections = tuple(
        SectionView(
            topic=topic,
            topic_name=name,
            articles=tuple(
                dataclasses.replace(
                    article(i, topic, japanese=True),
                    title=f"{name}：東京の研究者が新しい電池技術を発表しました（第{i + 1}報）",
                    summary=JAPANESE_SUMMARY,
                )
                for i in range(5)
            ),
            url=f"{BASE}/l/daily/topics/{topic}?k=0123456789abcdef",
        )
        for topic, name in (
            ("tech", "技術"),
            ("science", "科学"),
            ("world", "国際"),
            ("arts", "文化"),
        )
    )
    return DigestView(
        list_name="東京デイリー",
        sender_name=SENDER.name,
        sender_address=SENDER.address,
        sections=sections,
        view_url=f"{BASE}/v/13/0123456789abcdef",
        subscribe_url=f"{BASE}/l/daily",
        lang="ja",
    )


def digest(branded: bool) -> DigestView:
    sections = tuple(
        SectionView(
            topic=topic,
            topic_name=topic.title(),
            articles=tuple(
                article(i, topic, image=branded, japanese=branded and topic == "world" and i == 0)
                for i in range(3)
            ),
            url=f"{BASE}/l/daily/topics/{topic}?k=0123456789abcdef",
        )
        for topic in ("technology", "science", "world")
    )
    view = DigestView(
        list_name="The Example Daily",
        sender_name=SENDER.name,
        sender_address=SENDER.address,
        sections=sections,
        view_url=f"{BASE}/v/12/0123456789abcdef",
        subscribe_url=f"{BASE}/l/daily",
    )
    if not branded:
        return view
    return dataclasses.replace(
        view,
        brand=Brand(
            name="The Example Daily",
            accent="#0f766e",
            logo_url="https://cdn.example.org/logo.png",
            footer_text="The Example Daily is written by the Example newsroom.",
            postal_address="Example Newsroom, 1 Example Street, 10115 Exampletown, Germany",
            show_images=True,
        ),
        note_html=note_html(NOTE),
        note_text=NOTE,
        lead=article(99, "lead", image=True),
        archive_url=f"{BASE}/l/daily/archive",
    )


WELCOME = (
    "Thanks for joining **The Example Daily**. Every morning we send the stories of the "
    "topics you chose; reply to this email to reach the editors."
)

PERSONAL_VALUES = {
    "name": "Alice",
    "unsubscribe_url": f"{BASE}/u/" + "A" * 60,
    "preferences_url": f"{BASE}/p/" + "B" * 60,
}


def html_samples() -> Iterator[tuple[str, str]]:
    """(name, HTML as a client shows it) for every template."""
    env = make_environment()
    for name, branded in (("digest", False), ("digest-branded", True)):
        yield name, fill_markers(render_digest(env, digest(branded)).html, PERSONAL_VALUES)
    yield (
        "digest-japanese",
        fill_markers(render_digest(env, japanese_digest()).html, PERSONAL_VALUES),
    )
    confirmation = render_confirmation(
        env,
        list_name="The Example Daily",
        sender_name=SENDER.name,
        sender_address=SENDER.address,
        topics=["Technology", "Science"],
        ttl_hours=48,
    )
    yield (
        "confirm",
        confirmation.html.replace("@@NAME@@", "Alice").replace(
            "@@CONFIRM_URL@@", f"{BASE}/c/" + "C" * 80
        ),
    )
    yield "welcome", fill_markers(welcome(env).html, PERSONAL_VALUES)
    yield "web-issue", render_web_issue(env, digest(True), label="Issue of 25 Nov 2026")


def welcome(env: Environment) -> RenderedDigest:
    """The welcome email of a list with a welcome text."""
    return render_welcome(
        env,
        list_name="The Example Daily",
        sender_name=SENDER.name,
        sender_address=SENDER.address,
        topics=["Technology", "Science"],
        welcome_text=WELCOME,
        welcome_html=note_html(WELCOME),
    )


def messages() -> Iterator[tuple[str, bytes]]:
    """(name, the final bytes one reader gets) for each email sample."""
    env = make_environment()
    links = personal_links(
        base_url=BASE,
        secret=b"k" * 32,
        subscriber_id=7,
        list_id=1,
        mailto_domain="news.example.org",
    )
    for name, branded in (("digest", False), ("digest-branded", True)):
        template = build_template(
            render_digest(env, digest(branded)), SENDER, date=datetime(2026, 11, 25, 7, tzinfo=UTC)
        )
        message_id = f"{name}.7.0123456789abcdef@news.example.org"
        yield (
            name,
            personalise(template, Recipient("alice@example.com", "Alice", links), message_id),
        )
    template = build_template(
        render_digest(env, japanese_digest()), SENDER, date=datetime(2026, 11, 25, 7, tzinfo=UTC)
    )
    yield (
        "digest-japanese",
        personalise(
            template,
            Recipient("hanako@example.com", "山田 花子", links),
            "digest-japanese.7.0123456789abcdef@news.example.org",
        ),
    )
    yield (
        "welcome",
        personalise(
            build_template(welcome(env), SENDER, date=datetime(2026, 11, 25, 7, tzinfo=UTC)),
            Recipient("alice@example.com", "Alice", links),
            "welcome.7.0123456789abcdef@news.example.org",
        ),
    )
    confirmation = build_confirmation_template(
        render_confirmation(
            env,
            list_name="The Example Daily",
            sender_name=SENDER.name,
            sender_address=SENDER.address,
            topics=["Technology", "Science"],
            ttl_hours=48,
        ),
        SENDER,
        date=datetime(2026, 11, 25, 7, tzinfo=UTC),
    )
    yield (
        "confirm",
        personalise_confirmation(
            confirmation,
            email="alice@example.com",
            name="Alice",
            confirm_url=f"{BASE}/c/" + "C" * 80,
            message_id="confirm.7.0123456789abcdef@news.example.org",
        ),
    )
