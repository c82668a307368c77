"""Choose each subscriber's articles: new, in their topics, never repeated, capped (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Candidate:
    """What the selector needs to know of one article."""

    id: int
    topics: frozenset[str]
    published_at: datetime
    pinned: bool = False


@dataclass(frozen=True)
class Limits:
    """Caps on a digest's size."""

    per_topic: int = 5
    total: int = 20


@dataclass(frozen=True)
class Selection:
    """One subscriber's digest: sections of article ids, one section per topic."""

    sections: tuple[tuple[str, tuple[int, ...]], ...]

    @property
    def article_ids(self) -> tuple[int, ...]:
        """Every article id in the digest, in order."""
        return tuple(article for _, ids in self.sections for article in ids)

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to send."""
        return not self.sections

    @property
    def content_key(self) -> str:
        """A stable key: two subscribers with the same key get the same digest content."""
        text = ";".join(f"{topic}:{','.join(map(str, ids))}" for topic, ids in self.sections)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def order_candidates(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Pinned first, then newest first, ties broken by id for a stable order."""
    return sorted(candidates, key=lambda c: (not c.pinned, -c.published_at.timestamp(), -c.id))


def select_articles(
    ordered: Sequence[Candidate],
    *,
    topics: Sequence[str],
    since: datetime | None,
    already_sent: Collection[int],
    limits: Limits,
) -> Selection:
    """Pick the digest for one subscriber from candidates already in ``order_candidates`` order.

    An article with several of the subscriber's topics appears once, in the first of their
    topics (in the order given) whose section still has room.
    """
    sections: dict[str, list[int]] = {topic: [] for topic in topics}
    total = 0
    for candidate in ordered:
        if total >= limits.total:
            break
        if candidate.id in already_sent:
            continue
        if since is not None and candidate.published_at <= since and not candidate.pinned:
            continue
        for topic in topics:
            if topic in candidate.topics and len(sections[topic]) < limits.per_topic:
                sections[topic].append(candidate.id)
                total += 1
                break
    return Selection(sections=tuple((topic, tuple(ids)) for topic, ids in sections.items() if ids))
