"""A local SMTP server (aiosmtpd) that stores every message it receives in a Maildir."""

from __future__ import annotations

import mailbox
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.errors import ConfigError

try:
    from aiosmtpd.controller import Controller
except ModuleNotFoundError as missing:  # a production install leaves the development tools out
    raise ConfigError(
        "the demo's capturing SMTP server needs aiosmtpd: pip install 'newsletter[devtools]'"
    ) from missing


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (aiosmtpd cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class MaildirHandler:
    """Stores the exact bytes received, with the envelope in X-Envelope-* headers."""

    maildir: Path
    keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._box = mailbox.Maildir(str(self.maildir), create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        prefix = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        key = self._box.add(mailbox.MaildirMessage(prefix + raw))
        self.keys.append(key)
        return "250 2.0.0 Message accepted for delivery"


def start_capture_server(
    maildir: Path, host: str = "127.0.0.1", port: int | None = None
) -> tuple[Controller, MaildirHandler]:
    """Start a capturing SMTP server in a background thread."""
    handler = MaildirHandler(maildir)
    controller = Controller(handler, hostname=host, port=port or free_port(host))
    controller.start()
    return controller, handler
