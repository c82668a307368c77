"""Every byte of ingest network I/O goes through here: one GET with limits and validators.

Each fetch has one total deadline for connecting, the headers and the whole body, not a
timeout per read: a server that drips one byte a second is cut off at the deadline like
one that never answers. The request runs under ``asyncio.timeout``, which cancels it
wherever it waits.

Errors (all ``IngestError``, naming the URL): ``HTTP <status>``, ``larger than 5 MB``,
``cannot fetch (<reason>)``, ``cannot fetch (no complete answer within N s)``.
A 304 is not an error: it comes back as ``not_modified``.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from functools import cache

import certifi
import httpx

from newsletter.errors import IngestError

MAX_INPUT_BYTES = 5 * 1024 * 1024
USER_AGENT = "newsletter/0.1 (+https://github.com/newsletter; digest engine)"
DEFAULT_TIMEOUT = 20.0  # seconds for the whole fetch, from connecting to the last byte


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
    transport: httpx.AsyncBaseTransport | None = None,
) -> Fetched:
    """GET ``url`` within ``timeout`` seconds in all; for threads without an event loop."""
    return asyncio.run(
        fetch_async(
            url,
            etag=etag,
            last_modified=last_modified,
            timeout=timeout,
            max_bytes=max_bytes,
            transport=transport,
        )
    )


async def fetch_async(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_INPUT_BYTES,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Fetched:
    """GET ``url`` with a user agent, a size limit, a conditional request and a deadline."""
    try:
        async with asyncio.timeout(timeout):
            return await _get(url, etag, last_modified, timeout, max_bytes, transport)
    except TimeoutError:
        raise IngestError(url, f"cannot fetch (no complete answer within {timeout:g} s)") from None
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise IngestError(url, f"cannot fetch ({reason})") from exc


@cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every fetch: loading the CA bundle costs about 20 ms each time."""
    return ssl.create_default_context(cafile=certifi.where())


async def _get(
    url: str,
    etag: str | None,
    last_modified: str | None,
    timeout: float,
    max_bytes: int,
    transport: httpx.AsyncBaseTransport | None,
) -> Fetched:
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    async with (
        httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=True,
            headers=headers,
            transport=transport,
            verify=_tls_context(),
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
        async for chunk in response.aiter_bytes():
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
