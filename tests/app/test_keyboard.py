"""Keyboard use in the markup: a skip link first on every page, no tab stop inside aria-hidden content,
and a form with errors moves focus to its error summary (issue 17, defect 7).

Escape closing the account menu is JavaScript: tests/browser/test_keyboard.py.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from accounts.models import User
from tests.support.accounts import PASSWORD, workspace_of
from tests.support.factories import make_cost, make_generation, make_image, make_persona
from tests.support.keys import make_key

pytestmark = pytest.mark.django_db

FOCUSABLE = {"a", "button", "input", "select", "textarea", "summary"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Focusables(HTMLParser):
    """Collect the elements a Tab key reaches, in order, and those that sit inside aria-hidden content."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden from assistive technology)
        self.tab_stops: list[dict[str, str | None]] = []
        self.hidden_tab_stops: list[dict[str, str | None]] = []
        self.autofocus: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {"tag": tag, **dict(attrs)}
        hidden = (self.stack[-1][1] if self.stack else False) or attributes.get("aria-hidden") == "true"
        tabindex = attributes.get("tabindex")
        reachable = (
            (tag != "a" or "href" in attributes)
            and attributes.get("type") != "hidden"
            and (tag in FOCUSABLE or tabindex is not None)
            and tabindex != "-1"
        )
        if reachable:
            (self.hidden_tab_stops if hidden else self.tab_stops).append(attributes)
        if "autofocus" in attributes:
            self.autofocus.append(attributes)
        if tag not in VOID:
            self.stack.append((tag, hidden))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break


def parse(html: bytes) -> Focusables:
    parser = Focusables()
    parser.feed(html.decode())
    return parser


@pytest.fixture
def with_data(alice: User, double, media_root):
    """A workspace with a key, a persona, an avatar and a charge: the pages in their full state."""
    workspace = workspace_of(alice)
    make_key(alice, "openai")
    persona = make_persona(workspace, alice, name="Ana")
    generation = make_generation(workspace, alice, persona=persona)
    make_image(generation)
    make_cost(generation, amount_nanousd=11_000_000)
    return generation


SIGNED_OUT = ["/", "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]
SIGNED_IN = [
    "/",
    "/personas/",
    "/personas/new/",
    "/generate/",
    "/gallery/",
    "/usage/",
    "/keys/",
    "/workspace/",
]


@pytest.mark.parametrize("path", SIGNED_OUT)
def test_the_skip_link_is_the_first_tab_stop_signed_out(client, db, path):
    page = parse(client.get(path).content)
    first = page.tab_stops[0]
    assert (first["tag"], first["href"], first["class"]) == ("a", "#main", "skip-link")


@pytest.mark.parametrize("path", SIGNED_IN)
def test_the_skip_link_is_the_first_tab_stop_signed_in(alice_client, with_data, path):
    response = alice_client.get(path)
    assert response.status_code == 200
    first = parse(response.content).tab_stops[0]
    assert (first["tag"], first["href"]) == ("a", "#main")
    assert b'<main class="container" id="main">' in response.content
    assert b"Skip to main content" in response.content


@pytest.mark.parametrize("path", [*SIGNED_IN, "/generations/{code}/"])
def test_no_tab_stop_hides_inside_aria_hidden_content(alice_client, with_data, path):
    page = parse(alice_client.get(path.format(code=with_data.code)).content)
    assert page.hidden_tab_stops == []


def test_each_chart_bar_is_a_link_named_by_its_month_and_amount(alice_client, with_data):
    html = alice_client.get("/usage/").content.decode()
    chart = html.split('<svg class="chart"')[1].split("</svg>")[0]
    assert 'aria-hidden="true" focusable="false"' not in chart
    links = [stop for stop in parse(html.encode()).tab_stops if "month=" in (stop.get("href") or "")]
    assert len(links) == 12  # one a month, no second set hidden in the screen-reader table
    assert all((link.get("aria-label") or "").endswith(", show this month") for link in links)
    assert any("$0.011" in (link.get("aria-label") or "") for link in links)


def test_a_field_error_moves_focus_to_the_error_summary_which_links_to_the_field(client, db):
    response = client.post("/accounts/signup/", {"email": "not an email", "password": PASSWORD})
    assert response.status_code == 200
    page = parse(response.content)
    summary = page.autofocus[0]  # the first autofocus of a page wins
    assert (summary["data-testid"], summary["tabindex"], summary["role"]) == ("error-summary", "-1", "alert")
    assert b'<li><a href="#id_email">Email</a></li>' in response.content


def test_a_form_error_on_log_in_focuses_the_summary_before_the_email_field(client, alice):
    response = client.post("/accounts/login/", {"login": "alice@example.com", "password": "wrong"})
    page = parse(response.content)
    assert [a.get("data-testid") or a["name"] for a in page.autofocus] == ["error-summary", "login"]
    assert b"Correct the fields marked below" not in response.content  # not a field's error


def test_a_refused_generation_focuses_the_summary(alice, alice_client, double):
    make_key(alice, "fal")
    response = alice_client.post(
        "/generate/", {"model": "fal-ai/flux-2-max", "prompt": "", "size": "1024x1024", "n": "1"}
    )
    page = parse(response.content)
    assert page.autofocus[0]["data-testid"] == "error-summary"
    assert b'<li><a href="#id_prompt">Prompt</a></li>' in response.content


def test_a_page_without_errors_has_no_summary(client, db):
    assert b"error-summary" not in client.get("/accounts/signup/").content
