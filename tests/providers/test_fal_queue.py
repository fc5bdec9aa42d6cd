"""The fal queue client, driven over httpx against the provider double."""

from __future__ import annotations

import io
import json
import time

import pytest
from PIL import Image

from provider_double import ProviderDouble
from providers import ErrorKind, ImageRequest, ProviderError, ProviderResult, fal_queue
from providers.base import ProviderImage
from providers.fal_queue import FalHandle
from tests.support.keys import FAL_KEY, assert_clean

APP = "fal-ai/flux-2-max"


def _request(**overrides: object) -> ImageRequest:
    fields: dict[str, object] = {
        "model": APP,
        "prompt": "A calm UX researcher with glasses, head and shoulders",
        "width": 1024,
        "height": 768,
        "output_format": "jpeg",
    }
    fields.update(overrides)
    return ImageRequest(**fields)  # type: ignore[arg-type]


def _submit(
    bare_double: ProviderDouble, key: str = FAL_KEY, app: str = APP, **overrides: object
) -> FalHandle:
    return fal_queue.submit(key, app, _request(**overrides), base_url=bare_double.fal_queue_url, timeout=5)


def _wait(
    bare_double: ProviderDouble, handle: FalHandle, key: str = FAL_KEY, seconds: float = 5
) -> ProviderResult:
    return fal_queue.wait_for_result(
        key,
        handle,
        deadline=time.monotonic() + seconds,
        poll_interval=0.02,
        base_url=bare_double.fal_queue_url,
    )


def _run(bare_double: ProviderDouble, key: str = FAL_KEY, **overrides: object) -> ProviderResult:
    return _wait(bare_double, _submit(bare_double, key, **overrides), key)


def _fails(bare_double: ProviderDouble, key: str = FAL_KEY, **overrides: object) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        _run(bare_double, key, **overrides)
    return caught.value


def test_it_returns_the_image_at_the_requested_size_with_its_output_size(bare_double: ProviderDouble) -> None:
    result = _run(bare_double, width=1536, height=1024)

    (image,) = result.images
    assert image.content_type == "image/jpeg"
    with Image.open(io.BytesIO(image.data)) as decoded:
        decoded.load()
        assert decoded.size == (1536, 1024)
    assert result.usage == {"images": [{"width": 1536, "height": 1024}]}
    assert result.request_id and result.request_id in bare_double.fal_jobs


def test_it_submits_the_input_fal_expects_with_the_key_and_lets_fal_keep_the_result(
    bare_double: ProviderDouble,
) -> None:
    _submit(bare_double, output_format="png")

    (sent,) = bare_double.requests("fal.submit")
    assert sent.path == f"/fal/{APP}"
    assert sent.json == {
        "prompt": "A calm UX researcher with glasses, head and shoulders",
        "image_size": {"width": 1024, "height": 768},
        "output_format": "png",
        "enable_safety_checker": True,
    }
    assert sent.headers["authorization"] == f"Key {FAL_KEY}"
    # No X-Fal-Store-IO: 0, which stops fal keeping the result a resumed task must still fetch; the
    # payloads are deleted after the generation is stored instead (tests/generation/test_fal_payloads.py).
    assert "x-fal-store-io" not in sent.headers
    assert json.loads(sent.headers["x-fal-object-lifecycle-preference"]) == {
        "expiration_duration_seconds": 3600
    }


def test_the_cdn_download_never_receives_the_key(bare_double: ProviderDouble) -> None:
    result = _run(bare_double)

    (download,) = bare_double.requests("cdn")
    assert "authorization" not in download.headers
    assert FAL_KEY not in str(download.headers)
    (name,) = bare_double.cdn_files
    assert result.images[0].data == bare_double.cdn_files[name][0]
    assert bare_double.received_credentials() == {FAL_KEY}  # positive control: the queue did get it


def test_it_polls_while_the_request_is_queued_and_running(bare_double: ProviderDouble) -> None:
    bare_double.latency = 0.5
    started = time.monotonic()

    result = _run(bare_double)

    assert len(result.images) == 1
    assert time.monotonic() - started >= 0.5
    assert bare_double.count("fal.status") >= 3
    assert bare_double.count("fal.result") == 1


def test_it_times_out_at_the_deadline_and_keeps_the_request_id(bare_double: ProviderDouble) -> None:
    bare_double.latency = 10
    handle = _submit(bare_double)
    started = time.monotonic()

    with pytest.raises(ProviderError) as caught:
        _wait(bare_double, handle, seconds=0.4)

    assert caught.value.kind == ErrorKind.TIMEOUT
    assert caught.value.retryable
    assert caught.value.request_id == handle.request_id
    assert time.monotonic() - started < 1.5
    assert bare_double.count("fal.result") == 0


def test_a_restarted_task_resumes_from_the_saved_request_id(bare_double: ProviderDouble) -> None:
    bare_double.latency = 0.2
    handle = _submit(bare_double)

    resumed = FalHandle.for_request_id(APP, handle.request_id, bare_double.fal_queue_url)
    result = _wait(bare_double, resumed)

    assert resumed == handle
    assert result.request_id == handle.request_id
    assert bare_double.count("fal.submit") == 1


def test_edit_requests_are_polled_on_the_app_root(bare_double: ProviderDouble) -> None:
    out = io.BytesIO()
    Image.new("RGB", (64, 64)).save(out, "PNG")
    reference = ProviderImage(out.getvalue(), "image/png", 64, 64)
    handle = _submit(bare_double, app=f"{APP}/edit", references=(reference,))

    assert "/edit" not in handle.status_url + handle.response_url + handle.cancel_url
    assert handle == FalHandle.for_request_id(f"{APP}/edit", handle.request_id, bare_double.fal_queue_url)
    assert len(_wait(bare_double, handle).images) == 1


@pytest.mark.parametrize("how", ["key", "script"])
@pytest.mark.parametrize(
    ("fault", "kind", "retryable", "status"),
    [
        ("invalid_key", ErrorKind.INVALID_KEY, False, 401),
        ("forbidden", ErrorKind.NO_CREDIT, False, 403),
        ("insufficient_quota", ErrorKind.NO_CREDIT, False, 403),
        ("moderation", ErrorKind.SAFETY, False, 422),
        ("rate_limit", ErrorKind.RATE_LIMITED, True, 429),
        ("server_error", ErrorKind.SERVER_ERROR, True, 503),
        ("gateway_timeout", ErrorKind.SERVER_ERROR, True, 504),
        ("completed_error", ErrorKind.SERVER_ERROR, True, 500),
        ("unknown_model", ErrorKind.NOT_FOUND, False, 404),
        ("malformed", ErrorKind.BAD_RESPONSE, False, 200),
        ("reset", ErrorKind.CONNECTION, True, None),
    ],
)
def test_each_fault_becomes_the_right_error_without_the_key(
    bare_double: ProviderDouble, how: str, fault: str, kind: ErrorKind, retryable: bool, status: int | None
) -> None:
    key = f"{FAL_KEY}__{fault}" if how == "key" else FAL_KEY
    if how == "script":
        bare_double.script("fal", [fault])

    error = _fails(bare_double, key)

    assert error.kind == kind
    assert error.retryable is retryable
    assert error.status_code == status
    assert error.user_message
    assert_clean(error, key)
    assert bare_double.received_credentials() == {key}


def test_a_failure_after_submit_carries_the_request_id(bare_double: ProviderDouble) -> None:
    bare_double.script("fal", ["moderation"])
    handle = _submit(bare_double)

    with pytest.raises(ProviderError) as caught:
        _wait(bare_double, handle)

    assert caught.value.request_id == handle.request_id


def test_it_parses_retry_after_on_rate_limits(bare_double: ProviderDouble) -> None:
    bare_double.script("fal", ["rate_limit"])
    assert _fails(bare_double).retry_after == 1.0


def test_scripted_faults_clear_so_a_retry_succeeds(bare_double: ProviderDouble) -> None:
    bare_double.script("fal", ["server_error", "completed_error"])

    assert _fails(bare_double).kind == ErrorKind.SERVER_ERROR
    assert _fails(bare_double).kind == ErrorKind.SERVER_ERROR
    assert len(_run(bare_double).images) == 1
    assert bare_double.count("fal.submit") == 3


def test_it_gives_up_when_submit_hangs(bare_double: ProviderDouble) -> None:
    bare_double.hang_seconds = 3
    bare_double.script("fal", ["slow"])
    started = time.monotonic()

    with pytest.raises(ProviderError) as caught:
        fal_queue.submit(FAL_KEY, APP, _request(), base_url=bare_double.fal_queue_url, timeout=0.5)

    assert caught.value.kind == ErrorKind.TIMEOUT
    assert time.monotonic() - started < 2


def test_invalid_input_is_a_bad_request_not_a_safety_refusal(bare_double: ProviderDouble) -> None:
    error = _fails(bare_double, width=10, height=10)
    assert error.kind == ErrorKind.BAD_REQUEST
    assert error.status_code == 422


@pytest.mark.parametrize("fault", ["non_image", "truncated", "wrong_size"])
def test_bad_image_bytes_are_passed_through_for_the_image_module_to_reject(
    bare_double: ProviderDouble, fault: str
) -> None:
    bare_double.script("fal", [fault])
    (image,) = _run(bare_double).images

    (name,) = bare_double.cdn_files
    assert image.data == bare_double.cdn_files[name][0]
    # UnidentifiedImageError and "image file is truncated" are both OSErrors.
    with pytest.raises(OSError), Image.open(io.BytesIO(image.data)) as decoded:
        decoded.load()
        if decoded.size != (1024, 768):
            raise OSError("wrong size")


def test_it_cancels_a_queued_request_but_not_a_finished_one(bare_double: ProviderDouble) -> None:
    bare_double.latency = 10
    queued = _submit(bare_double)
    assert fal_queue.cancel(FAL_KEY, queued, base_url=bare_double.fal_queue_url) is True

    bare_double.latency = 0
    finished = _submit(bare_double)
    _wait(bare_double, finished)
    assert fal_queue.cancel(FAL_KEY, finished, base_url=bare_double.fal_queue_url) is False


def test_waiting_stops_when_asked_and_says_the_status_it_last_saw(bare_double: ProviderDouble) -> None:
    bare_double.latency = 1000  # queued for longer than any test
    handle = _submit(bare_double)
    asked = []

    def stop() -> bool:
        asked.append(True)
        return True

    with pytest.raises(fal_queue.StopRequested) as caught:
        fal_queue.wait_for_result(
            FAL_KEY, handle, deadline=time.monotonic() + 60, stop=stop, base_url=bare_double.fal_queue_url
        )
    assert caught.value.status == "IN_QUEUE"
    assert len(asked) == 1 and bare_double.count("fal.status") == 1  # asked after each status, not before
    assert bare_double.count("fal.cancel") == 0  # cancelling is the caller's decision


def test_a_completed_request_is_fetched_without_asking_to_stop(bare_double: ProviderDouble) -> None:
    handle = _submit(bare_double)
    result = fal_queue.wait_for_result(
        FAL_KEY, handle, deadline=time.monotonic() + 60, stop=lambda: True, base_url=bare_double.fal_queue_url
    )
    assert len(result.images) == 1


@pytest.mark.parametrize("key", ["", "   "])
def test_an_unusable_key_is_refused_without_any_request(bare_double: ProviderDouble, key: str) -> None:
    with pytest.raises(ProviderError) as caught:
        _submit(bare_double, key)
    assert caught.value.kind == ErrorKind.INVALID_KEY
    with pytest.raises(ProviderError):
        _wait(bare_double, FalHandle.for_request_id(APP, "abc", bare_double.fal_queue_url), key)
    assert bare_double.requests() == []


def test_the_key_is_never_sent_to_a_queue_url_on_another_host(bare_double: ProviderDouble) -> None:
    foreign = FalHandle(
        "abc", "http://203.0.113.9/status", "http://203.0.113.9/result", "http://203.0.113.9/c"
    )

    with pytest.raises(ProviderError) as caught:
        _wait(bare_double, foreign)

    assert caught.value.kind == ErrorKind.BAD_RESPONSE
    with pytest.raises(ProviderError):
        fal_queue.cancel(FAL_KEY, foreign, base_url=bare_double.fal_queue_url)
    assert bare_double.requests() == []


def test_an_unknown_request_id_is_not_found(bare_double: ProviderDouble) -> None:
    handle = FalHandle.for_request_id(APP, "00000000-0000-0000-0000-000000000000", bare_double.fal_queue_url)
    with pytest.raises(ProviderError) as caught:
        _wait(bare_double, handle)
    assert caught.value.kind == ErrorKind.NOT_FOUND


def test_more_than_one_image_per_request_is_a_programming_error(bare_double: ProviderDouble) -> None:
    with pytest.raises(ValueError, match="one image per request"):
        _submit(bare_double, n=2)
    assert bare_double.requests() == []
