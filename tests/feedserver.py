"""A real HTTP server on loopback serving fixture feeds, with ETag and Last-Modified.

A page can also drip: its whole response, status line and headers included, goes out one
byte every ``drip`` seconds, and the server records when the client hung up on it.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Page:
    """What one path serves."""

    body: bytes
    content_type: str = "application/rss+xml"
    status: int = 200
    last_modified: str | None = "Tue, 24 Nov 2026 12:00:00 GMT"
    etag: bool = True
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    drip: float = 0.0  # seconds between single bytes of the response (0: all at once)
    drip_after: int = 0  # bytes of the response sent at once before the drip starts


@dataclass(frozen=True)
class Drip:
    """One dripped response: when it started and ended, bytes sent, whether the client left."""

    path: str
    started: float
    ended: float
    sent: int
    client_hung_up: bool


@dataclass
class Hit:
    """One request the server saw."""

    path: str
    headers: dict[str, str]
    status: int


@dataclass
class FeedServer:
    """Serves ``pages`` by path; records every request in ``hits``."""

    pages: dict[str, Page] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    drips: list[Drip] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._server is None:
            raise RuntimeError("server not started")
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        """Listen on a free loopback port in a thread."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
                owner.handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        """Answer one GET, honouring If-None-Match and If-Modified-Since."""
        headers = {name.lower(): value for name, value in request.headers.items()}
        page = self.pages.get(request.path.split("?")[0])
        if page is not None and page.delay:
            time.sleep(page.delay)
        if page is None:
            status, body, extra = 404, b"not found", {"Content-Type": "text/plain"}
        else:
            etag = f'"{hashlib.sha256(page.body).hexdigest()[:16]}"' if page.etag else None
            fresh = (etag is not None and headers.get("if-none-match") == etag) or (
                etag is None
                and page.last_modified is not None
                and headers.get("if-modified-since") == page.last_modified
            )
            extra = {"Content-Type": page.content_type}
            if etag:
                extra["ETag"] = etag
            if page.last_modified:
                extra["Last-Modified"] = page.last_modified
            status, body = (304, b"") if fresh and page.status == 200 else (page.status, page.body)
        self.hits.append(Hit(request.path, headers, status))
        if page is not None and page.drip:
            self._drip(request, page, body, extra)
            return
        request.send_response(status)
        for name, value in extra.items():
            request.send_header(name, value)
        if status != 304:
            request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if status != 304:
            try:
                request.wfile.write(body)
            except OSError:  # the client stopped reading (a size limit): nothing to do
                return

    def _drip(
        self, request: BaseHTTPRequestHandler, page: Page, body: bytes, extra: dict[str, str]
    ) -> None:
        """Send the response one byte at a time until done or the client hangs up."""
        head = f"HTTP/1.1 {page.status} OK\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in extra.items())
        data = (head + "\r\n").encode("latin-1") + body
        started, sent, hung_up = time.monotonic(), 0, False
        try:
            if page.drip_after:
                request.wfile.write(data[: page.drip_after])
                sent = min(page.drip_after, len(data))
            for index in range(sent, len(data)):
                request.wfile.write(data[index : index + 1])
                request.wfile.flush()
                sent += 1
                time.sleep(page.drip)
        except OSError:  # BrokenPipeError, ConnectionResetError: the client gave up
            hung_up = True
        request.close_connection = True
        self.drips.append(Drip(request.path, started, time.monotonic(), sent, hung_up))
