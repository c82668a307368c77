"""Ingest into the store: article files, summaries, de-duplication and topic tagging."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from newsletter.config import Settings
from newsletter.content.articlefile import Overrides, decode_text, parse_article_file
from newsletter.content.classifier import read_labelled_csv, train_classifier
from newsletter.content.draft import ArticleDraft
from newsletter.content.sources import load_drafts
from newsletter.content.store import IngestResult, store_drafts
from newsletter.content.summary import summarise
from newsletter.content.tagging import Tagging, topics_from_categories
from newsletter.db import session_scope
from newsletter.errors import IngestError, UnknownTopic
from newsletter.models import Article, ArticleTopic, TopicOrigin
from tests.conftest import FIXTURES, NOW
from tests.helpers import seed_topics

ARTICLES = FIXTURES / "articles"


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    seed_topics(engine, NOW, "world", "europe", "tech", "travel", "transport", "sport", "business")
    yield engine


def store(
    engine: Engine, drafts: list[ArticleDraft], *topics: str, **options: object
) -> IngestResult:
    with session_scope(engine) as session:
        return store_drafts(
            session,
            drafts,
            topics=list(topics),
            now=NOW,
            source="test",
            **options,  # type: ignore[arg-type]
        )


def stored(engine: Engine) -> list[Article]:
    with Session(engine) as session:
        return list(session.exec(select(Article).order_by(Article.id)))  # type: ignore[arg-type]


def tags(engine: Engine) -> list[tuple[int, str, str, float | None]]:
    with Session(engine) as session:
        rows = session.exec(select(ArticleTopic)).all()
    return sorted((r.article_id, r.topic, r.origin, r.confidence) for r in rows)


@pytest.mark.parametrize("name", ["cycle-lanes", "heat-pumps", "library-robots"])
def test_plain_text_articles_are_stored_clean(db: Engine, name: str) -> None:
    expected = json.loads((ARTICLES / f"{name}.json").read_text(encoding="utf-8"))
    drafts = load_drafts(str(ARTICLES / f"{name}.txt"))
    assert store(db, drafts, "world").added == 1
    (article,) = stored(db)
    assert article.title == expected["title"]
    # The standfirst is the summary; without one, the first sentences of the body.
    assert article.summary == (expected["standfirst"] or summarise(article.body_text))
    assert article.body_text.split("\n\n") == expected["paragraphs"]
    assert article.author == expected["author"]
    assert article.published_at == datetime.fromisoformat(expected["published"])
    assert article.fingerprint is not None
    for furniture in ("Leave a Reply", "Required fields", "Skip to", "Subscribe", "Share"):
        assert furniture not in article.body_text


def test_html_page_takes_metadata_and_overrides_win(db: Engine) -> None:
    path = ARTICLES / "harbour-wind-farm.html"
    (page,) = load_drafts(str(path))
    assert page.url and page.url.startswith("https://")
    published = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    overrides = Overrides(url="https://example.org/wind?utm_source=x", published_at=published)
    (draft,) = load_drafts(str(path), overrides=overrides)
    store(db, [draft], "world")
    (article,) = stored(db)
    assert article.url == "https://example.org/wind?utm_source=x"
    assert article.canonical_url == "https://example.org/wind"
    assert article.published_at == published
    assert article.title == page.title
    assert len(article.summary) <= 300 and "<" not in article.summary
    assert "<script" not in article.body_html


def test_markdown_article_with_front_matter_topics(db: Engine) -> None:
    (draft,) = load_drafts(str(ARTICLES / "night-trains.md"))
    store(db, [draft])
    (article,) = stored(db)
    assert article.title and article.body_text
    assert [t[1:3] for t in tags(db)] == [("transport", "feed"), ("travel", "feed")]


def test_summary_without_standfirst_comes_from_the_body_on_a_boundary(db: Engine) -> None:
    body = (
        "<p>"
        + " ".join(["The committee met again on Thursday to discuss the budget."] * 12)
        + "</p>"
    )
    store(db, [ArticleDraft(title="Budget", body_html=body, published_at=NOW)])
    (article,) = stored(db)
    assert 0 < len(article.summary) <= 300
    assert article.summary.endswith(".")
    assert article.body_text.startswith(article.summary)


@pytest.mark.parametrize(
    ("data", "suffix", "reason"),
    [
        ((ARTICLES / "no-article-index.html").read_bytes(), ".html", "no article text"),
        (b"caf\xe9 au lait \x80\x81", ".txt", "undecodable text: not valid utf-8"),
        (b'<meta charset="klingon"><p>x</p>', ".html", "unknown text encoding 'klingon'"),
        (b"Just one short line.", ".txt", "no story"),
        (b"---\ntitle: T\n---\n", ".md", "has no body"),
    ],
)
def test_article_files_without_an_article_are_refused(
    data: bytes, suffix: str, reason: str
) -> None:
    with pytest.raises(IngestError, match=reason) as caught:
        parse_article_file(data, source=f"input{suffix}", suffix=suffix)
    assert caught.value.source == f"input{suffix}"


def test_declared_html_charset_is_honoured() -> None:
    page = (
        '<html><head><meta charset="windows-1252"></head>'
        "<body>Caf\u00e9 \u201cquoted\u201d</body></html>"
    )
    assert "Caf\u00e9 \u201cquoted\u201d" in decode_text(
        page.encode("cp1252"), source="p", html=True
    )
    assert decode_text("\ufeffcaf\u00e9".encode(), source="p") == "caf\u00e9"


def test_guid_canonical_url_and_reingest_are_stored_once(db: Engine) -> None:
    base = ArticleDraft(
        title="One story",
        body_html="<p>Text of the one story.</p>",
        published_at=NOW,
        url="https://news.example.org/one?utm_source=a#top",
        guid="g-1",
    )
    same_url = replace(base, guid="g-2", url="https://news.example.org/one?fbclid=zz")
    same_guid = replace(base, url="https://mirror.example.net/one", title="Other words entirely")
    first = store(db, [base, same_url], "world")
    second = store(db, [same_guid, base], "europe")
    assert (first.added, first.duplicates, second.added, second.duplicates) == (1, 1, 0, 2)
    assert [t[1] for t in tags(db)] == ["europe", "world"]


def test_near_duplicate_story_is_merged_but_a_different_story_is_not(db: Engine) -> None:
    text = (
        "Defence ministers meeting in Brussels on Tuesday agreed to send additional air-defence "
        "systems to Ukraine before the winter, the alliance's secretary general said after the "
        "talks. The package includes two medium-range systems and ammunition for those already "
        "deployed around Kyiv and other cities, which have faced repeated drone and missile "
        "attacks on power stations. Several countries said they would announce their individual "
        "contributions in the coming days, and officials expect deliveries to start next month."
    )
    wire = ArticleDraft(
        title="NATO ministers agree air-defence package for Ukraine",
        body_html=f"<p>{text}</p>",
        published_at=NOW,
        url="https://wire.example.com/a",
    )
    rewritten = ArticleDraft(
        title="Nato ministers agree an air-defence package for Ukraine",
        body_html=f"<p>BRUSSELS (Wire) \u2014 {text} More to follow.</p>",
        published_at=NOW + timedelta(hours=2),
        url="https://daily.example.org/b",
    )
    old = replace(
        rewritten, url="https://daily.example.org/c", published_at=NOW - timedelta(days=9)
    )
    other = ArticleDraft(
        title="NATO ministers disagree on defence spending targets",
        body_html="<p>A separate meeting ended without agreement on spending.</p>",
        published_at=NOW,
        url="https://daily.example.org/d",
    )
    store(db, [wire], "world")
    result = store(db, [rewritten, other], "europe")
    assert (result.added, result.duplicates) == (1, 1)
    assert [(t[0], t[1]) for t in tags(db)] == [(1, "europe"), (1, "world"), (2, "europe")]
    # The same text long after is a new story (a re-run), not a duplicate.
    assert store(db, [old], "europe").added == 1


def test_category_map_is_case_insensitive_and_ignores_unknown_topics(db: Engine) -> None:
    # the setting's validator is where category names are normalised
    settings = Settings.build(
        {"category_map": {"Ukraine": "world", " NATO ": "World", "Cricket": "cricket"}}
    )
    mapping = settings.content.category_map
    assert mapping == {"ukraine": "world", "nato": "world", "cricket": "cricket"}
    known = {"world", "tech", "sport"}
    assert topics_from_categories(["ukraine", "NATO"], mapping, known) == ["world"]
    assert topics_from_categories(["Cricket", "Tech", "Gardening"], mapping, known) == ["tech"]
    draft = ArticleDraft(
        title="Talks",
        body_html="<p>Talks went on.</p>",
        published_at=NOW,
        categories=("UKRAINE", "Gardening"),
    )
    store(db, [draft], "europe", tagging=Tagging(category_map=mapping))
    assert [t[1:3] for t in tags(db)] == [("europe", "feed"), ("world", "category")]


def test_classifier_tags_only_articles_without_topics(db: Engine) -> None:
    texts, labels = read_labelled_csv(ARTICLES / "labelled-topics.csv")
    tagging = Tagging(model=train_classifier(texts, labels), threshold=0.6)
    derby = ArticleDraft(
        title="Striker scores twice as United win the derby",
        body_html="<p>The striker scored twice and the goalkeeper saved a penalty in the "
        "league match.</p>",
        published_at=NOW,
    )
    vague = ArticleDraft(
        title="Lifeboat crew rescues kayakers",
        body_html="<p>Volunteers launched.</p>",
        published_at=NOW,
    )
    tagged = replace(
        derby,
        title="Derby report",
        body_html="<p>Our reporter on the afternoon at the ground.</p>",
        url="https://x.example/derby",
    )
    result = store(db, [derby, vague], tagging=tagging)
    store(db, [tagged], "europe", tagging=tagging)
    assert result.classified == 1
    rows = tags(db)
    assert [(r[0], r[1], r[2]) for r in rows] == [(1, "sport", "classifier"), (3, "europe", "feed")]
    assert rows[0][3] is not None and rows[0][3] >= 0.6


def test_a_bad_draft_stores_nothing(db: Engine) -> None:
    good = ArticleDraft(title="Good", body_html="<p>Fine.</p>", published_at=NOW)
    bad = ArticleDraft(title="Bad", body_html="<p>Fine.</p>", published_at=NOW, topics=("nope",))
    with pytest.raises(UnknownTopic):
        store(db, [good, bad], "world")
    assert stored(db) == []


def test_manual_origin_for_single_article_topics(db: Engine) -> None:
    draft = ArticleDraft(title="Good", body_html="<p>Fine.</p>", published_at=NOW)
    store(db, [draft], "tech", origin=TopicOrigin.MANUAL)
    assert [t[1:3] for t in tags(db)] == [("tech", "manual")]


def test_file_limits(tmp_path: Path) -> None:
    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"a" * (5 * 1024 * 1024 + 1))
    binary = tmp_path / "photo.txt"
    binary.write_bytes(bytes(range(256)) * 10)
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"  \n")
    for path, reason in (
        (huge, "larger than 5 MB"),
        (binary, "binary file"),
        (empty, "empty file"),
    ):
        with pytest.raises(IngestError, match=reason):
            load_drafts(str(path))


GERMAN_SPORT = [
    "Der Stürmer schoss zwei Tore und die Mannschaft gewann das Spiel in der Bundesliga.",
    "Der Torwart hielt einen Elfmeter, und der Verein feierte den Sieg im Pokal.",
    "Nach dem Spiel lobte der Trainer die Abwehr und den Stürmer seiner Mannschaft.",
    "Die Spieler trainierten im Stadion für das Derby am Samstag gegen den Rivalen.",
]
GERMAN_BUSINESS = [
    "Die Bank erhöhte die Zinsen, und die Aktien der Unternehmen fielen an der Börse.",
    "Der Konzern meldete einen höheren Gewinn und mehr Umsatz im dritten Quartal.",
    "Die Inflation stieg, und die Zentralbank warnte vor den Kosten für die Wirtschaft.",
    "Das Unternehmen kündigte an, tausend Stellen zu streichen, um Kosten zu sparen.",
]


def test_the_classifier_tags_only_articles_in_a_language_it_was_trained_on(db: Engine) -> None:
    texts, labels = read_labelled_csv(ARTICLES / "labelled-topics.csv")
    english = Tagging(model=train_classifier(texts, labels), threshold=0.0)
    german = Tagging(
        model=train_classifier(GERMAN_SPORT + GERMAN_BUSINESS, ["sport"] * 4 + ["business"] * 4),
        threshold=0.5,
    )
    assert german.model is not None and german.model.languages == ("de",)
    derby = ArticleDraft(
        title="Stürmer trifft zweimal im Derby",
        body_html="<p>Der Stürmer schoss im Derby zwei Tore, und der Torwart hielt einen "
        "Elfmeter. Die Mannschaft gewann das Spiel vor vollem Stadion.</p>",
        published_at=NOW,
        url="https://x.example/derby",
    )
    cup = ArticleDraft(
        title="Pokalsieg nach Elfmeterschießen",
        body_html="<p>Der Verein gewann das Pokalspiel, nachdem der Torwart im "
        "Elfmeterschießen zweimal hielt. Der Trainer lobte seine Mannschaft.</p>",
        published_at=NOW,
        url="https://x.example/cup",
    )
    # Even at threshold 0, where it would tag every topic, the English model abstains.
    store(db, [derby], tagging=english)
    store(db, [cup], tagging=german)
    assert [a.language for a in stored(db)] == ["de", "de"]
    assert tags(db)[0][:3] == (2, "sport", "classifier")
    assert [r[0] for r in tags(db)] == [2]
