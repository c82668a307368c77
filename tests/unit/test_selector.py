"""The selector: topics, de-duplication, never repeating, caps, ordering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from newsletter.digest.selector import Candidate, Limits, order_candidates, select_articles

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TOPICS = ["tech", "science", "world"]


def cand(id: int, topics: set[str], hours_ago: int, pinned: bool = False) -> Candidate:
    return Candidate(id, frozenset(topics), NOW - timedelta(hours=hours_ago), pinned)


def test_article_with_two_topics_appears_once_in_first_chosen_topic() -> None:
    ordered = order_candidates([cand(1, {"tech", "science"}, 1), cand(2, {"science"}, 2)])
    selection = select_articles(
        ordered, topics=["science", "tech"], since=None, already_sent=set(), limits=Limits()
    )
    assert selection.sections == (("science", (1, 2)),)
    assert selection.article_ids == (1, 2)


def test_only_chosen_topics_newest_first_and_since() -> None:
    ordered = order_candidates(
        [cand(1, {"tech"}, 5), cand(2, {"tech"}, 1), cand(3, {"world"}, 1), cand(4, {"tech"}, 50)]
    )
    selection = select_articles(
        ordered,
        topics=["tech"],
        since=NOW - timedelta(hours=24),
        already_sent=set(),
        limits=Limits(),
    )
    assert selection.sections == (("tech", (2, 1)),)


def test_already_sent_is_never_repeated_and_empty_means_nothing() -> None:
    ordered = order_candidates([cand(1, {"tech"}, 1)])
    selection = select_articles(
        ordered, topics=["tech"], since=None, already_sent={1}, limits=Limits()
    )
    assert selection.is_empty


def test_caps_per_topic_and_total() -> None:
    ordered = order_candidates(
        [cand(i, {"tech"}, i) for i in range(1, 10)]
        + [cand(i, {"world"}, i) for i in range(10, 20)]
    )
    selection = select_articles(
        ordered,
        topics=["tech", "world"],
        since=None,
        already_sent=set(),
        limits=Limits(per_topic=3, total=5),
    )
    assert len(selection.article_ids) == 5
    assert all(len(ids) <= 3 for _, ids in selection.sections)
    # nothing silently capped away: the rest is counted per topic, and offered
    assert sum(len(ids) for _, ids in selection.more) == 19 - 5
    assert sorted(selection.offered_ids) == list(range(1, 20))


def test_late_arrivals_count_and_old_ones_do_not() -> None:
    late = Candidate(
        id=1,
        topics=frozenset({"tech"}),
        published_at=NOW - timedelta(hours=30),
        arrived_at=NOW - timedelta(hours=1),
    )
    ancient = Candidate(
        id=2,
        topics=frozenset({"tech"}),
        published_at=NOW - timedelta(days=40),
        arrived_at=NOW - timedelta(hours=1),
    )
    selection = select_articles(
        order_candidates([late, ancient]),
        topics=["tech"],
        since=NOW - timedelta(hours=24),
        oldest=NOW - timedelta(days=14),
        already_sent=set(),
        limits=Limits(),
    )
    assert selection.article_ids == (1,)


def test_pinned_comes_first_even_if_old() -> None:
    ordered = order_candidates([cand(1, {"tech"}, 1), cand(2, {"tech"}, 100, pinned=True)])
    selection = select_articles(
        ordered,
        topics=["tech"],
        since=NOW - timedelta(hours=24),
        already_sent=set(),
        limits=Limits(),
    )
    assert selection.article_ids == (2, 1)


def test_same_selection_same_key() -> None:
    ordered = order_candidates([cand(1, {"tech"}, 1)])
    a = select_articles(ordered, topics=["tech"], since=None, already_sent=set(), limits=Limits())
    b = select_articles(ordered, topics=["tech"], since=None, already_sent=set(), limits=Limits())
    c = select_articles(ordered, topics=["tech"], since=None, already_sent={1}, limits=Limits())
    assert a.content_key == b.content_key != c.content_key


candidates = st.lists(
    st.tuples(
        st.sets(st.sampled_from(TOPICS), min_size=1),
        st.integers(min_value=0, max_value=200),
        st.booleans(),
    ),
    max_size=40,
)


@given(
    raw=candidates,
    chosen=st.lists(st.sampled_from(TOPICS), min_size=1, max_size=3, unique=True),
    sent=st.sets(st.integers(min_value=0, max_value=40)),
    per_topic=st.integers(min_value=1, max_value=6),
    total=st.integers(min_value=1, max_value=12),
)
def test_selection_invariants(
    raw: list[tuple[set[str], int, bool]],
    chosen: list[str],
    sent: set[int],
    per_topic: int,
    total: int,
) -> None:
    pool = [cand(i, topics, hours, pinned) for i, (topics, hours, pinned) in enumerate(raw)]
    since = NOW - timedelta(hours=48)
    selection = select_articles(
        order_candidates(pool),
        topics=chosen,
        since=since,
        already_sent=sent,
        limits=Limits(per_topic=per_topic, total=total),
    )
    by_id = {c.id: c for c in pool}
    ids = selection.article_ids
    assert len(ids) == len(set(ids))  # never twice
    assert len(ids) <= total
    for topic, section_ids in selection.sections:
        assert topic in chosen and section_ids and len(section_ids) <= per_topic
        for article_id in section_ids:
            article = by_id[article_id]
            assert topic in article.topics
            assert article_id not in sent
            assert article.pinned or article.published_at > since
    # every eligible candidate is either shown or counted in "more", never both
    eligible = {
        c.id
        for c in pool
        if c.id not in sent and set(c.topics) & set(chosen) and (c.pinned or c.published_at > since)
    }
    offered = selection.offered_ids
    assert len(offered) == len(set(offered)) and set(offered) == eligible
