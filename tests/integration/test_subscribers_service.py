"""The audience services on a fresh SQLite database: lists, consent, preferences, unsubscribe."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from newsletter.db import session_scope
from subscribers import lists, service
from subscribers.errors import (
    DuplicateList,
    InvalidPreference,
    InvalidToken,
    ListNotEmpty,
    SubscriberNotFound,
    Suppressed,
    SuppressionNotFound,
)
from subscribers.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    SubscriptionStatus,
    UnsubscribeEvent,
    UnsubscribeSource,
)
from subscribers.suppression import (
    add_suppression,
    is_suppressed,
    list_suppressions,
    remove_suppression,
    suppressed_filter,
)
from subscribers.tokens import Purpose, make_token
from tests.conftest import NOW
from tests.helpers import seed_list

SECRET = b"service-test-secret-0123"
TOPICS = ["tech", "science", "world"]


def _list(session: object) -> MailingList:
    return service.get_list(session, slug="daily")  # type: ignore[arg-type]


def _signup(engine: Engine, email: str = "Alice@Example.com", **extra: object) -> tuple[int, int]:
    with session_scope(engine) as session:
        result = service.request_subscription(
            session,
            mailing_list=_list(session),
            email=email,
            now=NOW,
            **extra,  # type: ignore[arg-type]
        )
        return result.subscriber.id or 0, result.subscription.id or 0


def test_list_crud_and_validation(engine: Engine) -> None:
    seed_list(engine, NOW, TOPICS)
    with session_scope(engine) as session:
        with pytest.raises(DuplicateList):
            lists.create_list(
                session,
                slug="daily",
                name="x",
                from_name="x",
                from_address="a@b.org",
                topics=["tech"],
            )
        with pytest.raises(InvalidPreference, match="unknown topic 'cooking'"):
            lists.create_list(
                session,
                slug="other",
                name="x",
                from_name="x",
                from_address="a@b.org",
                topics=["cooking"],
                known_topics=set(TOPICS),
            )
        with pytest.raises(InvalidPreference, match="time zone"):
            lists.update_list(session, slug="daily", default_timezone="Mars/Base")
    _signup(engine, topics=["tech", "world"])
    with session_scope(engine) as session:
        update = lists.update_list(
            session,
            slug="daily",
            topics=["tech", "science"],
            double_opt_in=False,
            reply_to="R@x.org",
        )
        assert set(update.changed) == {"topics", "double_opt_in", "reply_to"}
        assert update.subscriptions_trimmed == 1
        assert update.mailing_list.reply_to == "r@x.org"
    with session_scope(engine) as session, pytest.raises(ListNotEmpty, match="1 subscription"):
        lists.delete_list(session, slug="daily")
    with session_scope(engine) as session:
        assert lists.delete_list(session, slug="daily", force=True) == 1
        assert lists.all_lists(session) == []


def test_double_opt_in_flow(engine: Engine) -> None:
    seed_list(engine, NOW, TOPICS)
    subscriber_id, _ = _signup(engine, name="Alice", topics=["tech"])
    with session_scope(engine) as session:
        mailing_list = _list(session)
        again = service.request_subscription(
            session, mailing_list=mailing_list, email="alice@example.com", now=NOW
        )
        assert again.needs_confirmation and not again.already_active
        assert again.subscription.confirm_generation == 2

        def confirm_token(generation: int) -> str:
            return make_token(
                SECRET,
                Purpose.CONFIRM,
                subscriber_id,
                mailing_list.id,
                now=NOW,
                ttl=timedelta(days=3),
                generation=generation,
            )

        first_request, token = confirm_token(1), confirm_token(2)
    for wrong in (
        make_token(SECRET, Purpose.UNSUBSCRIBE, subscriber_id, 1),
        make_token(SECRET, Purpose.CONFIRM, subscriber_id + 1, 1, generation=2),
        make_token(b"another-secret-01234567", Purpose.CONFIRM, subscriber_id, 1, generation=2),
        make_token(SECRET, Purpose.CONFIRM, subscriber_id, 1),  # no generation
        first_request,  # sent before the latest request
    ):
        with session_scope(engine) as session, pytest.raises(InvalidToken):
            service.confirm_subscription(session, token=wrong, secret=SECRET, now=NOW)
    with session_scope(engine) as session, pytest.raises(InvalidToken, match="expired"):
        service.confirm_subscription(
            session, token=token, secret=SECRET, now=NOW + timedelta(days=4)
        )
    with session_scope(engine) as session:
        confirmed = service.confirm_subscription(session, token=token, secret=SECRET, now=NOW)
        assert confirmed.status == SubscriptionStatus.ACTIVE and confirmed.confirmed_at == NOW
        assert confirmed.topics == ["tech"]
    with session_scope(engine) as session:
        result = service.request_subscription(
            session,
            mailing_list=_list(session),
            email="alice@example.com",
            now=NOW,
            topics=["world"],
        )
        assert result.already_active and not result.needs_confirmation
        assert result.subscription.topics == ["tech"]  # a stranger cannot change them
    # unsubscribed, then signing up again needs a new confirmation; the old link is dead
    with session_scope(engine) as session:
        assert (
            service.unsubscribe(
                session,
                subscriber_id=subscriber_id,
                list_id=None,
                source=UnsubscribeSource.LINK,
                now=NOW,
            )
            == 1
        )
    with session_scope(engine) as session, pytest.raises(InvalidToken, match="cancelled"):
        service.confirm_subscription(session, token=token, secret=SECRET, now=NOW)
    _signup(engine)
    with session_scope(engine) as session:
        subscriber, subscription = service.subscription_for_token(
            session,
            token=make_token(SECRET, Purpose.PREFERENCES, subscriber_id, _list(session).id),
            purpose=Purpose.PREFERENCES,
            secret=SECRET,
            now=NOW,
        )
        assert subscription is not None and subscription.status == SubscriptionStatus.PENDING
        assert subscriber.status == SubscriberStatus.UNSUBSCRIBED
    with session_scope(engine) as session, pytest.raises(InvalidToken, match="earlier sign-up"):
        service.confirm_subscription(session, token=token, secret=SECRET, now=NOW)
    with session_scope(engine) as session:
        service.confirm_subscription(session, token=confirm_token(3), secret=SECRET, now=NOW)
        assert session.get(Subscriber, subscriber_id).status == SubscriberStatus.ACTIVE  # type: ignore[union-attr]


def test_single_opt_in_list_activates_at_once(engine: Engine) -> None:
    seed_list(engine, NOW, TOPICS)
    with session_scope(engine) as session:
        lists.update_list(session, slug="daily", double_opt_in=False)
    with session_scope(engine) as session:
        result = service.request_subscription(
            session, mailing_list=_list(session), email="bob@example.net", now=NOW
        )
        assert not result.needs_confirmation
        assert result.subscription.status == SubscriptionStatus.ACTIVE


def test_suppressed_bounced_and_complained_cannot_sign_up(engine: Engine) -> None:
    seed_list(engine, NOW, TOPICS)
    with session_scope(engine) as session:
        add_suppression(session, value="Blocked@Example.com", now=NOW)
        add_suppression(session, value="spam.example", domain=True, now=NOW)
    for address in ("blocked@example.com", "anyone@SPAM.example"):
        with session_scope(engine) as session, pytest.raises(Suppressed):
            service.request_subscription(
                session, mailing_list=_list(session), email=address, now=NOW
            )
    subscriber_id, _ = _signup(engine, email="carol@example.org")
    with session_scope(engine) as session:
        service.unsubscribe(
            session,
            subscriber_id=subscriber_id,
            list_id=None,
            source=UnsubscribeSource.COMPLAINT,
            now=NOW,
        )
    with session_scope(engine) as session, pytest.raises(Suppressed):
        service.request_subscription(
            session, mailing_list=_list(session), email="carol@example.org", now=NOW
        )
    with session_scope(engine) as session:
        # an admin may, and is told elsewhere that the suppression entry still blocks sending
        sub = service.add_subscriber(
            session,
            mailing_list=_list(session),
            email="carol@example.org",
            now=NOW,
            confirmed=True,
            by_admin=True,
        )
        assert sub.status == SubscriptionStatus.ACTIVE
        assert is_suppressed(session, email="carol@example.org")
        blocked = suppressed_filter(session)
        assert blocked("x@spam.example") and not blocked("x@example.org")
        assert len(list_suppressions(session)) == 3
        remove_suppression(session, value="spam.example", domain=True)
        with pytest.raises(SuppressionNotFound):
            remove_suppression(session, value="nobody@example.org")


def test_unsubscribe_is_recorded_and_idempotent(engine: Engine) -> None:
    seed_list(engine, NOW, TOPICS)
    subscriber_id, _ = _signup(engine)
    with session_scope(engine) as session:
        list_id = _list(session).id
        assert (
            service.unsubscribe(
                session,
                subscriber_id=subscriber_id,
                list_id=list_id,
                source=UnsubscribeSource.ONE_CLICK,
                now=NOW,
            )
            == 1
        )
    with session_scope(engine) as session:
        assert (
            service.unsubscribe(
                session,
                subscriber_id=subscriber_id,
                list_id=list_id,
                source=UnsubscribeSource.ONE_CLICK,
                now=NOW,
            )
            == 0
        )
        events = session.exec(select(UnsubscribeEvent)).all()
        assert [(e.list_id, e.source, e.at) for e in events] == [(list_id, "one-click", NOW)]
        with pytest.raises(SubscriberNotFound):
            service.unsubscribe(
                session, subscriber_id=999, list_id=None, source=UnsubscribeSource.ADMIN, now=NOW
            )


def test_preferences_are_validated_with_precise_messages(engine: Engine) -> None:
    seed_list(engine, NOW, TOPICS)
    _signup(engine)
    cases = [
        ({"topics": ["cooking"]}, "topic 'cooking' is not offered"),
        ({"topics": []}, "at least one topic"),
        ({"cadence": "hourly"}, "cadence must be daily or weekly"),
        ({"weekday": "someday"}, "weekday must be"),
        ({"send_hour": 24}, "send hour must be 0-23"),
        ({"timezone": "Europe/Atlantis"}, "unknown time zone"),
    ]
    for values, message in cases:
        with session_scope(engine) as session, pytest.raises(InvalidPreference, match=message):
            subscription = service.get_subscription(
                session, email="alice@example.com", slug="daily"
            )
            service.update_preferences(session, subscription=subscription, now=NOW, **values)  # type: ignore[arg-type]
    with session_scope(engine) as session:
        subscription = service.get_subscription(session, email="alice@example.com", slug="daily")
        updated = service.update_preferences(
            session,
            subscription=subscription,
            now=NOW,
            topics=["World", "tech"],
            cadence="weekly",
            weekday="fri",
            send_hour=6,
            timezone="Asia/Tokyo",
        )
        assert (
            updated.topics,
            updated.cadence,
            updated.weekday,
            updated.send_hour,
            updated.timezone,
        ) == (
            ["tech", "world"],
            "weekly",
            4,
            6,
            "Asia/Tokyo",
        )


def test_bounce_unsubscribe_suppresses_and_listing_checks_status(engine: Engine) -> None:
    seed_list(engine, NOW, TOPICS)
    subscriber_id, _ = _signup(engine, email="gone@example.com")
    with session_scope(engine) as session:
        service.unsubscribe(
            session,
            subscriber_id=subscriber_id,
            list_id=None,
            source=UnsubscribeSource.BOUNCE,
            now=NOW,
        )
        assert is_suppressed(session, email="gone@example.com")
        assert session.get(Subscriber, subscriber_id).status == SubscriberStatus.BOUNCED  # type: ignore[union-attr]
    from subscribers.queries import list_members

    with session_scope(engine) as session, pytest.raises(InvalidPreference, match="status must be"):
        list(list_members(session, mailing_list=_list(session), status="gone"))
