"""Starring an avatar: a POST that works as a plain form and as an htmx swap of the star alone."""

from __future__ import annotations

import pytest

from generation.models import GeneratedImage
from tests.support.factories import make_generation, make_image

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def image(alice, workspace, persona) -> GeneratedImage:
    return make_image(make_generation(workspace, alice, persona=persona))


def starred(image: GeneratedImage) -> bool:
    image.refresh_from_db()
    return image.favourite


def test_the_gallery_shows_a_named_star_for_each_image(alice_client, image):
    html = alice_client.get("/gallery/").content.decode()
    assert f'action="/gallery/{image.code}/favourite/"' in html
    assert 'aria-pressed="false"' in html
    assert "Favourite: avatar for Budget Ben," in html  # the button's accessible name
    assert '<input type="hidden" name="favourite" value="1">' in html


def test_without_javascript_it_stars_and_goes_back_where_it_was(alice_client, image):
    response = alice_client.post(
        f"/gallery/{image.code}/favourite/", {"favourite": "1", "next": "/gallery/?q=ben"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/gallery/?q=ben"
    assert starred(image)
    html = alice_client.get("/gallery/").content.decode()
    assert 'aria-pressed="true"' in html
    assert '<input type="hidden" name="favourite" value="0">' in html


def test_it_is_idempotent_and_unstars(alice_client, image):
    for _ in range(2):
        alice_client.post(f"/gallery/{image.code}/favourite/", {"favourite": "1"})
        assert starred(image)
    response = alice_client.post(f"/gallery/{image.code}/favourite/", {"favourite": "0"})
    assert response["Location"] == f"/gallery/{image.code}/"  # no `next`: the image's page
    assert not starred(image)


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "/a\r\nb", "x"]
)
def test_it_never_sends_anyone_off_the_site(alice_client, image, target):
    response = alice_client.post(f"/gallery/{image.code}/favourite/", {"favourite": "1", "next": target})
    assert response["Location"] == f"/gallery/{image.code}/"


def test_with_htmx_it_answers_with_the_new_star_only(alice_client, image):
    response = alice_client.post(
        f"/gallery/{image.code}/favourite/",
        {"favourite": "1", "next": "/gallery/"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<form method="post"') and "<main" not in html
    assert 'aria-pressed="true"' in html
    assert f'id="star-{image.code}"' in html  # the same id: htmx keeps the focus on the button
    assert '<input type="hidden" name="next" value="/gallery/">' in html
    assert starred(image)


def test_members_may_star_and_it_takes_only_post(bob_client, image):
    assert bob_client.get(f"/gallery/{image.code}/favourite/").status_code == 405
    assert bob_client.post(f"/gallery/{image.code}/favourite/", {"favourite": "1"}).status_code == 302
    assert starred(image)


def test_another_workspace_gets_404_and_changes_nothing(charlie_client, image):
    response = charlie_client.post(f"/gallery/{image.code}/favourite/", {"favourite": "1"})
    assert response.status_code == 404
    assert not starred(image)
