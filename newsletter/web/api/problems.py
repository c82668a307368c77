"""RFC 9457 problem details: the one shape of every API error, and the handlers that make it.

ApiProblem (Exception)        raised by API handlers with a status, a title and one line of detail
  SubscriberError, NewsletterError (services)  -> 400 (404 for the lookup errors)
  RequestValidationError                      -> 422 with the first problem as the detail
  HTTPException                               -> its status
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from newsletter.errors import NewsletterError, UnknownTopic
from subscribers.errors import SubscriberError

PROBLEM_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid request",
    429: "Too many requests",
}


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str = ""


class ApiProblem(Exception):
    """Stops an API handler with a problem document."""

    def __init__(
        self, status: int, detail: str, *, title: str = "", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title or TITLES.get(status, "Error")
        self.detail = detail
        self.headers = headers or {}


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    title: str = "",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem document response for this request."""
    body = Problem(
        title=title or TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=request.url.path,
    )
    return JSONResponse(
        body.model_dump(), status_code=status, media_type=PROBLEM_TYPE, headers=headers
    )


def _not_found(exc: Exception) -> bool:
    """A lookup of what the URL names failed (an unknown topic in a body is a bad request)."""
    return isinstance(exc, LookupError) and not isinstance(exc, UnknownTopic)


def validation_detail(exc: RequestValidationError) -> str:
    """The first validation problem as one line naming the field."""
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        return f"{where or 'request'}: {error.get('msg', 'invalid value')}"
    return "the request is not valid"


def install(app: FastAPI) -> None:
    """Make every error of ``app`` a problem document."""

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.detail, title=exc.title, headers=exc.headers
        )

    @app.exception_handler(SubscriberError)
    @app.exception_handler(NewsletterError)
    async def refused(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, 404 if _not_found(exc) else 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(request, 422, validation_detail(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        if exc.status_code == 404 and detail == "Not Found":
            detail = "there is nothing at this address"
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(request, exc.status_code, detail, headers=headers)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": Problem,
        "description": TITLES[status],
        "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status in (400, 401, 403, 404, 422, 429)
}
