from __future__ import annotations

import re

import pytest

from tests.support.accounts import workspace_of
from tests.support.factories import make_generation, make_image, make_persona

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def thumbnails(content: bytes) -> list[str]:
    return re.findall(r"/images/([0-9a-f-]{36})/thumb/", content.decode())


def test_it_invites_to_generate_when_there_are_no_avatars(alice_client):
    response = alice_client.get("/gallery/")
    assert response.status_code == 200
    assert b"No avatars yet" in response.content
    assert b'href="/generate/"' in response.content


def test_it_shows_every_image_newest_first_with_captions(alice, alice_client, workspace, persona):
    first = make_generation(workspace, alice, persona=persona)
    old = make_image(first)
    second = make_generation(workspace, alice, persona=persona, provider="fal", model="fal-ai/flux-2-max")
    new = [make_image(second, 0), make_image(second, 1)]
    response = alice_client.get("/gallery/")
    shown = thumbnails(response.content)
    assert shown == [str(new[1].code), str(new[0].code), str(old.code)]
    # Each thumbnail opens its image's page (the viewer), which links on to the generation.
    for image in (*new, old):
        assert f'href="/gallery/{image.code}/"'.encode() in response.content
    assert b"fal-ai/flux-2-max" in response.content
    assert b"Budget Ben" in response.content


def test_it_filters_by_persona(alice, alice_client, workspace, persona):
    mine = make_image(make_generation(workspace, alice, persona=persona))
    cora = make_persona(workspace, alice, name="Careful Cora")
    theirs = make_image(make_generation(workspace, alice, persona=cora))
    response = alice_client.get("/gallery/", {"persona": str(cora.code)})
    assert thumbnails(response.content) == [str(theirs.code)]
    assert str(mine.code) not in response.content.decode()
    assert f'<option value="{cora.code}" selected>'.encode() in response.content


def test_it_filters_by_model(alice, alice_client, workspace, persona):
    make_image(make_generation(workspace, alice, persona=persona, model="gpt-image-2"))
    flux = make_image(
        make_generation(workspace, alice, persona=persona, provider="fal", model="fal-ai/flux-2-pro")
    )
    response = alice_client.get("/gallery/", {"model": "fal-ai/flux-2-pro"})
    assert thumbnails(response.content) == [str(flux.code)]
    assert b'<option value="gpt-image-2">' in response.content
    assert b'<option value="fal-ai/flux-2-pro" selected>' in response.content


def test_it_shows_nothing_for_a_malformed_or_foreign_persona_filter(
    alice, alice_client, workspace, persona, charlie
):
    make_image(make_generation(workspace, alice, persona=persona))
    foreign = make_persona(workspace_of(charlie), charlie)
    for value in ("not-a-uuid", str(foreign.code)):
        response = alice_client.get("/gallery/", {"persona": value})
        assert response.status_code == 200
        assert thumbnails(response.content) == []
        assert b"No avatars match these filters" in response.content


def test_it_pages_by_fifty_and_keeps_the_filters(alice, alice_client, workspace, persona):
    generation = make_generation(workspace, alice, persona=persona, n=4)
    images = [make_image(generation, i) for i in range(55)]
    first = alice_client.get("/gallery/", {"persona": str(persona.code), "model": "gpt-image-2"})
    assert len(thumbnails(first.content)) == 50
    assert b"Page 1 of 2" in first.content
    next_link = re.search(r'rel="next" href="([^"]+)"', first.content.decode()).group(1).replace("&amp;", "&")
    assert f"persona={persona.code}" in next_link
    assert "model=gpt-image-2" in next_link
    assert "page=2" in next_link
    second = alice_client.get("/gallery/" + next_link)
    assert thumbnails(second.content) == [str(image.code) for image in reversed(images[:5])]


@pytest.mark.parametrize("count", [5, 60])
def test_its_query_count_does_not_grow_with_the_number_of_images(
    alice, alice_client, workspace, persona, count, django_assert_max_num_queries
):
    for _ in range(count):
        make_image(make_generation(workspace, alice, persona=persona), 0)
    with django_assert_max_num_queries(8):
        response = alice_client.get("/gallery/")
    assert len(thumbnails(response.content)) == min(count, 50)


def test_members_see_the_workspace_images(alice, bob_client, workspace, persona):
    image = make_image(make_generation(workspace, alice, persona=persona))
    assert thumbnails(bob_client.get("/gallery/").content) == [str(image.code)]


def test_it_never_shows_another_workspace_images(alice, workspace, persona, charlie, charlie_client):
    make_image(make_generation(workspace, alice, persona=persona))
    own = make_image(make_generation(workspace_of(charlie), charlie, model="gpt-image-1.5"))
    response = charlie_client.get("/gallery/")
    assert thumbnails(response.content) == [str(own.code)]
    assert b"Budget Ben" not in response.content
    assert b"gpt-image-2" not in response.content


def test_filters_persona_model_and_favourites_submit_as_chosen_with_an_apply_button(
    alice, alice_client, workspace, persona
):
    make_image(make_generation(workspace, alice, persona=persona))
    html = alice_client.get("/gallery/").content.decode()
    assert "data-autosubmit" in html  # static/js/app.js submits the form when a select changes
    assert '<button type="submit" class="button button-secondary">Apply</button>' in html
    for field, label in (
        ("q", "Search"),
        ("persona", "Persona"),
        ("model", "Model"),
        ("favourites", "Favourites only"),
    ):
        assert f'<label for="filter-{field}">{label}</label>' in html
        assert f'id="filter-{field}"' in html


def test_the_filters_carry_over_to_each_thumbnail_s_viewer_link(alice, alice_client, workspace, persona):
    image = make_image(make_generation(workspace, alice, persona=persona))
    response = alice_client.get("/gallery/", {"persona": str(persona.code), "q": "ben", "favourites": "1"})
    assert thumbnails(response.content) == []  # not a favourite yet
    image.favourite = True
    image.save()
    response = alice_client.get("/gallery/", {"persona": str(persona.code), "q": "ben", "favourites": "1"})
    assert thumbnails(response.content) == [str(image.code)]
    assert (
        f'href="/gallery/{image.code}/?persona={persona.code}&amp;q=ben&amp;favourites=1"'
        in response.content.decode()
    )


def test_favourites_only_shows_the_starred_images(alice, alice_client, workspace, persona):
    generation = make_generation(workspace, alice, persona=persona, n=3)
    plain, starred, other = (make_image(generation, i) for i in range(3))
    for image in (starred, other):
        image.favourite = True
        image.save()
    response = alice_client.get("/gallery/", {"favourites": "1"})
    assert thumbnails(response.content) == [str(other.code), str(starred.code)]
    assert b'id="filter-favourites" checked' in response.content
    assert str(plain.code) not in response.content.decode()


def test_search_matches_persona_names_and_prompts_ignoring_case(alice, alice_client, workspace, persona):
    ben = make_image(make_generation(workspace, alice, persona=persona, prompt="A calm portrait."))
    cora = make_persona(workspace, alice, name="Careful Cora")
    lighthouse = make_image(make_generation(workspace, alice, persona=cora, prompt="A LIGHTHOUSE keeper"))
    assert thumbnails(alice_client.get("/gallery/", {"q": "budget BEN"}).content) == [str(ben.code)]
    assert thumbnails(alice_client.get("/gallery/", {"q": "lighthouse"}).content) == [str(lighthouse.code)]
    assert thumbnails(alice_client.get("/gallery/", {"q": "  portrait  "}).content) == [str(ben.code)]
    response = alice_client.get("/gallery/", {"q": "lighthouse", "persona": str(persona.code)})
    assert thumbnails(response.content) == []
    assert b"No avatars match these filters" in response.content
    assert b'value="lighthouse"' in response.content  # the search stays in its field


def test_search_text_with_like_wildcards_matches_them_literally(alice, alice_client, workspace, persona):
    make_image(make_generation(workspace, alice, persona=persona, prompt="A portrait."))
    percent = make_image(make_generation(workspace, alice, persona=persona, prompt="100% cotton shirt"))
    assert thumbnails(alice_client.get("/gallery/", {"q": "%"}).content) == [str(percent.code)]
    assert thumbnails(alice_client.get("/gallery/", {"q": "_"}).content) == []


@pytest.mark.parametrize("q", ["\x00", "ben\x00", "a\x00%"])
def test_a_nul_in_the_search_matches_nothing(alice, alice_client, workspace, persona, q):
    make_image(make_generation(workspace, alice, persona=persona))
    response = alice_client.get("/gallery/", {"q": q})
    assert response.status_code == 200
    assert thumbnails(response.content) == []


def test_a_search_that_is_too_long_is_refused_beside_its_field(alice, alice_client, workspace, persona):
    make_image(make_generation(workspace, alice, persona=persona))
    response = alice_client.get("/gallery/", {"q": "Budget Ben " * 5000})
    assert response.status_code == 200
    assert thumbnails(response.content) == []
    html = response.content.decode()
    assert 'aria-describedby="filter-q_error"' in html
    assert (
        '<div class="field-errors" id="filter-q_error"><p>Search for at most 200 characters.</p></div>'
        in html
    )
