"""Nothing the clients log, at any level, carries a key (the double's log proves the key was sent)."""

from __future__ import annotations

import logging
import time

import pytest

from provider_double import ProviderDouble
from providers import ImageRequest, ProviderError, fal_queue, openai_images
from tests.support.keys import FAL_KEY, OPENAI_KEY


def test_no_key_reaches_the_logs(bare_double: ProviderDouble, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    openai_request = ImageRequest(model="gpt-image-2", prompt="x", width=1024, height=1024)
    fal_request = ImageRequest(
        model="fal-ai/flux-2-max", prompt="x", width=512, height=512, output_format="jpeg"
    )

    openai_images.generate(OPENAI_KEY, openai_request, base_url=bare_double.openai_base_url, timeout=5)
    openai_images.check_key(OPENAI_KEY, base_url=bare_double.openai_base_url)
    handle = fal_queue.submit(FAL_KEY, "fal-ai/flux-2-max", fal_request, base_url=bare_double.fal_queue_url)
    fal_queue.wait_for_result(
        FAL_KEY, handle, deadline=time.monotonic() + 5, base_url=bare_double.fal_queue_url
    )
    for fault in ("invalid_key", "moderation", "reset"):
        bare_double.script("openai", [fault])
        bare_double.script("fal", [fault])
        with pytest.raises(ProviderError):
            openai_images.generate(
                OPENAI_KEY, openai_request, base_url=bare_double.openai_base_url, timeout=5
            )
        with pytest.raises(ProviderError):
            handle = fal_queue.submit(
                FAL_KEY, "fal-ai/flux-2-max", fal_request, base_url=bare_double.fal_queue_url
            )
            fal_queue.wait_for_result(
                FAL_KEY, handle, deadline=time.monotonic() + 5, base_url=bare_double.fal_queue_url
            )

    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records  # the clients and SDKs did log
    for secret in (OPENAI_KEY, OPENAI_KEY[-4:], FAL_KEY, FAL_KEY.split(":")[1]):
        assert secret not in logged
        assert secret not in caplog.text
    assert bare_double.received_credentials() == {OPENAI_KEY, FAL_KEY}
