"""A provider double shared by the provider tests, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provider_double import ProviderDouble
from providers import ProviderError, fal_queue, openai_images

# Recognisable fake keys: they must reach the double and never appear in any message.
OPENAI_KEY = "sk-proj-Canary0penAIkeyForProviderTests0123SJh4"
FAL_KEY = "3f8a1c2e-1111-2222-3333-444455556666:0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="session")
def running_double() -> Iterator[ProviderDouble]:
    with ProviderDouble() as double:
        yield double
    # Close pooled connections now, not in __del__ at interpreter exit when log streams are gone.
    openai_images.close_clients()
    fal_queue.close_clients()


@pytest.fixture
def double(running_double: ProviderDouble) -> Iterator[ProviderDouble]:
    running_double.reset()
    yield running_double
    running_double.reset()


def assert_clean(error: ProviderError, *keys: str) -> None:
    """Assert that nothing of the keys survives in the error's texts."""
    for text in (error.message, str(error), repr(error), error.user_message):
        assert "****" not in text
        assert "sk-" not in text
        for key in keys:
            # The key itself and its distinctive tail (what OpenAI's masked echo shows); a `__fault` suffix
            # is the double's, not part of the secret.
            assert key not in text
            assert key.partition("__")[0][-4:] not in text
