"""Without explicit base URLs the clients use the Django settings, so a deployment can point at a double."""

from __future__ import annotations

import time

import pytest

from provider_double import ProviderDouble
from providers import ImageRequest, fal_queue, openai_images
from tests.support.keys import FAL_KEY, OPENAI_KEY


def test_the_clients_read_base_urls_from_django_settings(bare_double: ProviderDouble) -> None:
    django_settings = pytest.importorskip("django.conf").settings
    if not django_settings.configured:
        pytest.skip("runs under pytest-django, where settings are configured")
    from django.test import override_settings

    request = ImageRequest(model="fal-ai/flux-2-max", prompt="x", width=512, height=512, output_format="jpeg")
    with override_settings(
        OPENAI_BASE_URL=bare_double.openai_base_url, FAL_QUEUE_URL=bare_double.fal_queue_url
    ):
        openai_images.generate(
            OPENAI_KEY, ImageRequest(model="gpt-image-2", prompt="x", width=1024, height=1024)
        )
        handle = fal_queue.submit(FAL_KEY, "fal-ai/flux-2-max", request)
        fal_queue.wait_for_result(FAL_KEY, handle, deadline=time.monotonic() + 5)

    assert bare_double.count("openai.generate") == 1
    assert bare_double.count("fal.result") == 1
