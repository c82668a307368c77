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
    arrived_at: datetime | None = None  # when it was stored; None: same as published_at


@dataclass(frozen=True)
class Limits:
    """Caps on a digest's size."""

    per_topic: int = 5
    total: int = 20


@dataclass(frozen=True)
class Selection:
    """One subscriber's digest: sections of article ids, one section per topic."""

    sections: tuple[tuple[str, tuple[int, ...]], ...]
    # Eligible articles left out by the caps, per topic: the digest says how many there are
    # and links to them, and they count as offered (the next digest does not bring them back).
    more: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @property
    def article_ids(self) -> tuple[int, ...]:
        """Every article id in the digest, in order."""
        return tuple(article for _, ids in self.sections for article in ids)

    @property
    def is_empty(self) -> bool:
        """Whether there is nothing to send."""
        return not self.sections

    @property
    def offered_ids(self) -> tuple[int, ...]:
        """Every article the digest offers: shown, or counted in "N more"."""
        return self.article_ids + tuple(article for _, ids in self.more for article in ids)

    @property
    def content_key(self) -> str:
        """A stable key: two subscribers with the same key get the same digest content."""
        text = ";".join(f"{topic}:{','.join(map(str, ids))}" for topic, ids in self.sections)
        if self.more:
            text += "|" + ";".join(f"{t}:{','.join(map(str, ids))}" for t, ids in self.more)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def order_candidates(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Pinned first, then newest first, ties broken by id for a stable order."""
    return sorted(candidates, key=lambda c: (not c.pinned, -c.published_at.timestamp(), -c.id))


def _new(candidate: Candidate, since: datetime | None, oldest: datetime | None) -> bool:
    if oldest is not None and candidate.published_at < oldest:
        return False
    if since is None:
        return True
    arrived = candidate.arrived_at or candidate.published_at
    return candidate.published_at > since or arrived > since


def select_articles(
    ordered: Sequence[Candidate],
    *,
    topics: Sequence[str],
    since: datetime | None,
    already_sent: Collection[int],
    limits: Limits,
    oldest: datetime | None = None,
) -> Selection:
    """Pick the digest for one subscriber from candidates already in ``order_candidates`` order.

    Eligible: never sent to them, and published or stored after ``since`` (so news that
    arrives late is not lost), and not published before ``oldest``; pinned articles need only
    not to have been sent. An article with several of the subscriber's topics appears once, in
    the first of their topics (in the order given) whose section still has room; an eligible
    article the caps leave out goes to ``more`` (under that topic, or its first topic).
    """
    sections: dict[str, list[int]] = {topic: [] for topic in topics}
    more: dict[str, list[int]] = {topic: [] for topic in topics}
    total = 0
    for candidate in ordered:
        if candidate.id in already_sent:
            continue
        if not candidate.pinned and not _new(candidate, since, oldest):
            continue
        first = next((topic for topic in topics if topic in candidate.topics), None)
        if first is None:
            continue
        room = next(
            (
                topic
                for topic in topics
                if topic in candidate.topics and len(sections[topic]) < limits.per_topic
            ),
            None,
        )
        if room is not None and total < limits.total:
            sections[room].append(candidate.id)
            total += 1
        else:
            more[room or first].append(candidate.id)
    return Selection(
        sections=tuple((topic, tuple(ids)) for topic, ids in sections.items() if ids),
        more=tuple((topic, tuple(ids)) for topic, ids in more.items() if ids),
    )
