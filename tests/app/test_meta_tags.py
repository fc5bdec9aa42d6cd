"""Search engines: the public pages carry a description; signed-in pages (and the rest) are not indexed."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

PUBLIC = ["/", "/accounts/login/", "/accounts/signup/"]
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


def _meta(html: str, name: str) -> list[str]:
    return re.findall(rf'<meta name="{name}" content="([^"]*)">', html)


@pytest.mark.parametrize("path", PUBLIC)
def test_each_public_page_has_its_own_description_and_may_be_indexed(client, path):
    html = client.get(path).content.decode()
    (description,) = _meta(html, "description")
    assert 50 <= len(description) <= 160  # what a results page shows
    assert _meta(html, "robots") == []


def test_the_public_descriptions_differ(client):
    descriptions = {_meta(client.get(path).content.decode(), "description")[0] for path in PUBLIC}
    assert len(descriptions) == len(PUBLIC)


@pytest.mark.parametrize("path", SIGNED_IN)
def test_signed_in_pages_are_not_indexed(alice_client, path):
    response = alice_client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert _meta(html, "robots") == ["noindex, nofollow"]
    assert _meta(html, "description") == []


@pytest.mark.parametrize("path", ["/accounts/password/reset/", "/no-such-page/"])
def test_other_signed_out_pages_are_not_indexed(client, path):
    assert _meta(client.get(path).content.decode(), "robots") == ["noindex"]
