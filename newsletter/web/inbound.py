"""``POST /hooks/PROVIDER``: bounce and complaint webhooks from Amazon SES (through SNS),
Postmark, SendGrid and Mailgun, each authenticated as its provider documents, then applied
like DSNs. Answers are JSON; refusals are RFC 9457 problems."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from newsletter.inbound import parse, verify
from newsletter.inbound.apply import apply_provider_events
from newsletter.web.api.problems import problem_response
from newsletter.web.deps import runtime

router = APIRouter()
MAX_BODY = 1024 * 1024
Fetch = Callable[[str], bytes]


@lru_cache(maxsize=16)
def fetch_https(url: str) -> bytes:
    """GET an SNS certificate or subscription URL (cached: certificates rarely change)."""
    with httpx.Client(timeout=10.0, follow_redirects=False) as client:
        answer = client.get(url)
        answer.raise_for_status()
        return answer.content


class Refused(Exception):
    """A webhook that is not accepted: status and one line."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise Refused(400, "the body is not JSON") from None


def _ses(request: Request, body: bytes, topics: list[str]) -> list[parse.ProviderEvent]:
    message = _json(body)
    if not isinstance(message, dict) or message.get("TopicArn") not in topics:
        raise Refused(401, "unknown SNS topic")
    cert_url = str(message.get("SigningCertURL", ""))
    if not verify.sns_cert_url_ok(cert_url):
        raise Refused(401, "the signing certificate is not on an SNS host")
    fetch: Fetch = getattr(request.app.state, "sns_fetch", fetch_https)
    try:
        certificate = fetch(cert_url)
    except httpx.HTTPError as exc:
        raise Refused(502, f"cannot fetch the SNS certificate ({type(exc).__name__})") from None
    if not verify.check_sns(message, certificate):
        raise Refused(401, "the SNS signature does not verify")
    if message.get("Type") == "SubscriptionConfirmation":
        subscribe = str(message.get("SubscribeURL", ""))
        if not subscribe.startswith("https://") or not verify.SNS_HOST.match(
            httpx.URL(subscribe).host
        ):
            raise Refused(400, "the SubscribeURL is not on an SNS host")
        fetch(subscribe)
        return []
    if message.get("Type") != "Notification":
        return []
    notification = _json(str(message.get("Message", "")).encode())
    return parse.parse_ses(notification) if isinstance(notification, dict) else []


def _events(request: Request, provider: str, body: bytes) -> list[parse.ProviderEvent]:
    settings = runtime(request).settings
    now = runtime(request).clock().timestamp()
    headers = request.headers
    if provider == "mailgun" and settings.inbound.mailgun_signing_key is not None:
        payload = _json(body)
        signature = payload.get("signature") if isinstance(payload, dict) else None
        key = settings.inbound.mailgun_signing_key.get_secret_value()
        if not isinstance(signature, dict) or not verify.check_mailgun(key, signature, now=now):
            raise Refused(401, "the Mailgun signature does not verify")
        return parse.parse_mailgun(payload)
    if provider == "sendgrid" and settings.inbound.sendgrid_public_key:
        if not verify.check_sendgrid(
            settings.inbound.sendgrid_public_key,
            headers.get("x-twilio-email-event-webhook-signature", ""),
            headers.get("x-twilio-email-event-webhook-timestamp", ""),
            body,
            now=now,
        ):
            raise Refused(401, "the SendGrid signature does not verify")
        payload = _json(body)
        return parse.parse_sendgrid(payload if isinstance(payload, list) else [])
    if provider == "postmark" and settings.inbound.postmark_webhook_secret is not None:
        secret = settings.inbound.postmark_webhook_secret.get_secret_value()
        if not verify.check_basic_auth(secret, headers.get("authorization", "")):
            raise Refused(401, "wrong or missing basic-auth credentials")
        payload = _json(body)
        return parse.parse_postmark(payload if isinstance(payload, dict) else {})
    if provider == "ses" and settings.inbound.ses_topic_arns:
        return _ses(request, body, settings.inbound.ses_topic_arns)
    raise Refused(404, f"no webhook for {provider!r} is configured")


@router.post("/hooks/{provider}", include_in_schema=False)
async def provider_webhook(request: Request, provider: str) -> Response:
    """Authenticate, parse and apply one provider webhook."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return problem_response(request, 413, "at most 1 MB per webhook")
    try:
        events = _events(request, provider, body)
    except Refused as exc:
        return problem_response(request, exc.status, exc.detail)
    except ValueError as exc:  # an authenticated payload we cannot read
        return problem_response(request, 400, f"the payload is not understood: {exc}")
    report = apply_provider_events(runtime(request), events)
    return JSONResponse(report.__dict__)
