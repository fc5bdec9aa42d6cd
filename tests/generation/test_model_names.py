"""Pages name models as the form does ("Flux 2 Max"), the id kept in a title (issue 17, defect 10)."""

from __future__ import annotations

import pytest

from generation.templatetags.model_names import model_label
from providers.base import USER_MESSAGES, ErrorKind
from tests.support.accounts import workspace_of
from tests.support.factories import make_cost, make_generation, make_image

pytestmark = pytest.mark.django_db

LABELLED = '<span title="fal-ai/flux-2-max"><bdi>Flux 2 Max</bdi></span>'


@pytest.fixture
def flux(alice, media_root):
    generation = make_generation(
        workspace_of(alice), alice, provider="fal", model="fal-ai/flux-2-max", quality=""
    )
    make_image(generation)
    make_cost(generation)
    return generation


def test_the_result_page_names_the_model(alice_client, flux):
    page = alice_client.get(f"/generations/{flux.code}/").content.decode()
    assert '<dd title="fal-ai/flux-2-max"><bdi>Flux 2 Max</bdi></dd>' in page


def test_the_gallery_names_the_model_in_captions_and_its_filter(alice_client, flux):
    page = alice_client.get("/gallery/").content.decode()
    assert LABELLED in page
    assert '<option value="fal-ai/flux-2-max">Flux 2 Max</option>' in page


def test_usage_names_the_model_in_records_totals_and_its_filter(alice_client, flux):
    page = alice_client.get("/usage/").content.decode()
    assert page.count(LABELLED) == 2  # the request, the per-model total
    assert '<option value="fal-ai/flux-2-max">Flux 2 Max</option>' in page
    assert ">fal-ai/flux-2-max<" not in page


def test_the_dashboard_names_the_model(alice_client, flux):
    page = alice_client.get("/").content.decode()
    assert '<span class="muted" title="fal-ai/flux-2-max"><bdi>Flux 2 Max</bdi></span>' in page


def test_a_model_the_catalog_no_longer_has_keeps_its_id():
    assert model_label("gpt-image-0-gone") == "gpt-image-0-gone"
    assert model_label("gpt-image-1") == "GPT Image 1"  # retired, still in the catalog


def test_messages_point_to_the_api_keys_page_which_exists(alice_client):
    assert "Settings" not in USER_MESSAGES[ErrorKind.INVALID_KEY]
    assert "API keys" in USER_MESSAGES[ErrorKind.INVALID_KEY]
    assert ">API keys</a>" in alice_client.get("/").content.decode()  # the page's name in the menu
