"""Per-delivery return paths (VERP) that tell which delivery a bounce belongs to."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

# 10 base32 characters = 50 bits: far beyond guessing by someone who wants to fake bounces
# for other people's deliveries, and short enough to stay well inside the 64-octet local part.
_MAC_LENGTH = 10
_ID_PATTERN = r"(0|[1-9]\d{0,18})"  # canonical form only, so one id has exactly one address


def _mac(secret: bytes, local: str, delivery_id: int) -> str:
    digest = hmac.new(secret, f"verp:{local}+{delivery_id}".encode(), hashlib.sha256).digest()
    # Lower-case base32: some MTAs fold the case of local parts, and base32 survives that.
    return base64.b32encode(digest).decode("ascii").lower()[:_MAC_LENGTH]


def _check_local(local: str) -> str:
    if not local or not re.fullmatch(r"[A-Za-z0-9._-]+", local):
        raise ValueError(f"VERP local part must be letters, digits, '.', '_' or '-': {local!r}")
    return local.lower()


def make_return_path(
    delivery_id: int, *, secret: bytes, local: str = "bounces", domain: str
) -> str:
    """Return the envelope sender `local+<id>-<mac>@domain` for one delivery."""
    if isinstance(delivery_id, bool) or not 0 <= delivery_id < 10**19:
        raise ValueError(f"delivery id out of range: {delivery_id!r}")
    if not secret:
        raise ValueError("VERP secret must not be empty")
    if not domain or "@" in domain or domain != domain.strip():
        raise ValueError(f"invalid VERP domain: {domain!r}")
    local = _check_local(local)
    return f"{local}+{delivery_id}-{_mac(secret, local, delivery_id)}@{domain}"


def parse_return_path(address: str, *, secret: bytes, local: str = "bounces") -> int | None:
    """Return the delivery id in a return path made by make_return_path, None if forged."""
    local = _check_local(local)
    address = address.strip().removeprefix("<").removesuffix(">")
    local_part, at, _domain = address.rpartition("@")
    if not at:
        return None
    match = re.fullmatch(
        re.escape(local) + r"\+" + _ID_PATTERN + rf"-([a-z2-7]{{{_MAC_LENGTH}}})",
        local_part.lower(),
    )
    if match is None:
        return None
    delivery_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2), _mac(secret, local, delivery_id)):
        return None
    return delivery_id
