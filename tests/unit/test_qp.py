"""Tests for quoted-printable templates with atomic placeholders."""

from __future__ import annotations

import email
import email.policy
import quopri
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newsletter.digest.mime.qp import encode_qp_template, encode_qp_value, join_segments

NAMES = ("first_name", "unsub_url", "n")

# Literal text never contains "_", so it cannot spell a placeholder by accident; it leans on
# the characters quoted-printable cares about.
_literal_chars = st.one_of(
    st.sampled_from(list(" \t=\r\n@.aZ~é€😀\x00\x7f")),
    st.characters(codec="utf-8", exclude_characters="_"),
)
literal = st.text(_literal_chars, max_size=200)
value_text = st.text(
    st.one_of(st.sampled_from(list(" \t=\r\n.é😀")), st.characters(codec="utf-8")),
    max_size=300,
)


def _normalise(text: str) -> str:
    return re.sub(r"\r\n|\n", "\r\n", text)


def _decode(data: bytes) -> str:
    return quopri.decodestring(data).decode("utf-8")


def _check_lines(data: bytes) -> None:
    assert re.fullmatch(rb"[\x20-\x7e\r\n\t]*", data), "only printable ASCII, tab, CRLF"
    assert b"\r" not in data.replace(b"\r\n", b""), "no bare CR"
    assert b"\n" not in data.replace(b"\r\n", b""), "no bare LF"
    for line in data.split(b"\r\n"):
        assert len(line) <= 76, line
        assert not line.endswith((b" ", b"\t")), line


@st.composite
def templates(draw: st.DrawFn) -> tuple[list[str | tuple[str]], dict[str, str]]:
    """Alternating literal runs and placeholders (a 1-tuple), and a value per name."""
    items = draw(
        st.lists(st.one_of(literal, st.sampled_from(NAMES).map(lambda n: (n,))), max_size=8)
    )
    values = {name: draw(value_text) for name in NAMES}
    return items, values


def _render(items: list[str | tuple[str]], values: dict[str, str]) -> tuple[str, str]:
    """The template text and what it should decode to."""
    text: list[str] = []
    expected: list[str] = []
    run: list[str] = []
    for item in items:
        if isinstance(item, tuple):
            # Line ends are normalised within each literal run and each value: a CR and an
            # LF on either side of a placeholder are not one line break.
            expected.append(_normalise("".join(run)))
            run = []
            text.append(f"@@{item[0]}@@")
            expected.append(_normalise(values[item[0]]))
        else:
            run.append(item)
            text.append(item)
    expected.append(_normalise("".join(run)))
    return "".join(text), "".join(expected)


@settings(max_examples=400)
@given(templates())
@example(([("first_name",)], {"first_name": "", "unsub_url": "", "n": ""}))
@example((["a" * 75 + " ", ("n",), " "], {"first_name": "", "unsub_url": "", "n": "x " * 40}))
@example((["=" * 30 + "\n" + "é" * 30 + "\r\n"], {"first_name": "", "unsub_url": "", "n": ""}))
@example(([" \t", ("n",), ("n",), "\r", ("n",), "\n"], dict.fromkeys(NAMES, "\r\n ")))
@example((["a", ("n",), "b"], {"first_name": "", "unsub_url": "", "n": "x" * 76}))
def test_round_trip(case: tuple[list[str | tuple[str]], dict[str, str]]) -> None:
    items, values = case
    text, expected = _render(items, values)
    segments = encode_qp_template(text, NAMES)
    joined = join_segments(segments, {k: encode_qp_value(v) for k, v in values.items()})
    _check_lines(joined)
    assert _decode(joined) == expected


@given(literal)
def test_template_without_placeholders_is_plain_qp(text: str) -> None:
    segments = encode_qp_template(text, NAMES)
    assert all(isinstance(s, bytes) for s in segments)
    joined = join_segments(segments, {})
    _check_lines(joined)
    assert _decode(joined) == _normalise(text)


@given(value_text)
def test_value_lines_leave_room_for_a_soft_break(value: str) -> None:
    encoded = encode_qp_value(value)
    _check_lines(encoded)
    assert len(encoded.split(b"\r\n")[-1]) <= 75
    assert _decode(encoded) == _normalise(value)


@given(templates())
def test_email_package_decodes_the_part(
    case: tuple[list[str | tuple[str]], dict[str, str]],
) -> None:
    items, values = case
    text, expected = _render(items, values)
    body = join_segments(
        encode_qp_template(text, NAMES), {k: encode_qp_value(v) for k, v in values.items()}
    )
    raw = (
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body
    )
    part = email.message_from_bytes(raw, policy=email.policy.default)
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload.decode("utf-8") == expected


def test_placeholder_sits_on_its_own_line() -> None:
    segments = encode_qp_template("Hello @@first_name@@, welcome!\n", NAMES)
    assert segments == [b"Hello =\r\n", "first_name", b"=\r\n, welcome!\r\n"]


def test_placeholder_at_line_start_needs_no_leading_soft_break() -> None:
    segments = encode_qp_template("a\n@@n@@", NAMES)
    assert segments == [b"a\r\n", "n", b"=\r\n"]


def test_unknown_tokens_and_specials_are_literal_text() -> None:
    segments = encode_qp_template("@@other@@ = café \nend ", NAMES)
    assert segments == [b"@@other@@ =3D caf=C3=A9=20\r\nend=20"]


def test_long_line_is_wrapped_at_76() -> None:
    (encoded,) = encode_qp_template("x" * 200, ())
    assert isinstance(encoded, bytes)
    lines = encoded.split(b"\r\n")
    assert [len(line) for line in lines] == [76, 76, 50]
    assert lines[0].endswith(b"=")


def test_encoded_characters_are_not_split_across_lines() -> None:
    (encoded,) = encode_qp_template("a" * 74 + "é", ())
    assert isinstance(encoded, bytes)
    assert encoded == b"a" * 74 + b"=\r\n=C3=A9"


def test_plain_short_value_is_passed_through() -> None:
    assert encode_qp_value("https://example.org/u/abc?x=1") == b"https://example.org/u/abc?x=3D1"
    assert encode_qp_value("Ada") == b"Ada"
    assert encode_qp_value("") == b""
    assert encode_qp_value("Ada ") == b"Ada=20"


def test_long_value_is_split_with_soft_breaks() -> None:
    encoded = encode_qp_value("u" * 160)
    assert [len(line) for line in encoded.split(b"\r\n")] == [76, 76, 10]


def test_missing_value_names_the_placeholder() -> None:
    with pytest.raises(KeyError, match="first_name"):
        join_segments(encode_qp_template("@@first_name@@", NAMES), {})


def test_bad_placeholder_name_is_refused() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        encode_qp_template("x", ["a@@b"])


def test_prefix_names_match_the_longest() -> None:
    segments = encode_qp_template("@@n@@@@nn@@", ["n", "nn"])
    assert [s for s in segments if isinstance(s, str)] == ["n", "nn"]
