"""The image viewer page: /gallery/<code>/, one avatar large with previous and next in the same filters."""

from __future__ import annotations

import re

import pytest

from tests.support.accounts import workspace_of
from tests.support.factories import make_generation, make_image, make_persona

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


@pytest.fixture
def three(alice, workspace, persona):
    """Three avatars of Budget Ben, newest last, and one of another persona between them."""
    first = make_image(make_generation(workspace, alice, persona=persona))
    cora = make_image(make_generation(workspace, alice, persona=make_persona(workspace, alice, name="Cora")))
    second = make_image(make_generation(workspace, alice, persona=persona, prompt="Ben by the sea"))
    third = make_image(make_generation(workspace, alice, persona=persona))
    return {"first": first, "cora": cora, "second": second, "third": third}


def test_it_shows_the_image_large_with_its_facts_and_actions(alice_client, three):
    image = three["second"]
    response = alice_client.get(f"/gallery/{image.code}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Avatar for Budget Ben</h1>" in html
    assert f'src="/images/{image.code}/"' in html
    assert "Ben by the sea" in html
    assert f'href="/images/{image.code}/?download=1"' in html
    assert f'href="/generations/{image.generation.code}/"' in html
    assert f'href="/gallery/{image.code}/delete/"' in html
    assert f'action="/gallery/{image.code}/favourite/"' in html


def test_previous_and_next_walk_the_gallery_newest_first(alice_client, three):
    html = alice_client.get(f"/gallery/{three['cora'].code}/").content.decode()
    assert link(html, "prev") == f"/gallery/{three['second'].code}/"
    assert link(html, "next") == f"/gallery/{three['first'].code}/"
    newest = alice_client.get(f"/gallery/{three['third'].code}/").content.decode()
    assert link(newest, "prev") is None and "First avatar" in newest
    oldest = alice_client.get(f"/gallery/{three['first'].code}/").content.decode()
    assert link(oldest, "next") is None and "Last avatar" in oldest


def test_previous_and_next_honour_the_filters(alice_client, persona, three):
    query = f"persona={persona.code}"
    html = alice_client.get(f"/gallery/{three['second'].code}/?{query}").content.decode()
    # Cora's avatar is not in this persona's gallery: next skips it.
    assert link(html, "prev") == f"/gallery/{three['third'].code}/?{query}"
    assert link(html, "next") == f"/gallery/{three['first'].code}/?{query}"
    assert f'href="/gallery/?{query}"' in html  # back to the gallery, still filtered


def test_images_with_the_same_time_keep_a_stable_order(alice, alice_client, workspace, persona):
    generation = make_generation(workspace, alice, persona=persona, n=3)
    images = [make_image(generation, i) for i in range(3)]
    type(images[0]).objects.filter(generation=generation).update(created_at=images[0].created_at)
    gallery = alice_client.get("/gallery/").content.decode()
    order = re.findall(r'href="/gallery/([0-9a-f-]{36})/"', gallery)
    assert order == [str(image.code) for image in reversed(images)]
    middle = alice_client.get(f"/gallery/{order[1]}/").content.decode()
    assert link(middle, "prev") == f"/gallery/{order[0]}/"
    assert link(middle, "next") == f"/gallery/{order[2]}/"


def test_back_to_the_gallery_opens_the_page_that_holds_the_image(alice, alice_client, workspace, persona):
    generation = make_generation(workspace, alice, persona=persona)
    images = [make_image(generation, i) for i in range(52)]
    html = alice_client.get(f"/gallery/{images[0].code}/").content.decode()  # the oldest: page 2
    assert 'href="/gallery/?page=2"' in html
    html = alice_client.get(f"/gallery/{images[-1].code}/").content.decode()
    assert 'href="/gallery/"' in html


def test_bad_filters_do_not_break_the_viewer(alice_client, three):
    for query in ("persona=nope", "model=%00", "q=%00", "q=" + "x" * 10_000, "favourites=1"):
        response = alice_client.get(f"/gallery/{three['second'].code}/?{query}")
        assert response.status_code == 200, query
        assert link(response.content.decode(), "next") is None, query


def test_members_open_it_and_another_workspace_gets_404(bob_client, charlie_client, three):
    url = f"/gallery/{three['first'].code}/"
    assert bob_client.get(url).status_code == 200
    response = charlie_client.get(url)
    assert response.status_code == 404
    assert b"Budget Ben" not in response.content


def test_another_workspace_s_images_are_never_neighbours(alice, charlie, charlie_client, three):
    own = make_image(make_generation(workspace_of(charlie), charlie))
    html = charlie_client.get(f"/gallery/{own.code}/").content.decode()
    assert link(html, "prev") is None and link(html, "next") is None
    assert not any(str(image.code) in html for image in three.values())
