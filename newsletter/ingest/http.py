"""Every byte of ingest network I/O goes through here: one GET with limits and validators.

Errors (all ``IngestError``, naming the URL): ``HTTP <status>``, ``larger than 5 MB``,
``cannot fetch (<reason>)``. A 304 is not an error: it comes back as ``not_modified``.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from newsletter.errors import IngestError

MAX_INPUT_BYTES = 5 * 1024 * 1024
USER_AGENT = "newsletter/0.1 (+https://github.com/newsletter; digest engine)"
DEFAULT_TIMEOUT = 20.0


@dataclass(frozen=True)
class Fetched:
    """One response: the body (empty when not modified) and the validators to keep."""

    url: str
    status: int
    content: bytes
    etag: str | None
    last_modified: str | None
    content_type: str | None

    @property
    def not_modified(self) -> bool:
        """Whether the server answered 304 to a conditional GET."""
        return self.status == 304


def fetch(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_INPUT_BYTES,
    transport: httpx.BaseTransport | None = None,
) -> Fetched:
    """GET ``url`` with a user agent, a timeout, a size limit and a conditional request."""
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with (
            httpx.Client(
                timeout=timeout, follow_redirects=True, headers=headers, transport=transport
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code == 304:
                return Fetched(url, 304, b"", etag, last_modified, None)
            if response.status_code >= 400:
                raise IngestError(url, f"HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise IngestError(url, "larger than 5 MB")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise IngestError(url, "larger than 5 MB")
                chunks.append(chunk)
            return Fetched(
                url=str(response.url),
                status=response.status_code,
                content=b"".join(chunks),
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                content_type=response.headers.get("content-type"),
            )
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise IngestError(url, f"cannot fetch ({reason})") from exc
