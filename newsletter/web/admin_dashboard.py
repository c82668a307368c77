"""The console's home: subscribers per list and status, the last runs, feed health."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlmodel import col, select

from newsletter.db import session_scope
from newsletter.ledger.runstate import recent_runs
from newsletter.models import Feed
from newsletter.web.deps import Account, render, require_editor, runtime
from subscribers.models import MailingList, Subscription, SubscriptionStatus

router = APIRouter(prefix="/admin")


@router.get("")
def dashboard(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Subscribers per list and status, the last runs and every feed's last fetch."""
    rt = runtime(request)
    with session_scope(rt.engine) as session:
        lists = list(session.exec(select(MailingList).order_by(col(MailingList.slug))))
        counts: dict[int, dict[str, int]] = {
            ml.id or 0: {status.value: 0 for status in SubscriptionStatus} for ml in lists
        }
        for list_id, status, count in session.exec(
            select(Subscription.list_id, Subscription.status, func.count()).group_by(
                col(Subscription.list_id), col(Subscription.status)
            )
        ):
            counts.setdefault(list_id, {})[status] = count
        runs = recent_runs(session, limit=10)
        feeds = list(session.exec(select(Feed).order_by(col(Feed.url))))
    return render(
        request,
        "dashboard.html.j2",
        {
            "title": "Dashboard",
            "lists": lists,
            "counts": counts,
            "runs": runs,
            "feeds": feeds,
            "statuses": [status.value for status in SubscriptionStatus],
        },
    )
