"""Where and how to reach one SMTP server: the value the settings parse an ``smtp://`` URL into."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SmtpSecurity(StrEnum):
    """How the connection is protected: not at all, STARTTLS after EHLO, or TLS from the start."""

    PLAIN = "plain"
    STARTTLS = "starttls"
    TLS = "tls"


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """One SMTP server's address, protection and optional login."""

    host: str
    port: int
    security: SmtpSecurity
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        user = f"{self.username}@" if self.username else ""  # never the password
        return f"SmtpTarget({self.security.value}://{user}{self.host}:{self.port})"
