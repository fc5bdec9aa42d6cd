from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.support.accounts import workspace_of
from tests.support.factories import make_generation, make_image, make_persona

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def test_it_explains_what_a_persona_is_when_there_are_none(alice_client):
    response = alice_client.get("/personas/")
    assert response.status_code == 200
    assert b"No personas yet" in response.content
    assert b"A persona describes someone" in response.content
    assert b'href="/personas/new/"' in response.content


def test_it_shows_each_persona_with_its_latest_avatar(alice, alice_client, workspace, persona):
    older = make_image(make_generation(workspace, alice, persona=persona))
    latest = make_image(make_generation(workspace, alice, persona=persona))
    make_persona(workspace, alice, name="Careful Cora")
    response = alice_client.get("/personas/")
    assert b"Budget Ben" in response.content
    assert b"Careful Cora" in response.content
    assert f"/images/{latest.code}/thumb/".encode() in response.content
    assert f"/images/{older.code}/thumb/".encode() not in response.content
    assert f'href="/generate/?persona={persona.code}"'.encode() in response.content


@pytest.mark.parametrize("count", [3, 30])
def test_its_query_count_does_not_grow_with_the_number_of_personas(
    alice, alice_client, workspace, count, django_assert_max_num_queries
):
    for i in range(count):
        make_image(make_generation(workspace, alice, persona=make_persona(workspace, alice, name=f"P{i}")))
    with django_assert_max_num_queries(6):
        response = alice_client.get("/personas/")
    assert response.content.count(b'class="card persona-card"') == count


def test_members_see_the_workspace_personas(bob_client, persona):
    response = bob_client.get("/personas/")
    assert b"Budget Ben" in response.content


def test_it_never_lists_another_workspace_personas(alice, charlie, charlie_client, persona):
    make_persona(workspace_of(charlie), charlie, name="Charlie's own")
    response = charlie_client.get("/personas/")
    assert b"Budget Ben" not in response.content
    assert str(persona.code).encode() not in response.content
    assert b"Charlie&#x27;s own" in response.content


def test_it_requires_login(client):
    response = client.get("/personas/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


class LinkNames(HTMLParser):
    """Collect each link's accessible name, roughly as a screen reader computes it: its aria-label, else
    its text and its images' alt text, leaving out what is aria-hidden."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (href, name)
        self.current: list[str] | None = None
        self.href = ""
        self.hidden_depth = 0
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a" and "href" in attributes:
            self.href = attributes["href"] or ""
            label = attributes.get("aria-label")
            self.current = [label] if label else []
            self.depth = 0
            return
        if self.current is None or tag == "img":
            if self.current is not None and not self.hidden_depth:
                self.current.append(attributes.get("alt") or "")
            return
        self.depth += 1
        if self.hidden_depth or attributes.get("aria-hidden") == "true":
            self.hidden_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self.current is None:
            return
        if tag == "a":
            self.links.append((self.href, " ".join(" ".join(self.current).split())))
            self.current = None
            return
        self.depth -= 1
        if self.hidden_depth:
            self.hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if self.current is not None and not self.hidden_depth:
            self.current.append(data)


def test_every_link_has_a_name_even_a_persona_without_an_avatar(alice, alice_client, workspace, persona):
    make_image(make_generation(workspace, alice, persona=persona))  # Budget Ben: a picture
    cora = make_persona(workspace, alice, name="Careful Cora")  # a letter tile
    parser = LinkNames()
    parser.feed(alice_client.get("/personas/").content.decode())
    unnamed = [href for href, name in parser.links if not name]
    assert unnamed == []
    names = dict(reversed(parser.links))  # each persona's first link: its tile
    assert names[f"/personas/{cora.code}/"] == "Careful Cora, no avatar yet"
    assert names[f"/personas/{persona.code}/"] == "Latest avatar of Budget Ben"
