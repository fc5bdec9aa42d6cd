"""The OpenAI client, driven through the real SDK against the provider double."""

from __future__ import annotations

import io
import socket
import time

import httpx
import pytest
from PIL import Image

from provider_double import ProviderDouble
from providers import ErrorKind, ImageRequest, ProviderError, openai_images
from tests.support.keys import OPENAI_KEY, assert_clean


def _request(**overrides: object) -> ImageRequest:
    fields: dict[str, object] = {
        "model": "gpt-image-2",
        "prompt": "A cheerful nurse in her forties, studio portrait",
        "width": 1024,
        "height": 1024,
        "quality": "low",
    }
    fields.update(overrides)
    return ImageRequest(**fields)  # type: ignore[arg-type]


def _generate(bare_double: ProviderDouble, key: str = OPENAI_KEY, **overrides: object) -> object:
    return openai_images.generate(key, _request(**overrides), base_url=bare_double.openai_base_url, timeout=5)


def _fails(bare_double: ProviderDouble, key: str = OPENAI_KEY, **overrides: object) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        _generate(bare_double, key, **overrides)
    return caught.value


def test_it_returns_images_of_the_requested_size_with_usage_and_request_id(
    bare_double: ProviderDouble,
) -> None:
    prompt = "A cheerful nurse in her forties, studio portrait"
    result = openai_images.generate(
        OPENAI_KEY,
        _request(prompt=prompt, width=1024, height=1536, n=2, output_format="webp"),
        base_url=bare_double.openai_base_url,
        timeout=5,
    )

    assert len(result.images) == 2
    for image in result.images:
        assert image.content_type == "image/webp"
        with Image.open(io.BytesIO(image.data)) as decoded:
            decoded.load()
            assert decoded.size == (1024, 1536)
            assert decoded.format == "WEBP"
    assert result.request_id and result.request_id.startswith("req_")
    text_tokens = -(-len(prompt) // 4)
    # gpt-image-2 low is 196 tokens at 1024², scaled by area: ceil(196 * 1.5) = 294 per image.
    assert result.usage["output_tokens"] == 294 * 2
    assert result.usage["input_tokens"] == text_tokens
    assert result.usage["input_tokens_details"] == {"text_tokens": text_tokens, "image_tokens": 0}
    assert result.usage["total_tokens"] == text_tokens + 588


def test_it_sends_the_request_parameters_and_the_users_key(bare_double: ProviderDouble) -> None:
    _generate(
        bare_double, model="gpt-image-1.5", width=1536, height=1024, quality="high", safety_identifier="u-1"
    )

    (sent,) = bare_double.requests("openai.generate")
    assert sent.json == {
        "model": "gpt-image-1.5",
        "prompt": "A cheerful nurse in her forties, studio portrait",
        "size": "1536x1024",
        "n": 1,
        "output_format": "png",
        "quality": "high",
        "safety_identifier": "u-1",
    }
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert bare_double.received_credentials() == {OPENAI_KEY}


def test_usage_follows_the_gpt_image_1_token_table(bare_double: ProviderDouble) -> None:
    result = _generate(bare_double, model="gpt-image-1.5", width=1536, height=1024, quality="high")
    assert result.usage["output_tokens"] == 6208  # type: ignore[attr-defined]


def test_it_omits_quality_and_background_when_not_given(bare_double: ProviderDouble) -> None:
    _generate(bare_double, quality=None, background=None)
    (sent,) = bare_double.requests("openai.generate")
    assert "quality" not in sent.json
    assert "background" not in sent.json


@pytest.mark.parametrize("how", ["key", "script"])
@pytest.mark.parametrize(
    ("fault", "kind", "retryable", "status"),
    [
        ("invalid_key", ErrorKind.INVALID_KEY, False, 401),
        ("forbidden", ErrorKind.FORBIDDEN, False, 403),
        ("insufficient_quota", ErrorKind.NO_CREDIT, False, 429),
        ("moderation", ErrorKind.SAFETY, False, 400),
        ("rate_limit", ErrorKind.RATE_LIMITED, True, 429),
        ("server_error", ErrorKind.SERVER_ERROR, True, 500),
        ("gateway_timeout", ErrorKind.SERVER_ERROR, True, 504),
        ("unknown_model", ErrorKind.NOT_FOUND, False, 404),
        ("malformed", ErrorKind.BAD_RESPONSE, False, None),
        ("reset", ErrorKind.CONNECTION, True, None),
    ],
)
def test_each_fault_becomes_the_right_error_without_the_key(
    bare_double: ProviderDouble, how: str, fault: str, kind: ErrorKind, retryable: bool, status: int | None
) -> None:
    key = f"{OPENAI_KEY}__{fault}" if how == "key" else OPENAI_KEY
    if how == "script":
        bare_double.script("openai", [fault])

    error = _fails(bare_double, key)

    assert error.kind == kind
    assert error.retryable is retryable
    if status is not None:
        assert error.status_code == status
        assert error.request_id and error.request_id.startswith("req_")
    assert error.user_message
    assert_clean(error, key)
    assert bare_double.received_credentials() == {key}  # positive control: the key did reach the provider


def test_the_double_really_echoes_a_masked_key_that_the_client_removes(bare_double: ProviderDouble) -> None:
    key = f"{OPENAI_KEY}__invalid_key"
    raw = httpx.post(
        f"{bare_double.openai_base_url}/images/generations",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "gpt-image-2", "prompt": "x"},
    )
    assert "Incorrect API key provided: sk-proj-****" in raw.json()["error"]["message"]
    assert key[-4:] in raw.json()["error"]["message"]

    error = _fails(bare_double, key)
    assert "Incorrect API key provided" in error.message
    assert_clean(error, key)


def test_it_parses_retry_after_on_rate_limits(bare_double: ProviderDouble) -> None:
    bare_double.script("openai", ["rate_limit"])
    assert _fails(bare_double).retry_after == 1.0


def test_scripted_faults_clear_so_a_retry_succeeds(bare_double: ProviderDouble) -> None:
    bare_double.script("openai", ["server_error", "rate_limit"])

    assert _fails(bare_double).kind == ErrorKind.SERVER_ERROR
    assert _fails(bare_double).kind == ErrorKind.RATE_LIMITED
    result = _generate(bare_double)

    assert len(result.images) == 1  # type: ignore[attr-defined]
    assert bare_double.count("openai.generate") == 3


def test_it_gives_up_at_the_deadline_when_the_provider_hangs(bare_double: ProviderDouble) -> None:
    bare_double.hang_seconds = 3
    bare_double.script("openai", ["slow"])
    started = time.monotonic()

    with pytest.raises(ProviderError) as caught:
        openai_images.generate(OPENAI_KEY, _request(), base_url=bare_double.openai_base_url, timeout=0.5)

    assert caught.value.kind == ErrorKind.TIMEOUT
    assert caught.value.retryable
    assert time.monotonic() - started < 2


def test_an_unreachable_provider_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProviderError) as caught:
        openai_images.generate(OPENAI_KEY, _request(), base_url=f"http://127.0.0.1:{port}/v1", timeout=2)
    assert caught.value.kind == ErrorKind.CONNECTION


def test_settings_the_provider_refuses_are_a_bad_request(bare_double: ProviderDouble) -> None:
    error = _fails(bare_double, model="gpt-image-1.5", width=1000, height=1000)
    assert error.kind == ErrorKind.BAD_REQUEST
    assert not error.retryable
    assert "size" in error.message


@pytest.mark.parametrize("fault", ["non_image", "truncated", "wrong_size"])
def test_bad_image_bytes_are_passed_through_for_the_image_module_to_reject(
    bare_double: ProviderDouble, fault: str
) -> None:
    bare_double.script("openai", [fault])
    (image,) = _generate(bare_double).images  # type: ignore[attr-defined]

    # UnidentifiedImageError and "image file is truncated" are both OSErrors.
    with pytest.raises(OSError), Image.open(io.BytesIO(image.data)) as decoded:
        decoded.load()
        if decoded.size != (1024, 1024):
            raise OSError("wrong size")


@pytest.mark.parametrize("key", ["", "   ", "sk-with\nnewline"])
def test_an_unusable_key_is_refused_without_any_request(bare_double: ProviderDouble, key: str) -> None:
    error = _fails(bare_double, key)
    assert error.kind == ErrorKind.INVALID_KEY
    assert openai_images.check_key(key, base_url=bare_double.openai_base_url).status == "invalid"
    assert bare_double.requests() == []


def test_ambient_openai_environment_never_reaches_the_provider(
    bare_double: ProviderDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator-env-key-0000")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-operator")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-operator")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "Authorization: Bearer sk-operator-custom-0000")

    _generate(bare_double)
    assert openai_images.check_key(OPENAI_KEY, base_url=bare_double.openai_base_url).status == "valid"

    assert bare_double.received_credentials() == {OPENAI_KEY}
    for sent in bare_double.requests():
        assert "openai-organization" not in sent.headers
        assert "openai-project" not in sent.headers


@pytest.mark.parametrize(
    ("suffix", "status"),
    [
        ("", "valid"),
        ("__invalid_key", "invalid"),
        ("__forbidden", "forbidden"),
        ("__server_error", "unreachable"),
        ("__rate_limit", "unreachable"),
        ("__reset", "unreachable"),
        ("__malformed", "unreachable"),
    ],
)
def test_check_key_reports_what_the_model_list_says(
    bare_double: ProviderDouble, suffix: str, status: str
) -> None:
    key = OPENAI_KEY + suffix
    check = openai_images.check_key(key, base_url=bare_double.openai_base_url, timeout=2)

    assert check.status == status
    assert check.message
    assert OPENAI_KEY[-4:] not in check.message
    assert bare_double.count("openai.models") == 1
    assert bare_double.count("openai.generate") == 0
