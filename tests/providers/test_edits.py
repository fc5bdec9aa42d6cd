"""The edit endpoints of both providers (issue 19): the same fault table as generations, and the inputs
reported and billed as the real APIs do (OpenAI image-input tokens, fal input megapixels)."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from provider_double import ProviderDouble
from providers import ErrorKind, ImageRequest, ProviderError, fal_queue, openai_images
from providers.base import ProviderImage
from tests.support.keys import FAL_KEY, OPENAI_KEY, assert_clean

FAULTS = [
    ("invalid_key", ErrorKind.INVALID_KEY),
    ("insufficient_quota", ErrorKind.NO_CREDIT),
    ("moderation", ErrorKind.SAFETY),
    ("rate_limit", ErrorKind.RATE_LIMITED),
    ("server_error", ErrorKind.SERVER_ERROR),
    ("malformed", ErrorKind.BAD_RESPONSE),
    ("reset", ErrorKind.CONNECTION),
]


def reference(width: int = 1448, height: int = 1448) -> ProviderImage:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 90)).save(out, "JPEG")
    return ProviderImage(out.getvalue(), "image/jpeg", width, height)


def openai_edit(double: ProviderDouble, key: str = OPENAI_KEY, **fields: object):
    request = ImageRequest(
        **{"model": "gpt-image-2", "prompt": "Same person, waving", "width": 1024, "height": 1024,
           "quality": "low", "references": (reference(), reference(512, 512)), **fields}  # type: ignore[arg-type]
    )  # fmt: skip
    return openai_images.edit(key, request, base_url=double.openai_base_url, timeout=5)


def fal_edit(double: ProviderDouble, key: str = FAL_KEY):
    request = ImageRequest(
        model="fal-ai/flux-2-max", prompt="Same person, waving", width=1024, height=1024,
        output_format="jpeg", references=(reference(),),
    )  # fmt: skip
    handle = fal_queue.submit(
        key, "fal-ai/flux-2-max/edit", request, base_url=double.fal_queue_url, timeout=5
    )
    return fal_queue.wait_for_result(key, handle, deadline=time.monotonic() + 5,
                                     poll_interval=0.01, base_url=double.fal_queue_url)  # fmt: skip


def test_an_openai_edit_reports_and_bills_image_input_tokens(bare_double: ProviderDouble) -> None:
    result = openai_edit(bare_double)
    (image,) = result.images
    assert Image.open(io.BytesIO(image.data)).size == (1024, 1024)
    details = result.usage["input_tokens_details"]
    # The double's vision formula: 1448² → 768² = 4 tiles (765 tokens); 512² = 1 tile (255 tokens).
    assert details["image_tokens"] == 765 + 255
    assert result.usage["input_tokens"] == details["text_tokens"] + details["image_tokens"]
    (billed,) = bare_double.billed("openai")
    assert billed.input_nanousd == details["text_tokens"] * 5000 + details["image_tokens"] * 8000
    (sent,) = bare_double.requests("openai.edit")
    assert sent.headers["content-type"].startswith("multipart/form-data")


def test_input_fidelity_is_refused_by_gpt_image_2_and_taken_by_gpt_image_1_5(
    bare_double: ProviderDouble,
) -> None:
    with pytest.raises(ProviderError) as caught:
        openai_edit(bare_double, input_fidelity="high")
    assert caught.value.kind == ErrorKind.BAD_REQUEST
    result = openai_edit(bare_double, model="gpt-image-1.5", input_fidelity="high")
    assert result.usage["input_tokens_details"]["image_tokens"] == 4 * (765 + 255)


@pytest.mark.parametrize(("fault", "kind"), FAULTS)
def test_each_openai_edit_fault_becomes_the_right_error(bare_double: ProviderDouble, fault, kind) -> None:
    key = f"{OPENAI_KEY}__{fault}"
    with pytest.raises(ProviderError) as caught:
        openai_edit(bare_double, key)
    assert caught.value.kind == kind
    assert_clean(caught.value, key)


@pytest.mark.parametrize(("fault", "kind"), [*FAULTS, ("forbidden", ErrorKind.NO_CREDIT)])
def test_each_fal_edit_fault_becomes_the_right_error(bare_double: ProviderDouble, fault, kind) -> None:
    key = f"{FAL_KEY}__{fault}"
    with pytest.raises(ProviderError) as caught:
        fal_edit(bare_double, key)
    assert caught.value.kind == kind
    assert_clean(caught.value, key)


def test_a_fal_edit_bills_its_input_megapixels(bare_double: ProviderDouble) -> None:
    assert len(fal_edit(bare_double).images) == 1
    (billed,) = bare_double.billed("fal")
    assert billed.input_nanousd == 2 * 30_000_000  # 1448² is 2 MP, each at the further-MP price
    assert billed.amount_nanousd == 70_000_000 + 2 * 30_000_000


@pytest.mark.parametrize("fault", ["wrong_size", "non_image"])
def test_bad_edit_images_are_passed_through_for_the_image_module(bare_double: ProviderDouble, fault) -> None:
    bare_double.script("openai", [fault])
    (image,) = openai_edit(bare_double).images
    with pytest.raises(OSError), Image.open(io.BytesIO(image.data)) as decoded:
        decoded.load()
        if decoded.size != (1024, 1024):
            raise OSError("wrong size")


def test_a_slow_edit_times_out_at_the_deadline(bare_double: ProviderDouble) -> None:
    bare_double.hang_seconds = 3
    request = ImageRequest(
        model="gpt-image-2", prompt="x", width=1024, height=1024, references=(reference(),)
    )
    with pytest.raises(ProviderError) as caught:
        openai_images.edit(f"{OPENAI_KEY}__slow", request, base_url=bare_double.openai_base_url, timeout=0.5)
    assert caught.value.kind == ErrorKind.TIMEOUT
