"""Streamed OpenAI generations (live previews, D36): the real SDK against the double's event stream."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from provider_double import ProviderDouble
from providers import ErrorKind, ImageRequest, ProviderError, openai_images
from providers.adapter import Call
from providers.adapters.openai import ADAPTER, PARTIAL_IMAGE_TOKENS
from providers.base import ProviderImage
from tests.support.keys import OPENAI_KEY, assert_clean

PRICE = {"text_input": 5000, "cached_text_input": 1250, "image_input": 8000, "image_output": 30000}


def _request(partial_images: int = 2, **overrides: object) -> ImageRequest:
    fields: dict[str, object] = {
        "model": "gpt-image-2",
        "prompt": "A cheerful nurse in her forties, studio portrait",
        "width": 1024,
        "height": 1024,
        "quality": "low",
        "partial_images": partial_images,
    }
    fields.update(overrides)
    return ImageRequest(**fields)  # type: ignore[arg-type]


def _call(request: ImageRequest, arrived: list[tuple[float, ProviderImage]]) -> Call:
    return Call(
        request=request,
        timeout=10,
        before_call=lambda: None,
        keep_alive=lambda: None,
        save_requests=lambda entries: None,
        on_partial=lambda image: arrived.append((time.monotonic(), image)),
    )


def test_partials_arrive_while_drawing_and_the_cost_comes_from_the_completed_usage(
    double: ProviderDouble,
) -> None:
    double.latency = 2.0
    arrived: list[tuple[float, ProviderImage]] = []

    outcome = ADAPTER.run(OPENAI_KEY, _call(_request(partial_images=2), arrived))
    finished = time.monotonic()

    assert outcome.error is None and outcome.billed and len(outcome.images) == 1
    # The partials came while OpenAI was still drawing (at 30 % and 60 % of the call), not with the end:
    # the last one 0.8 s before it (a wide margin, not a timing measurement: that is `make bench`).
    assert len(arrived) == 2
    assert finished - arrived[-1][0] > 0.4
    for _, partial in arrived:
        with Image.open(io.BytesIO(partial.data)) as image:
            assert image.size == (1024, 1024)
    (sent,) = double.requests("openai.generate")
    assert sent.json["stream"] is True and sent.json["partial_images"] == 2
    # The completed event's usage counts the partials' tokens; the cost is priced from it alone.
    (billed,) = double.billed("openai")
    assert outcome.usage["output_tokens"] == 196 + 2 * PARTIAL_IMAGE_TOKENS
    assert ADAPTER.cost(outcome.usage, PRICE) == billed.input_nanousd + billed.output_nanousd
    assert len(outcome.request_ids) == 1 and outcome.request_ids[0].startswith("req_")


def test_without_a_preview_sink_or_with_several_images_the_call_is_not_streamed(
    double: ProviderDouble,
) -> None:
    plain = Call(
        request=_request(),
        timeout=10,
        before_call=lambda: None,
        keep_alive=lambda: None,
        save_requests=lambda entries: None,
    )
    assert ADAPTER.run(OPENAI_KEY, plain).billed
    assert ADAPTER.run(OPENAI_KEY, _call(_request(n=2), [])).billed
    assert all("stream" not in sent.json for sent in double.requests("openai.generate"))


def test_a_stream_broken_after_a_partial_is_possibly_billed_never_retried_and_billed_once(
    double: ProviderDouble,
) -> None:
    double.script("openai", ["stream_break"])
    arrived: list[tuple[float, ProviderImage]] = []

    outcome = ADAPTER.run(OPENAI_KEY, _call(_request(partial_images=2), arrived))

    assert len(arrived) == 1  # what arrived before the break was shown
    assert outcome.error is not None and outcome.error.kind == ErrorKind.CONNECTION
    assert outcome.possibly_billed and not outcome.billed and not outcome.images
    assert "may have generated and billed" in outcome.possible_reason
    assert outcome.request_ids and outcome.request_ids[0].startswith("req_")
    assert double.count("openai.generate") == 1  # never sent again: it could be paid twice
    assert len(double.billed("openai")) == 1  # OpenAI billed it once all the same
    assert_clean(outcome.error, OPENAI_KEY)


def test_a_refusal_before_the_stream_starts_is_handled_as_without_streaming(double: ProviderDouble) -> None:
    double.script("openai", ["moderation"])
    outcome = ADAPTER.run(OPENAI_KEY, _call(_request(), []))
    assert outcome.error is not None and outcome.error.kind == ErrorKind.SAFETY
    assert not outcome.billed and not outcome.possibly_billed
    assert double.billed("openai") == []


def test_a_completed_event_with_a_broken_image_is_billed_at_its_usage(bare_double: ProviderDouble) -> None:
    bare_double.script("openai", ["bad_base64"])
    with pytest.raises(ProviderError) as caught:
        openai_images.generate_streaming(
            OPENAI_KEY,
            _request(),
            on_partial=lambda image: None,
            base_url=bare_double.openai_base_url,
            timeout=5,
        )
    assert caught.value.kind == ErrorKind.BAD_RESPONSE
    assert caught.value.usage["output_tokens"] == 196 + 2 * PARTIAL_IMAGE_TOKENS


def test_a_stalled_stream_times_out_as_possibly_billed(bare_double: ProviderDouble) -> None:
    bare_double.latency = 5
    with pytest.raises(ProviderError) as caught:
        openai_images.generate_streaming(
            OPENAI_KEY,
            _request(),
            on_partial=lambda image: None,
            base_url=bare_double.openai_base_url,
            timeout=0.5,
        )
    assert caught.value.kind == ErrorKind.TIMEOUT and caught.value.unanswered


def test_the_quote_counts_about_100_output_tokens_per_partial() -> None:
    class Model:
        id = "gpt-image-2"
        price = PRICE

        def max_output_tokens(self, size: str, quality: str) -> int:
            return 7024

    plain = ADAPTER.quote(Model(), width=1024, height=1024, quality="high", n=1, prompt="p")
    streamed = ADAPTER.quote(
        Model(), width=1024, height=1024, quality="high", n=1, prompt="p", partial_images=3
    )
    assert streamed.amount_nanousd - plain.amount_nanousd == 3 * PARTIAL_IMAGE_TOKENS * PRICE["image_output"]
