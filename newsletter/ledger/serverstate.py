"""Keep SMTP servers' rate-limit buckets and rest periods in the database across restarts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, select

from newsletter.delivery.pool import ServerState
from newsletter.delivery.ratelimit import BucketState
from newsletter.models import SmtpServerState


def load_server_states(session: Session) -> list[ServerState]:
    """Every saved server state."""
    return [
        ServerState(
            name=row.name,
            bucket=BucketState(row.tokens_sec, row.tokens_hour, row.updated_at),
            down_until=row.down_until,
            last_error=row.last_error,
        )
        for row in session.exec(select(SmtpServerState))
    ]


def save_server_states(session: Session, states: Sequence[ServerState]) -> None:
    """Write the servers' current states (one row per server)."""
    for state in states:
        bucket = state.bucket
        # A server without limits still gets a row for its rest period; its bucket columns
        # then say "empty at the start of the rest", which refills on restore.
        stamp = bucket.updated_at if bucket is not None else state.down_until
        if stamp is None:  # neither limits nor a rest period: nothing to keep
            continue
        row = session.get(SmtpServerState, state.name)
        if row is None:
            row = SmtpServerState(
                name=state.name,
                tokens_sec=bucket.tokens_sec if bucket else 0.0,
                tokens_hour=bucket.tokens_hour if bucket else 0.0,
                updated_at=stamp,
            )
            session.add(row)
        elif bucket is not None:
            row.tokens_sec, row.tokens_hour = bucket.tokens_sec, bucket.tokens_hour
            row.updated_at = bucket.updated_at
        row.down_until = state.down_until
        row.last_error = state.last_error
