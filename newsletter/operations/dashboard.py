"""The console's home in one read: subscribers per list and status, the last runs, the feeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import col, select

from newsletter.db import session_scope
from newsletter.ledger.runstate import RunSummary, recent_runs
from newsletter.models import Feed
from newsletter.operations.lists import status_counts_by_list
from subscribers.lists import all_lists
from subscribers.models import MailingList, SubscriptionStatus

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

RECENT_RUNS = 10


@dataclass(frozen=True)
class Dashboard:
    """Every list with its subscriptions per status (every status present), the last runs,
    and every feed by URL."""

    lists: list[MailingList]
    counts: dict[int, dict[str, int]]
    runs: list[RunSummary]
    feeds: list[Feed]


def dashboard(runtime: Runtime) -> Dashboard:
    """What the console's home shows."""
    with session_scope(runtime.engine) as session:
        lists = all_lists(session)
        counts: dict[int, dict[str, int]] = {
            ml.id or 0: {status.value: 0 for status in SubscriptionStatus} for ml in lists
        }
        for list_id, by_status in status_counts_by_list(session).items():
            counts.setdefault(list_id, {}).update(by_status)
        runs = recent_runs(session, limit=RECENT_RUNS)
        feeds = list(session.exec(select(Feed).order_by(col(Feed.url))))
        return Dashboard(lists=lists, counts=counts, runs=runs, feeds=feeds)
