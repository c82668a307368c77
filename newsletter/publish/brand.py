"""A list's look in email and on the web: colours checked for WCAG contrast (pure).

Every text colour of the digest is chosen to reach 4.5:1 against its background in light and
dark mode; a list's accent colour (format checked by ``subscribers.lists.check_colour``) is
darkened (light) or lightened (dark) until it does too.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_CONTRAST = 4.5

#: The fixed palette of the digest; ``tests/unit/test_publish_pure.py`` checks every pair used
#: together.
LIGHT = {
    "page": "#f3f4f6",
    "card": "#ffffff",
    "text": "#1f2937",
    "muted": "#4b5563",
    "rule": "#d1d5db",
    "note": "#f9fafb",
}
DARK = {
    "page": "#0b1120",
    "card": "#111827",
    "text": "#f9fafb",
    "muted": "#d1d5db",
    "rule": "#374151",
    "note": "#1f2937",
}
DEFAULT_ACCENT = "#1d4ed8"


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb``."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    a, b = sorted((luminance(first), luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def _mix(colour: str, target: str, amount: float) -> str:
    parts = []
    for i in (1, 3, 5):
        start, end = int(colour[i : i + 2], 16), int(target[i : i + 2], 16)
        parts.append(round(start + (end - start) * amount))
    return "#" + "".join(f"{part:02x}" for part in parts)


def readable_on(colour: str, background: str, minimum: float = MIN_CONTRAST) -> str:
    """``colour`` moved toward black or white just enough to reach ``minimum`` on ``background``."""
    if contrast(colour, background) >= minimum:
        return colour
    target = "#000000" if luminance(background) > 0.18 else "#ffffff"
    for step in range(1, 21):
        candidate = _mix(colour, target, step / 20)
        if contrast(candidate, background) >= minimum:
            return candidate
    return target


@dataclass(frozen=True)
class Brand:
    """What a digest and the archive show of a list's identity."""

    name: str
    accent: str = DEFAULT_ACCENT
    logo_url: str = ""
    footer_text: str = ""
    postal_address: str = ""
    show_images: bool = False

    @property
    def accent_light(self) -> str:
        """The accent as text or button colour on the light card (4.5:1 or better)."""
        return readable_on(readable_on(self.accent, LIGHT["card"]), LIGHT["note"])

    @property
    def accent_dark(self) -> str:
        """The accent as text or button colour on the dark card (4.5:1 or better)."""
        return readable_on(readable_on(self.accent, DARK["card"]), DARK["note"])

    @property
    def button_text_dark(self) -> str:
        """Text on a dark-mode button (its background is ``accent_dark``)."""
        return DARK["card"]
