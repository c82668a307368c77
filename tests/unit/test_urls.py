"""Tests for canonical article URLs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.content.urls import absolute_url, canonical_url, is_tracking_param


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.COM/News/Story", "https://example.com/News/Story"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://example.com/a?", "https://example.com/a"),
        (
            "https://example.com/a?utm_source=rss&utm_medium=feed&UTM_Campaign=x",
            "https://example.com/a",
        ),
        (
            "https://example.com/a?fbclid=abc&gclid=def&mc_cid=1&mc_eid=2&ref=tw&igshid=9",
            "https://example.com/a",
        ),
        ("https://example.com/a?b=2&a=1&utm_term=z", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?tag=x&id=1&tag=a", "https://example.com/a?id=1&tag=x&tag=a"),
        ("https://example.com/a?q=caf%C3%A9+bar&p=", "https://example.com/a?p=&q=caf%C3%A9+bar"),
        ("https://user@Example.com:443/a", "https://user@example.com/a"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
        ("https://[2001:db8::1]:8080/a", "https://[2001:db8::1]:8080/a"),
        ("https://example.com./a", "https://example.com/a"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_keeps_path_case_and_encoding() -> None:
    url = "https://example.com/Path%20With/Caps?Key=Value"
    assert canonical_url(url) == url


def test_two_links_to_one_story_agree() -> None:
    a = "https://www.example.com/news/story-1?utm_source=newsletter&utm_medium=email#top"
    b = "HTTPS://WWW.EXAMPLE.COM:443/news/story-1?fbclid=IwAR0xyz"
    assert canonical_url(a) == canonical_url(b)


@pytest.mark.parametrize("name", ["utm_source", "UTM_MEDIUM", "fbclid", "gclid", "mc_eid", "ref"])
def test_tracking_params_are_recognised(name: str) -> None:
    assert is_tracking_param(name)


@pytest.mark.parametrize("name", ["id", "page", "q", "reference", "utmost"])
def test_content_params_are_kept(name: str) -> None:
    assert not is_tracking_param(name)


@pytest.mark.parametrize(
    ("href", "base", "expected"),
    [
        ("/story/1", "https://example.com/news/", "https://example.com/story/1"),
        ("story/1", "https://example.com/news/index.html", "https://example.com/news/story/1"),
        ("//cdn.example.com/a.jpg", "https://example.com/", "https://cdn.example.com/a.jpg"),
        ("https://other.example/x", "https://example.com/", "https://other.example/x"),
        (" /a ", "https://example.com", "https://example.com/a"),
        ("/a", None, "/a"),
        ("/a", "", "/a"),
    ],
)
def test_absolute_url(href: str, base: str | None, expected: str) -> None:
    assert absolute_url(href, base) == expected


_hosts = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,10}\.(com|org|example)", fullmatch=True)
_segments = st.lists(st.from_regex(r"[A-Za-z0-9_~.-]{1,8}", fullmatch=True), max_size=4)
_params = st.lists(
    st.tuples(
        st.sampled_from(["id", "page", "utm_source", "fbclid", "q", "ref", "lang"]),
        st.from_regex(r"[a-z0-9%+]{0,6}", fullmatch=True),
    ),
    max_size=5,
)


@given(
    scheme=st.sampled_from(["http", "HTTP", "https", "Https"]),
    host=_hosts,
    port=st.sampled_from(["", ":80", ":443", ":8080"]),
    path=_segments,
    params=_params,
    fragment=st.sampled_from(["", "#top", "#x=1"]),
)
def test_canonical_url_is_idempotent_and_clean(
    scheme: str, host: str, port: str, path: list[str], params: list[tuple[str, str]], fragment: str
) -> None:
    query = "&".join(f"{k}={v}" for k, v in params)
    url = f"{scheme}://{host}{port}/{'/'.join(path)}{'?' + query if query else ''}{fragment}"
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert "#" not in once
    assert "utm_" not in once and "fbclid" not in once and "ref=" not in once
    assert (
        once.split("://", 1)[1].split("/", 1)[0] == once.split("://", 1)[1].split("/", 1)[0].lower()
    )
