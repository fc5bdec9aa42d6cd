"""The double's fal.ai queue API (under `/fal`) and its unauthenticated CDN (under `/cdn`).

Where each fault fires (a key suffix fault applies to every request made with that key):

- at submit (`POST /fal/{app_id}`): invalid_key 401 (also on status, result and cancel),
  forbidden and insufficient_quota 403 "User is locked. Reason: Exhausted balance…", rate_limit 429 with
  `Retry-After: 1`, server_error 503, unknown_model 404, slow (answers after `hang_seconds`),
  reset (TCP reset, no request is created);
- at status: gateway_timeout and completed_error report COMPLETED with `error` / `error_type`;
- at result (`GET …/requests/{id}`): moderation 422 with `detail[0].type == "content_policy_violation"`,
  gateway_timeout 504 (`request_timeout`), completed_error 500 (`runner_scheduling_failure`),
  malformed (200, body not JSON), bad_base64 (200, the image a data URL that is not base64);
- at the CDN download (`GET /cdn/{file}`): non_image, truncated, wrong_size.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image

from .avatar import CONTENT_TYPES, render_avatar
from .ledger import Billed, fal_amount, megapixels
from .wire import NOT_AN_IMAGE, Incoming, Reply, json_reply, key_fault

if TYPE_CHECKING:
    from .server import ProviderDouble

KNOWN_APPS = frozenset({"fal-ai/flux-2-max", "fal-ai/flux-2-pro", "fal-ai/flux-2-flex", "fal-ai/flux-2"})
IMAGE_SIZES = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
REQUEST_PATH = re.compile(r"^/fal/(?P<app>[^/]+/[^/]+)/requests/(?P<id>[^/]+)(?P<tail>/status|/cancel)?/?$")
RESULT_FAULTS = frozenset(
    {
        "moderation",
        "gateway_timeout",
        "completed_error",
        "malformed",
        "bad_base64",
        "non_image",
        "truncated",
        "wrong_size",
    }
)

MODERATION_DETAIL = {
    "loc": ["body", "prompt"],
    "msg": "The content could not be processed because it contained material flagged by a content checker.",
    "type": "content_policy_violation",
    "url": "https://docs.fal.ai/errors#content_policy_violation",
}


@dataclass
class FalJob:
    """One queued request."""

    request_id: str
    app_root: str
    api_key: str
    prompt: str
    width: int
    height: int
    output_format: str
    seed: int
    fault: str | None
    latency: float
    sync_mode: bool = False
    account: str = "default"
    submitted_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))  # the double's clock
    price: tuple[int, int] = (0, 0)  # fal's price for the app when the request was queued
    input_megapixels: int = 0  # an edit's reference images, billed as processed megapixels
    created: float = field(default_factory=lambda: time.monotonic())  # read when made: tests set the clock
    canceled: bool = False
    result: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def elapsed(self) -> float:
        """Return seconds since submit."""
        return time.monotonic() - self.created

    def done(self) -> bool:
        """Return whether the job has finished (or was canceled)."""
        return self.canceled or self.elapsed() >= self.latency


# How fal's request list reports a finished request, by the fault it met (a 2xx alone is billed).
LISTED_STATUS = {"moderation": 422, "gateway_timeout": 504, "completed_error": 500}


def new_request_id() -> str:
    return str(uuid.uuid4())


def as_billed(job: FalJob) -> Billed | None:
    """Return a finished request as fal's books see it (None while it runs, or once cancelled)."""
    if job.canceled or not job.done():
        return None
    status = LISTED_STATUS.get(job.fault or "", 200)
    return Billed(
        "fal", job.api_key, job.account, job.app_root, job.width, job.height, 1,
        at=job.submitted_at + dt.timedelta(seconds=job.latency),
        request_id=job.request_id,
        input_nanousd=job.input_megapixels * job.price[1],
        output_nanousd=fal_amount(job.price, job.width, job.height),
        status_code=status,
        unit_price_nanousd=job.price[0],
    )  # fmt: skip


def _detail(status: int, detail: Any, **headers: str) -> Reply:
    """Return an error in fal's `{"detail": …}` shape."""
    return json_reply(status, {"detail": detail}, **headers)


def _authenticate(req: Incoming) -> str | Reply:
    """Return the key from `Authorization: Key …` or a 401."""
    api_key = req.credential("Key")
    if api_key is None:
        return _detail(401, "Missing or invalid Authorization header. Use 'Authorization: Key <key>'.")
    if key_fault(api_key) == "invalid_key":
        return _detail(401, "No user found for Key ID and Secret")
    return api_key


def _submit_fault_reply(fault: str | None, app_id: str) -> Reply | None:
    """Return the reply for faults that fire at submit, or None."""
    match fault:
        case "invalid_key":
            return _detail(401, "No user found for Key ID and Secret")
        case "forbidden" | "insufficient_quota":
            return _detail(
                403,
                "User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.",
            )
        case "rate_limit":
            return _detail(429, "Rate limit exceeded. Please slow down.", **{"Retry-After": "1"})
        case "server_error":
            return _detail(503, "Service temporarily unavailable.")
        case "unknown_model":
            return _detail(404, f"Application '{app_id}' not found.")
        case "reset" | "stream_break":  # fal streams nothing: a stream that breaks is a reset
            return Reply(reset=True)
    return None


def _validation_error(field_name: str, message: str, type_: str = "value_error") -> Reply:
    """Return a 422 in fal's (FastAPI) validation shape."""
    return _detail(422, [{"loc": ["body", field_name], "msg": message, "type": type_}])


def _parse_input(body: Any) -> dict[str, Any] | Reply:
    """Return the job parameters from the model input, or a 422."""
    if not isinstance(body, dict):
        return _validation_error("body", "Input should be a valid JSON object.", "model_attributes_type")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return _validation_error("prompt", "Field required", "missing")
    size = body.get("image_size", "landscape_4_3")
    if isinstance(size, str) and size in IMAGE_SIZES:
        width, height = IMAGE_SIZES[size]
    elif isinstance(size, dict) and all(isinstance(size.get(k), int) for k in ("width", "height")):
        width, height = size["width"], size["height"]
        if not (64 <= width <= 4096 and 64 <= height <= 4096):
            return _validation_error("image_size", "Width and height must be between 64 and 4096.")
    else:
        return _validation_error("image_size", "Input should be a preset name or {width, height}.")
    output_format = body.get("output_format", "jpeg")
    if output_format not in {"jpeg", "png"}:
        return _validation_error("output_format", "Input should be 'jpeg' or 'png'.", "enum")
    references = _references(body.get("image_urls"))
    if isinstance(references, Reply):
        return references
    seed = body.get("seed")
    if not isinstance(seed, int):
        seed = zlib.crc32(prompt.encode()) & 0x7FFFFFFF
    return {
        "prompt": prompt,
        "width": width,
        "height": height,
        "output_format": output_format,
        "seed": seed,
        "sync_mode": bool(body.get("sync_mode")),
        "input_megapixels": sum(megapixels(w, h) for w, h in references),
        "references": len(references),
    }


def _references(urls: Any) -> list[tuple[int, int]] | Reply:
    """Return the sizes of an edit's `image_urls` (data URIs only: the double fetches nothing), or a 422."""
    if urls is None:
        return []
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        return _validation_error("image_urls", "Input should be a list of URLs.", "list_type")
    sizes = []
    for url in urls:
        header, _, data = url.partition(",")
        if not (header.startswith("data:image/") and header.endswith(";base64")):
            return _validation_error("image_urls", "The double takes data URIs only.", "url_parsing")
        try:
            with Image.open(io.BytesIO(base64.b64decode(data, validate=True))) as image:
                sizes.append(image.size)
        except (OSError, ValueError):
            return _validation_error("image_urls", "Could not read an input image.", "image_load_error")
    return sizes


def submit(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer POST /fal/{app_id}: queue a request."""
    api_key = _authenticate(req)
    if isinstance(api_key, Reply):
        return api_key
    app_id = req.path.removeprefix("/fal/").strip("/")
    app_root = "/".join(app_id.split("/")[:2])
    fault = double.take_fault("fal", api_key)
    failure = _submit_fault_reply(fault, app_id)
    if failure is not None:
        return failure
    if app_root not in KNOWN_APPS:
        return _detail(404, f"Application '{app_id}' not found.")
    try:
        params = _parse_input(req.json())
    except ValueError:
        params = _validation_error("body", "Invalid JSON.", "json_invalid")
    if isinstance(params, Reply):
        return params
    if app_id.endswith("/edit") and not params["references"]:
        return _validation_error("image_urls", "Field required", "missing")
    job = FalJob(
        request_id=new_request_id(),
        app_root=app_root,
        api_key=api_key,
        prompt=params["prompt"],
        width=params["width"],
        height=params["height"],
        output_format=params["output_format"],
        seed=params["seed"],
        fault=fault if fault in RESULT_FAULTS else None,
        latency=double.latency,
        sync_mode=params["sync_mode"],
        account=double.account_of(api_key),
        submitted_at=double.now(),
        price=double.fal_price(app_root),
        input_megapixels=params["input_megapixels"] if app_id.endswith("/edit") else 0,
    )
    with double.lock:
        double.fal_jobs[job.request_id] = job
    # The real API answers with URLs on the app's root: `/edit` is dropped from status and result paths.
    prefix = f"{req.base_url}/fal/{app_root}/requests/{job.request_id}"
    reply = json_reply(
        200,
        {
            "request_id": job.request_id,
            "status_url": f"{prefix}/status",
            "response_url": prefix,
            "cancel_url": f"{prefix}/cancel",
            "queue_position": _queue_position(double, job),
        },
    )
    reply.delay = double.hang_seconds if fault == "slow" else 0.0
    return reply


def _queue_position(double: ProviderDouble, job: FalJob) -> int:
    """Return how many unfinished requests were submitted before this one."""
    with double.lock:
        earlier = [other for other in double.fal_jobs.values() if other.created < job.created]
    return sum(1 for other in earlier if not other.done())


def _job_for(double: ProviderDouble, req: Incoming) -> FalJob | Reply:
    """Return the job the path names, or the 401/404 the real API gives."""
    api_key = _authenticate(req)
    if isinstance(api_key, Reply):
        return api_key
    match = REQUEST_PATH.match(req.path)
    assert match is not None
    with double.lock:
        job = double.fal_jobs.get(match["id"])
    # Another account's request id looks exactly like an unknown one.
    if job is None or job.api_key != api_key or job.app_root != match["app"]:
        return _detail(404, "Request not found.")
    return job


def status(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer GET …/requests/{id}/status."""
    job = _job_for(double, req)
    if isinstance(job, Reply):
        return job
    elapsed = job.elapsed()
    if job.canceled:
        return json_reply(
            200, {"status": "COMPLETED", "error": "Request was cancelled.", "error_type": "request_cancelled"}
        )
    if elapsed < job.latency * 0.3:
        return json_reply(200, {"status": "IN_QUEUE", "queue_position": _queue_position(double, job)})
    if elapsed < job.latency:
        return json_reply(200, {"status": "IN_PROGRESS", "logs": []})
    response_url = f"{req.base_url}/fal/{job.app_root}/requests/{job.request_id}"
    body: dict[str, Any] = {"status": "COMPLETED", "logs": [], "response_url": response_url}
    if job.fault == "gateway_timeout":
        body |= {"error": "Request timed out.", "error_type": "request_timeout"}
    elif job.fault == "completed_error":
        body |= {"error": "Runner scheduling failure.", "error_type": "runner_scheduling_failure"}
    return json_reply(200, body)


def result(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer GET …/requests/{id}: the model output or the failure."""
    job = _job_for(double, req)
    if isinstance(job, Reply):
        return job
    if job.canceled:
        return _detail(400, "Request was cancelled.")
    with double.lock:
        deleted = job.request_id in double.deleted_payloads
    if deleted:
        return _detail(404, "The request's payloads were deleted.")
    if not job.done():
        return _detail(400, "Request is still in progress.")
    match job.fault:
        case "moderation":
            return _detail(422, [MODERATION_DETAIL])
        case "gateway_timeout":
            return json_reply(504, {"detail": "Request timed out.", "error_type": "request_timeout"})
        case "completed_error":
            return json_reply(
                500, {"detail": "Runner scheduling failure.", "error_type": "runner_scheduling_failure"}
            )
        case "malformed":
            return Reply(status=200, body=b'{"images": [{"url": "')
    with job.lock:
        if job.result is None:
            job.result = _render_result(double, req, job)
    return json_reply(200, job.result)


def _render_result(double: ProviderDouble, req: Incoming, job: FalJob) -> dict[str, Any]:
    """Render the image, publish it on the CDN and return the model output."""
    width, height = job.width, job.height
    if job.fault == "wrong_size":
        width, height = width // 2, height // 2
    data = render_avatar(job.prompt, width, height, job.output_format, variant=job.seed)
    if job.fault == "non_image":
        data = NOT_AN_IMAGE
    elif job.fault == "truncated":
        data = data[: len(data) // 2]
    content_type = CONTENT_TYPES[job.output_format]
    if job.fault == "bad_base64":
        url = f"data:{content_type};base64,@@ not base64 @@"
    elif job.sync_mode:
        url = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
    else:
        name = f"{uuid.uuid4().hex}.{'jpg' if job.output_format == 'jpeg' else job.output_format}"
        with double.lock:
            double.cdn_files[name] = (data, content_type)
        url = f"{req.base_url}/cdn/{name}"
    # The output reports the size that was asked for, even when the bytes disagree (wrong_size).
    image = {"url": url, "width": job.width, "height": job.height, "content_type": content_type}
    return {
        "images": [image],
        "seed": job.seed,
        "has_nsfw_concepts": [False],
        "prompt": job.prompt,
        "timings": {"inference": round(job.latency, 3)},
    }


def cancel(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer PUT …/requests/{id}/cancel."""
    job = _job_for(double, req)
    if isinstance(job, Reply):
        return job
    if job.done():
        return json_reply(400, {"status": "ALREADY_COMPLETED"})
    job.canceled = True
    return json_reply(202, {"status": "CANCELLATION_REQUESTED"})


def cdn(double: ProviderDouble, req: Incoming) -> Reply:
    """Serve a generated file without authentication, like fal's public CDN."""
    name = req.path.removeprefix("/cdn/")
    with double.lock:
        found = double.cdn_files.get(name)
    if found is None:
        return Reply(status=404, body=b"Not Found", content_type="text/plain")
    data, content_type = found
    return Reply(status=200, body=data, content_type=content_type)
