"""The send page's audience count is one SQL count that agrees with the audience a run plans
(``iter_audience``): suppressed addresses and domains, unsubscribed and pending people left out."""

from __future__ import annotations

from sqlmodel import select

from newsletter.db import make_engine, session_scope
from newsletter.ledger.planning import audience_size, iter_audience
from subscribers import service
from subscribers.addresses import address_hash
from subscribers.models import Subscriber, SuppressionKind, SuppressionReason, UnsubscribeSource
from subscribers.suppression import suppress
from tests.conftest import NOW
from tests.helpers import seed_list, subscribe

TOPICS = ["tech"]
KEPT = [
    "ann@example.org",
    "bob@notblocked.example.net",  # ends like a blocked domain, but the domain differs
    "cat@sub.blocked.example.net",  # a subdomain of a blocked domain is not that domain
    "dan@hashed.example.com",  # hash entries are only checked with the secret
]
LEFT_OUT = ["eve@example.org", "fay@blocked.example.net", "gus@example.org"]


def test_audience_size_counts_what_iter_audience_yields(database_url: str) -> None:
    engine = make_engine(database_url)
    seed_list(engine, NOW, TOPICS)
    with session_scope(engine) as session:
        service.create_list(
            session,
            slug="other",
            name="Other",
            from_name="Example Newsroom",
            from_address="other@news.example.org",
            topics=TOPICS,
        )
    for email in KEPT + LEFT_OUT:
        subscribe(engine, NOW, email, TOPICS)
    subscribe(engine, NOW, "hal@example.org", TOPICS, slug="other")  # another list's member
    with session_scope(engine) as session:
        daily = service.get_list(session, slug="daily")
        service.add_subscriber(  # pending: not asked to confirm yet
            session, mailing_list=daily, email="ivy@example.org", now=NOW, topics=TOPICS
        )
        suppress(session, value="eve@example.org", reason=SuppressionReason.MANUAL)
        suppress(
            session,
            value="blocked.example.net",
            reason=SuppressionReason.MANUAL,
            kind=SuppressionKind.DOMAIN,
        )
        suppress(
            session,
            value=address_hash(b"secret", "dan@hashed.example.com"),
            reason=SuppressionReason.MANUAL,
            kind=SuppressionKind.HASH,
        )
        gus = session.exec(select(Subscriber).where(Subscriber.email == "gus@example.org")).one()
        service.unsubscribe(
            session,
            subscriber_id=gus.id or 0,
            list_id=daily.id,
            source=UnsubscribeSource.ADMIN,
            now=NOW,
        )
        list_id = daily.id or 0
    with session_scope(engine) as session:
        planned = sorted(
            a.email for chunk in iter_audience(session, list_id=list_id) for a in chunk
        )
        counted = audience_size(session, list_id=list_id)
    assert planned == sorted(KEPT)
    assert counted == len(KEPT)
    engine.dispose()
