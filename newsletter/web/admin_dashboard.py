"""The console's home: subscribers per list and status, the last runs, feed health."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.operations.dashboard import dashboard as read_dashboard
from newsletter.web.deps import Account, render, require_editor, runtime
from subscribers.models import SubscriptionStatus

router = APIRouter(prefix="/admin")


@router.get("")
def dashboard(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Subscribers per list and status, the last runs and every feed's last fetch."""
    shown = read_dashboard(runtime(request))
    return render(
        request,
        "dashboard.html.j2",
        {
            "title": "Dashboard",
            "lists": shown.lists,
            "counts": shown.counts,
            "runs": shown.runs,
            "feeds": shown.feeds,
            "statuses": [status.value for status in SubscriptionStatus],
        },
    )
