"""``schedule status`` counts by rhythm in SQL: the same numbers as walking every member, with
suppressed addresses and domains, unsubscribed people and several lists and time zones."""

from __future__ import annotations

from collections import Counter

from sqlmodel import Session

from newsletter.db import make_engine, session_scope
from newsletter.ledger.planning import load_audience
from newsletter.schedule.dispatch import load_members, rhythm_counts
from subscribers import service, suppression
from subscribers.models import UnsubscribeSource
from tests.conftest import NOW
from tests.helpers import seed_list


def _walked(session: Session) -> Counter[tuple[int, object]]:
    """The slow, obvious count: every member, kept when the planner would mail them."""
    eligible = {
        a.subscription_id
        for list_id in {m.list_id for m in load_members(session)}
        for a in load_audience(session, list_id=list_id)
    }
    return Counter(
        (m.list_id, m.rhythm) for m in load_members(session) if m.subscription_id in eligible
    )


def test_rhythm_counts_match_the_members_the_planner_would_mail(database_url: str) -> None:
    engine = make_engine(database_url)
    seed_list(engine, NOW, ["tech"], slug="daily")
    with session_scope(engine) as session:
        service.create_list(
            session,
            slug="weekly",
            name="Example Weekly",
            from_name="Example Newsroom",
            from_address="weekly@news.example.org",
            topics=["tech"],
        )
    people = [
        # (address, list, cadence, hour, zone)
        ("a@example.com", "daily", "daily", 8, "Europe/London"),
        ("b@example.com", "daily", "daily", 8, "Europe/London"),
        ("c@example.com", "daily", "daily", 9, "Asia/Tokyo"),
        ("d@blocked.example", "daily", "daily", 8, "Europe/London"),  # domain suppressed
        ("e@example.com", "daily", "daily", 8, "Europe/London"),  # address suppressed
        ("f@example.com", "weekly", "weekly", 7, "America/New_York"),
        ("g@example.com", "weekly", "weekly", 7, "America/New_York"),  # unsubscribes
    ]
    with session_scope(engine) as session:
        for email, slug, cadence, hour, zone in people:
            service.add_subscriber(
                session,
                mailing_list=service.get_list(session, slug=slug),
                email=email,
                now=NOW,
                topics=["tech"],
                cadence=cadence,
                send_hour=hour,
                timezone=zone,
                confirmed=True,
                by_admin=True,
            )
        suppression.add_suppression(session, value="blocked.example", domain=True, now=NOW)
        suppression.add_suppression(session, value="e@example.com", now=NOW)
        # a domain that is a prefix of example.com: it must not suppress example.com
        suppression.add_suppression(session, value="example.co", domain=True, now=NOW)
        leaving = service.find_subscriber(session, email="g@example.com")
        service.unsubscribe(
            session,
            subscriber_id=leaving.id or 0,
            list_id=None,
            source=UnsubscribeSource.ADMIN,
            now=NOW,
        )
    with Session(engine) as session:
        counted = rhythm_counts(session)
        walked = _walked(session)
        assert counted == walked
        assert sorted(counted.values()) == [1, 1, 2]  # 8:00 London 2, Tokyo 1, New York 1
    engine.dispose()
