"""Property: whatever a feed or page sends, what ``clean_draft`` stores carries no script."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.content.draft import ArticleDraft
from newsletter.content.language import detect_language
from newsletter.content.store import clean_draft
from tests.conftest import NOW
from tests.unit.test_sanitize import _FORBIDDEN_TAGS, _fragments, _tags_of

# The language model loads on first use (about 2 s): not inside a timed example.
detect_language("The language model loads once, before the examples run.")

_URLS = st.sampled_from([None, "https://news.example/a/b?utm_source=x#f", "javascript:alert(1)"])


@settings(max_examples=200)
@given(title=_fragments, body=_fragments, summary=st.none() | _fragments, url=_URLS)
def test_cleaned_articles_never_carry_script(
    title: str, body: str, summary: str | None, url: str | None
) -> None:
    article = clean_draft(
        ArticleDraft(title=title, body_html=body, summary=summary, published_at=None, url=url),
        now=NOW,
    )
    for tag, attrs in _tags_of(article.body_html):
        assert tag not in _FORBIDDEN_TAGS
        assert not any(name.startswith("on") for name, _ in attrs)
    for text in (article.title, article.summary):
        assert not re.search(r"<[A-Za-z/!?][^<>]*>", text)  # plain text: no tag survives
        assert "\n" not in text
    assert len(article.summary) <= 300
    assert article.published_at == NOW
    assert len(article.fingerprint) == 64
