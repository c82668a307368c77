"""What every API handler shares: the caller of a bearer token, role checks, per-token limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from newsletter.models import UserRole
from newsletter.operations.api_tokens import TokenOwner, caller_of
from newsletter.runtime import Runtime
from newsletter.web.api.problems import ApiProblem
from newsletter.web.deps import WebState
from newsletter.web.security import RateLimiter

DEFAULT_RATE_LIMIT = 300  # requests per token per minute
BEARER = HTTPBearer(auto_error=False, description="An API token (see /admin/tokens or the CLI)")


@dataclass
class ApiState:
    """The API's own state beside the web app's: one rate limiter keyed by token."""

    web: WebState
    limiter: RateLimiter = field(
        default_factory=lambda: RateLimiter(limit=DEFAULT_RATE_LIMIT, window=60)
    )


def api_state(request: Request) -> ApiState:
    """The API's state."""
    found: ApiState = request.app.state.api
    return found


def api_runtime(request: Request) -> Runtime:
    """The runtime the API works on."""
    return api_state(request).web.runtime


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> TokenOwner:
    """The owner of a valid bearer token (401 otherwise), counted against its rate limit."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(
            401,
            "send an API token as 'Authorization: Bearer nl_...'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    owner = caller_of(api_runtime(request), token=credentials.credentials)
    if owner is None:
        raise ApiProblem(
            401,
            "the API token is unknown, revoked or its user disabled",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    limiter = api_state(request).limiter
    if not limiter.hit(f"token:{owner.token_id}"):
        raise ApiProblem(
            429,
            f"at most {limiter.limit} requests a minute per token",
            headers={"Retry-After": str(int(limiter.window))},
        )
    return owner


def admin(owner: Annotated[TokenOwner, Depends(caller)]) -> TokenOwner:
    """The caller, who must be an admin."""
    if owner.role != UserRole.ADMIN:
        raise ApiProblem(403, "this needs an admin's token; editors handle content and sends")
    return owner


Caller = Annotated[TokenOwner, Depends(caller)]
Admin = Annotated[TokenOwner, Depends(admin)]
