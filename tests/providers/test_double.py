"""The provider double itself: control endpoints, fal queue states, token math, speed, CLI."""

from __future__ import annotations

import io
import signal
import subprocess
import sys

import httpx
import pytest
from PIL import Image

from provider_double import FAULTS, ProviderDouble, fal_api
from provider_double.avatar import render_avatar
from provider_double.openai_api import output_tokens
from tests.support.clock import time_module
from tests.support.keys import FAL_KEY, OPENAI_KEY

FAL_AUTH = {"Authorization": f"Key {FAL_KEY}"}


def test_the_control_endpoints_drive_a_double_in_another_process(bare_double: ProviderDouble) -> None:
    control = f"{bare_double.url}/_double"
    assert httpx.post(f"{control}/script", json={"provider": "openai", "faults": ["rate_limit"]}).is_success
    assert httpx.post(f"{control}/latency", json={"seconds": 0.25}).json()["latency"] == 0.25
    assert httpx.post(f"{control}/script", json={"provider": "openai", "faults": ["nope"]}).status_code == 400

    first = httpx.post(
        f"{bare_double.openai_base_url}/images/generations",
        headers={"Authorization": f"Bearer {OPENAI_KEY}"},
        json={"prompt": "x"},
    )
    log = httpx.get(f"{control}/requests").json()

    assert first.status_code == 429
    assert first.headers["retry-after"] == "1"
    assert log["counts"]["openai.generate"] == 1
    (generated,) = [r for r in log["requests"] if r["endpoint"] == "openai.generate"]
    assert generated["headers"]["authorization"] == f"Bearer {OPENAI_KEY}"

    assert httpx.post(f"{control}/reset").is_success
    assert bare_double.latency == 0.0
    assert bare_double.requests("openai.generate") == []


def test_a_fal_request_moves_from_queue_to_progress_to_completed(
    bare_double: ProviderDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The double's queue runs on its own clock: set it, so that no state depends on how fast we poll.
    now = [1000.0]
    monkeypatch.setattr(fal_api, "time", time_module(monotonic=lambda: now[0]))
    bare_double.latency = 10
    submitted = httpx.post(
        f"{bare_double.fal_queue_url}/fal-ai/flux-2-pro",
        headers=FAL_AUTH,
        json={"prompt": "x", "image_size": "square"},
    ).json()

    def status() -> str:
        return httpx.get(submitted["status_url"], headers=FAL_AUTH).json()["status"]

    seen = [status()]
    now[0] += 5
    seen.append(status())
    now[0] += 6
    seen.append(status())

    assert seen == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    output = httpx.get(submitted["response_url"], headers=FAL_AUTH).json()
    assert output["images"][0]["width"] == output["images"][0]["height"] == 512
    with Image.open(io.BytesIO(httpx.get(output["images"][0]["url"]).content)) as image:
        assert image.size == (512, 512)


def test_fal_endpoints_require_the_key_scheme(bare_double: ProviderDouble) -> None:
    submitted = httpx.post(
        f"{bare_double.fal_queue_url}/fal-ai/flux-2-max", headers=FAL_AUTH, json={"prompt": "x"}
    )
    status_url = submitted.json()["status_url"]

    assert httpx.get(status_url).status_code == 401
    assert httpx.get(status_url, headers={"Authorization": f"Bearer {FAL_KEY}"}).status_code == 401
    # Another account's request id is indistinguishable from an unknown one.
    assert httpx.get(status_url, headers={"Authorization": "Key other:0123456789abcdef01"}).status_code == 404


@pytest.mark.parametrize(
    ("model", "width", "height", "quality", "tokens"),
    [
        ("gpt-image-1", 1024, 1024, "low", 272),
        ("gpt-image-1-mini", 1024, 1536, "medium", 1584),
        ("gpt-image-1.5", 1536, 1024, "auto", 1568),
        ("gpt-image-2", 1024, 1024, "high", 7024),
        ("gpt-image-2", 2048, 2048, "low", 784),
        ("chatgpt-image-latest", 1024, 1024, "medium", 1756),
        ("gpt-image-2.5-flare", 1024, 1024, "xhigh", 10536),
        ("gpt-image-2.5-sunburst", 1024, 1024, "max", 14048),
    ],
)
def test_output_tokens_follow_the_price_table(
    model: str, width: int, height: int, quality: str, tokens: int
) -> None:
    assert output_tokens(model, width, height, quality) == tokens


def test_an_avatar_is_a_whole_image_of_the_size_asked_for() -> None:
    # How fast it draws is a benchmark figure (`python -m bench double`), never a test's assertion.
    data = render_avatar("A designer in a green jumper", 1024, 1024)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.size == (1024, 1024)


def test_scripts_refuse_unknown_faults_and_providers(bare_double: ProviderDouble) -> None:
    with pytest.raises(ValueError):
        bare_double.script("openai", ["nope"])
    with pytest.raises(ValueError):
        bare_double.script("midjourney", ["rate_limit"])
    assert {"invalid_key", "moderation", "reset", "slow", "truncated"} <= FAULTS


def test_the_command_line_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "provider_double", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        first_line = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert first_line.startswith("OPENAI_BASE_URL=http://127.0.0.1:")
        base_url = first_line.partition("=")[2]
        models = httpx.get(f"{base_url}/models", headers={"Authorization": "Bearer sk-demo"})
        assert models.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_the_moments_of_streamed_partials_are_set_through_the_control_endpoint(
    bare_double: ProviderDouble,
) -> None:
    control = f"{bare_double.url}/_double"
    assert httpx.post(f"{control}/partials", json={"at": [0.1, 0.5]}).json()["partial_at"] == [0.1, 0.5]
    assert bare_double.partial_at == (0.1, 0.5)
    for bad in ([0.6, 0.3], [1.5], [0.1, 0.2, 0.3, 0.4]):
        assert httpx.post(f"{control}/partials", json={"at": bad}).status_code == 400
    streamed = httpx.post(
        f"{bare_double.openai_base_url}/images/generations",
        headers={"Authorization": f"Bearer {OPENAI_KEY}"},
        json={"prompt": "x", "size": "1024x1024", "quality": "low", "stream": True, "partial_images": 3},
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = [line.split(": ", 1)[1] for line in streamed.text.splitlines() if line.startswith("event: ")]
    # Three partials asked, two moments set: two partials, then the image.
    assert events == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    refused = httpx.post(
        f"{bare_double.openai_base_url}/images/generations",
        headers={"Authorization": f"Bearer {OPENAI_KEY}"},
        json={"prompt": "x", "stream": True, "partial_images": 4},
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "partial_images"
    assert httpx.post(f"{control}/reset").is_success
    assert bare_double.partial_at == (0.3, 0.6, 0.9)
