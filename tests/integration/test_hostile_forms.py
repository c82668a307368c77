"""Every console form, every field, hostile values: a normal page, never a 500 (issue 11 item 9).

The forms are not listed by hand: the test signs in as an admin, walks the console's pages, reads
every form on them (action, method, fields, buttons) and sends each one again with one field
replaced by a hostile value (bad time zones, non-integer and out-of-range hours, numbers beyond
64 bits, NUL bytes, very long text). A form added later is covered without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from newsletter.web.app import create_app
from tests.conftest import make_runtime, make_settings
from tests.fuzzing import EXAMPLES, deadline
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer
from tests.webapp import ADMIN, WebEnv, add_users, login

#: The values of issue 11 item 9 first; ``make fuzz`` (a larger budget) sends all of them.
HOSTILE_VALUES = [
    "Europe",
    "Etc/../../etc/passwd",
    "Europe/" + "x" * 293,
    "UTC\x00",
    "8.5",
    "24",
    "-1",
    "9" * 25,
    str(2**63),
    "²",
    "abc",
    "",
    "\x00",
    "१२",
    "-" + "9" * 19,
    "1e9",
    "NaN",
    " ",
    "<script>alert(1)</script>",
    "=1+1",
    "ａｄｍｉｎ@example.org",
    "x\r\nBcc: evil@example.net",
    "9" * 5000,
    "x" * 20_000,
]
VALUES = HOSTILE_VALUES if EXAMPLES >= 100 else HOSTILE_VALUES[:12]

START_PAGES = [
    "/admin",
    "/admin/lists",
    "/admin/lists/daily",
    "/admin/subscribers?list=daily",
    "/admin/subscribers/edit?list=daily&email=alice@example.com",
    "/admin/schedule",
    "/admin/users",
    "/admin/send?list=daily",
    "/admin/lists/daily/issue",
    "/admin/settings",
    "/admin/feeds",
    "/admin/webhooks",
    "/admin/tokens",
    "/admin/runs",
]
# Forms whose success ends what the rest of the walk needs (the session, the list, the people).
LAST = re.compile(r"/(logout|delete|erase|remove)\b|/users/")
NEVER = re.compile(r"/logout$")
MAX_PAGES = 60


@dataclass
class Form:
    """One form as a browser would send it."""

    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[tuple[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


class _FormReader(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "a" and a.get("href", "").startswith("/admin"):
            self.links.append(a["href"])
        if tag == "form":
            action = urljoin(self.page, a.get("action") or self.page)
            self.forms.append(Form(action=action, method=(a.get("method") or "get").lower()))
            return
        if not self.forms:
            return
        form = self.forms[-1]
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind == "file":
                form.files.append(name)
            elif kind in ("submit", "button", "image"):
                form.buttons.append((name, a.get("value", "")))
            elif kind != "radio" or "checked" in a:
                # checkboxes as if ticked: the ticked branch is the one with more to check
                form.fields.append((name, a.get("value", "on")))
        elif tag == "button" and name:
            form.buttons.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._select_value = name, None
        elif tag == "option" and self._select is not None:
            if self._select_value is None or "selected" in a:
                self._select_value = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if not self.forms:
            return
        if tag == "select" and self._select is not None:
            self.forms[-1].fields.append((self._select, self._select_value or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.forms[-1].fields.append((self._textarea, self._text))
            self._textarea = None


def read_page(path: str, html: str) -> tuple[list[Form], list[str]]:
    """The forms and the console links of one page."""
    reader = _FormReader(path)
    reader.feed(html)
    return reader.forms, reader.links


def console_forms(client: TestClient, *extra_pages: str) -> list[Form]:
    """Every distinct form on the console pages reachable from START_PAGES."""
    seen_pages: set[str] = set()
    queue = [*START_PAGES, *extra_pages]
    forms: dict[tuple[str, str, tuple[str, ...], tuple[tuple[str, str], ...]], Form] = {}
    while queue and len(seen_pages) < MAX_PAGES:
        path = queue.pop(0)
        # one page per route shape: /admin/runs/1 and /admin/runs/2 have the same forms
        shape = re.sub(r"\d+", "N", urlsplit(path).path)
        if shape in seen_pages or "export" in path or "logout" in path:
            continue
        seen_pages.add(shape)
        response = client.get(path)
        if response.status_code != 200 or "html" not in response.headers.get("content-type", ""):
            continue
        found, links = read_page(path, response.text)
        queue.extend(links)
        for form in found:
            key = (
                re.sub(r"\d+", "N", form.action),
                form.method,
                tuple(sorted(name for name, _ in form.fields)),
                tuple(form.buttons),
            )
            forms.setdefault(key, form)
    return sorted(forms.values(), key=lambda form: bool(LAST.search(form.action)))


@pytest.fixture
def console(sqlite_url: str, smtp_server: RecordingServer) -> Iterator[WebEnv]:
    runtime = make_runtime(make_settings(sqlite_url, smtp_server, base_url="http://testserver"))
    now = runtime.clock()
    seed_list(runtime.engine, now, ["tech", "science"])
    subscribe(runtime.engine, now, "alice@example.com", ["tech"], name="Alice")
    subscribe(runtime.engine, now, "bob@example.com", ["science"], name="Bob")
    add_articles(runtime.engine, now, [["tech"], ["science"]])
    add_users(runtime)
    # a server error is an answer to count here, not an exception to stop at
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield WebEnv(runtime=runtime, client=client)
    runtime.dispose()


def _send(client: TestClient, form: Form, data: list[tuple[str, str]]) -> int:
    target = urlsplit(form.action)
    path = target.path + (f"?{target.query}" if target.query else "")
    with deadline():
        if form.method == "post":
            response = client.post(path, data=dict_of_lists(data), follow_redirects=False)
        else:
            response = client.get(path, params=dict_of_lists(data), follow_redirects=False)
    return response.status_code


def dict_of_lists(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Form pairs as httpx wants them (a name may repeat, like checked topics)."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def test_every_console_form_answers_hostile_values_with_a_page(console: WebEnv) -> None:
    client = console.client
    csrf = login(client, ADMIN)
    run = client.post(
        "/admin/send",
        data={"csrf": csrf, "list": "daily", "confirm": "yes"},
        follow_redirects=False,
    )
    assert run.status_code == 303, run.text[-300:]
    forms = console_forms(client, run.headers["location"])
    fields = sorted({name for form in forms for name, _ in form.fields})
    # The walk must find the forms this test is about, or it proves nothing.
    for expected in (
        "default_send_hour",
        "default_timezone",
        "send_hour",
        "timezone",
        "at",
        "lead_article_id",
    ):
        assert expected in fields, (expected, fields)
    failures: list[str] = []
    sent = 0
    for form in forms:
        if NEVER.search(form.action):
            continue
        for button in form.buttons or [("", "")]:
            extra = [button] if button[0] else []
            for index, (name, _) in enumerate(form.fields):
                if name == "csrf":
                    continue
                for value in VALUES:
                    data = [*form.fields[:index], (name, value), *form.fields[index + 1 :]]
                    status = _send(client, form, data + extra)
                    sent += 1
                    if status >= 500:
                        failures.append(f"{form.method} {form.action} {name}={value[:40]!r}")
                    if status == 401:  # a form ended the session (it should not): sign in again
                        login(client, ADMIN)
    assert sent > 100
    assert not failures, f"{len(failures)} of {sent} answered 5xx:\n" + "\n".join(failures)
