"""Public subscriber pages: sign-up, confirm, preferences, RFC 8058 unsubscribe.

The archive, `/` and view in browser are in ``newsletter/web/archive.py``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from newsletter.operations import consent
from newsletter.operations import subscriptions as members
from newsletter.operations.confirmations import send_confirmations, send_welcomes
from newsletter.operations.lists import list_by_id
from newsletter.operations.topics import names_of
from newsletter.runtime import Runtime
from newsletter.web.choices import WEEKDAYS, timezones
from newsletter.web.deps import (
    PageError,
    client_ip,
    in_background,
    list_or_404,
    render,
    runtime,
    state,
)
from newsletter.web.security import check_form_token, make_form_token
from subscribers.addresses import normalise_email
from subscribers.errors import (
    InvalidAddress,
    InvalidPreference,
    InvalidToken,
    Suppressed,
)
from subscribers.models import MailingList, SubscriptionStatus, UnsubscribeSource
from subscribers.tokens import Purpose, read_token

router = APIRouter()
log = logging.getLogger(__name__)


def bad_link() -> PageError:
    """The one answer to forged, tampered, expired and wrong-purpose links (it leaks nothing)."""
    return PageError(
        400, "This link is not valid", "It may be incomplete or out of date. Nothing was changed."
    )


def _choices(rt: Runtime, mailing_list: MailingList, chosen: dict[str, Any]) -> dict[str, Any]:
    return {
        "topic_names": names_of(rt, slugs=mailing_list.topics),
        "mailing_list": mailing_list,
        "weekdays": WEEKDAYS,
        "timezones": timezones(),
        "chosen": chosen,
    }


def _signup_page(
    request: Request, mailing_list: MailingList, *, chosen: dict[str, Any], error: str = ""
) -> Response:
    rt = runtime(request)
    token = make_form_token(
        rt.settings.links.secret, purpose=f"signup:{mailing_list.slug}", now=rt.clock()
    )
    return render(
        request,
        "subscribe.html.j2",
        {"title": mailing_list.name, "form_token": token, "error": error}
        | _choices(rt, mailing_list, chosen),
        status=400 if error else 200,
    )


def _defaults(mailing_list: MailingList) -> dict[str, Any]:
    return {
        "email": "",
        "name": "",
        "topics": list(mailing_list.topics),
        "cadence": mailing_list.default_cadence,
        "weekday": mailing_list.default_weekday,
        "send_hour": mailing_list.default_send_hour,
        "timezone": mailing_list.default_timezone,
    }


@router.get("/l/{slug}")
def signup_form(request: Request, slug: str) -> Response:
    """The sign-up form of a list."""
    mailing_list = list_or_404(request, slug)
    return _signup_page(request, mailing_list, chosen=_defaults(mailing_list))


@router.post("/l/{slug}")
async def signup(request: Request, slug: str) -> Response:
    """Sign up; the answer is the same whether the address was new, active or suppressed."""
    rt = runtime(request)
    mailing_list = list_or_404(request, slug)
    form = await request.form()
    chosen = _defaults(mailing_list) | {
        key: str(form.get(key, "")).strip()
        for key in ("email", "name", "cadence", "weekday", "send_hour", "timezone")
    }
    chosen["topics"] = [str(topic) for topic in form.getlist("topics")]
    neutral = render(
        request,
        "subscribed.html.j2",
        {"title": mailing_list.name, "mailing_list": mailing_list},
    )
    if form.get("website"):  # the honeypot: people never see this field
        return neutral
    if not check_form_token(
        rt.settings.links.secret,
        str(form.get("form_token", "")),
        purpose=f"signup:{mailing_list.slug}",
        now=rt.clock(),
    ):
        return _signup_page(
            request, mailing_list, chosen=chosen, error="The form expired; please send it again."
        )
    try:
        address = normalise_email(chosen["email"])
    except InvalidAddress as exc:
        return _signup_page(request, mailing_list, chosen=chosen, error=exc.reason.capitalize())
    allowed_ip = state(request).signup_ip_limiter.hit(client_ip(request))
    allowed_address = state(request).signup_address_limiter.hit(address)
    if not (allowed_ip and allowed_address):
        raise PageError(429, "Too many sign-ups", "Please wait an hour and try again.")
    if not chosen["topics"]:
        return _signup_page(
            request, mailing_list, chosen=chosen, error="Choose at least one topic."
        )
    try:
        subscription_id = consent.sign_up(
            rt,
            mailing_list=mailing_list,
            email=address,
            name=chosen["name"][:200],
            topics=chosen["topics"],
            cadence=chosen["cadence"] or None,
            weekday=chosen["weekday"] or None,
            send_hour=chosen["send_hour"] or None,
            timezone=chosen["timezone"] or None,
        )
    except InvalidPreference as exc:
        return _signup_page(request, mailing_list, chosen=chosen, error=str(exc))
    except Suppressed:
        return neutral
    if subscription_id is not None:
        in_background(
            state(request),
            send_confirmations(rt, subscription_ids=[subscription_id]),
            f"confirmation for subscription {subscription_id}",
        )
    return neutral


@router.get("/c/{token}")
def confirm_page(request: Request, token: str) -> Response:
    """The landing page of a confirmation link: one button confirms (scanners only GET)."""
    rt = runtime(request)
    try:
        claims = read_token(rt.settings.links.secret, token, Purpose.CONFIRM, now=rt.clock())
    except InvalidToken:
        raise bad_link() from None
    mailing_list = list_by_id(rt, list_id=claims.list_id or 0)
    if mailing_list is None:
        raise bad_link()
    return render(
        request,
        "confirm.html.j2",
        {"title": "Confirm", "mailing_list": mailing_list, "done": False},
    )


@router.post("/c/{token}")
async def confirm(request: Request, token: str) -> Response:
    """Activate the subscription the confirmation token names, then send the list's welcome
    email (once, if the list has one) in the background."""
    rt = runtime(request)
    try:
        confirmed = await asyncio.to_thread(consent.confirm, rt, token=token)
        subscription, mailing_list = confirmed.subscription, confirmed.mailing_list
    except (InvalidToken, Suppressed):
        raise bad_link() from None
    if subscription.id is not None:
        in_background(
            state(request),
            send_welcomes(rt, subscription_ids=[subscription.id]),
            f"welcome for subscription {subscription.id}",
        )
    return render(
        request,
        "confirm.html.j2",
        {"title": "Confirmed", "mailing_list": mailing_list, "done": True},
    )


def _preferences_context(request: Request, token: str) -> dict[str, Any]:
    rt = runtime(request)
    try:
        found = consent.preferences(rt, token=token)
    except InvalidToken:
        raise bad_link() from None
    subscriber, subscription, mailing_list = (
        found.subscriber,
        found.subscription,
        found.mailing_list,
    )
    if subscription is None or mailing_list is None:
        raise bad_link()
    chosen = {
        "name": subscriber.name,
        "topics": list(subscription.topics),
        "cadence": subscription.cadence,
        "weekday": subscription.weekday,
        "send_hour": subscription.send_hour,
        "timezone": subscription.timezone or subscriber.timezone,
    }
    return {
        "title": f"Your {mailing_list.name} preferences",
        "subscriber": subscriber,
        "subscription": subscription,
        "active": subscription.status == SubscriptionStatus.ACTIVE,
        "form_token": make_form_token(
            rt.settings.links.secret, purpose=f"prefs:{token}", now=rt.clock()
        ),
        "error": "",
    } | _choices(rt, mailing_list, chosen)


@router.get("/p/{token}")
def preferences_page(request: Request, token: str) -> Response:
    """The preferences form behind the signed link in every digest."""
    return render(request, "preferences.html.j2", _preferences_context(request, token))


@router.post("/p/{token}")
async def save_preferences(request: Request, token: str) -> Response:
    """Save the name, topics, cadence, send hour and time zone, or unsubscribe from the list
    or all."""
    rt = runtime(request)
    context = _preferences_context(request, token)
    form = await request.form()
    if not check_form_token(
        rt.settings.links.secret,
        str(form.get("form_token", "")),
        purpose=f"prefs:{token}",
        now=rt.clock(),
    ):
        context["error"] = "The form expired; please send it again."
        return render(request, "preferences.html.j2", context, status=400)
    action = str(form.get("action", "save"))
    subscription = context["subscription"]
    if action in ("unsubscribe", "unsubscribe-all"):
        members.end_subscription(
            rt,
            subscriber_id=subscription.subscriber_id,
            list_id=subscription.list_id if action == "unsubscribe" else None,
            source=UnsubscribeSource.LINK,
        )
        return render(
            request,
            "unsubscribed.html.j2",
            {
                "title": "Unsubscribed",
                "mailing_list": context["mailing_list"],
                "everything": action == "unsubscribe-all",
            },
        )
    topics = [str(topic) for topic in form.getlist("topics")]
    fields = {
        key: str(form.get(key, "")).strip()
        for key in ("cadence", "weekday", "send_hour", "timezone")
    }
    # a person changes their own name here, behind their signed link (a sign-up never does)
    name = str(form["name"]).strip()[:200] if "name" in form else None
    chosen: dict[str, Any] = fields | {"topics": topics, "name": name}
    try:
        if not topics:
            raise InvalidPreference("Choose at least one topic, or unsubscribe below.")
        members.save_preferences(
            rt,
            subscription=subscription,
            topics=topics,
            cadence=fields["cadence"] or None,
            weekday=fields["weekday"] or None,
            send_hour=fields["send_hour"] or None,
            timezone=fields["timezone"] or None,
            name=name,
        )
    except InvalidPreference as exc:
        context["error"] = str(exc)
        context["chosen"] = chosen
        return render(request, "preferences.html.j2", context, status=400)
    return render(
        request, "preferences.html.j2", _preferences_context(request, token) | {"saved": True}
    )


def _unsubscribe_claims(request: Request, token: str) -> Any:
    rt = runtime(request)
    try:
        return read_token(rt.settings.links.secret, token, Purpose.UNSUBSCRIBE, now=rt.clock())
    except InvalidToken:
        raise bad_link() from None


@router.get("/u/{token}")
def unsubscribe_page(request: Request, token: str) -> Response:
    """Only a page with a button: link scanners that fetch URLs unsubscribe nobody."""
    claims = _unsubscribe_claims(request, token)
    mailing_list = list_by_id(runtime(request), list_id=claims.list_id or 0)
    return render(
        request,
        "unsubscribe.html.j2",
        {"title": "Unsubscribe", "mailing_list": mailing_list, "token": token},
    )


@router.post("/u/{token}")
async def unsubscribe_one_click(request: Request, token: str) -> Response:
    """RFC 8058 one-click: ``List-Unsubscribe=One-Click`` unsubscribes at once, answers 200."""
    claims = _unsubscribe_claims(request, token)
    form = await request.form()
    if form.get("List-Unsubscribe") != "One-Click":
        raise PageError(400, "Nothing was changed", "The request did not ask to unsubscribe.")
    # an erased subscriber has nobody left to mail: the answer is 200 all the same
    mailing_list = consent.one_click_unsubscribe(
        runtime(request), subscriber_id=claims.subscriber_id, list_id=claims.list_id
    )
    return render(
        request,
        "unsubscribed.html.j2",
        {
            "title": "Unsubscribed",
            "mailing_list": mailing_list,
            "everything": claims.list_id is None,
        },
    )
