"""Canonical forms of article URLs, so one story reached by two links is stored once."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

# Query parameters that only say how a reader arrived; they never select content.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        "igsh",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "hsctatracking",
        "mkt_tok",
        "_ga",
        "_gl",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "cmpid",
        "ocid",
        "icid",
        "ncid",
        "soc_src",
        "soc_trk",
        "s_cid",
        "wt.mc_id",
        "vero_id",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "smid",
        "at_medium",
        "at_campaign",
    }
)
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_tracking_param(name: str) -> bool:
    """Return whether a query parameter name is a known tracking parameter."""
    key = unquote_plus(name).strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """Return ``url`` in canonical form: lower-case scheme and host, no default port,
    fragment or tracking parameters, remaining query parameters sorted by name."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    netloc = _canonical_netloc(parts.netloc, scheme)
    path = parts.path
    if scheme in _DEFAULT_PORTS and netloc and not path:
        path = "/"
    return urlunsplit((scheme, netloc, path, _canonical_query(parts.query), ""))


def absolute_url(href: str, base: str | None) -> str:
    """Return ``href`` resolved against ``base`` (unchanged when there is no base)."""
    href = href.strip()
    if not base:
        return href
    return urljoin(base.strip(), href)


def _canonical_netloc(netloc: str, scheme: str) -> str:
    """Lower-case the host and drop the port when it is the scheme's default."""
    userinfo, at, hostport = netloc.rpartition("@")
    host, port = hostport, ""
    match = re.fullmatch(r"(.*):(\d*)", hostport)
    # A bracketed IPv6 literal has colons of its own; only a trailing :digits is a port.
    if match and not match.group(1).endswith(":"):
        host, port = match.group(1), match.group(2)
    host = host.lower().rstrip(".") if not host.startswith("[") else host.lower()
    if port == "" or (port.isdigit() and int(port) == _DEFAULT_PORTS.get(scheme)):
        port_part = ""
    else:
        port_part = ":" + port
    return f"{userinfo}{at}{host}{port_part}"


def _canonical_query(query: str) -> str:
    """Drop tracking parameters and sort the rest by name, keeping their raw encoding."""
    pairs = [p for p in query.split("&") if p and p.split("=", 1)[0]]
    kept = [p for p in pairs if not is_tracking_param(p.split("=", 1)[0])]
    # A stable sort on the decoded name keeps repeated parameters in their original order.
    kept.sort(key=lambda p: unquote_plus(p.split("=", 1)[0]))
    return "&".join(kept)


def web_url(url: str | None) -> str | None:
    """Return ``url`` stripped when it is an absolute http(s) URL with a host, else None.

    Article and image links end up in sent digests: ``javascript:``, ``data:``, ``file:``
    and relative links are dropped at ingest.
    """
    if not url:
        return None
    url = url.strip()
    if len(url) > 2000 or any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and host else None


def site_name(url: str | None) -> str:
    """Return the host name of an http(s) URL without ``www.``, or '' for anything else."""
    if not url or web_url(url) is None:
        return ""
    host = urlsplit(url.strip()).hostname or ""
    return host.removeprefix("www.")
