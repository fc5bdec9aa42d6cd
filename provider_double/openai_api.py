"""The double's OpenAI Images API: `GET /v1/models`, `POST /v1/images/generations` and `/v1/images/edits`.

Faults fire on the generation call (key suffix or script) and, by key suffix only, on the model list:
invalid_key 401, forbidden 403 (org not verified), insufficient_quota 429, moderation 400
`moderation_blocked`, rate_limit 429 with `Retry-After: 1`, server_error and completed_error 500,
gateway_timeout 504, unknown_model 404, malformed (200, body not JSON), bad_base64 (200 with its usage,
image data not base64), non_image / truncated / wrong_size (bad bytes inside valid JSON), slow (answers
after `hang_seconds`), reset (TCP reset).

`stream: true` with `partial_images` N (0–3) answers with server-sent events: N
`image_generation.partial_image` events at the double's `partial_at` fractions of its latency, then
`image_generation.completed` (one per image) with the usage, each partial billed
`PARTIAL_IMAGE_TOKENS` more output tokens. The `stream_break` fault resets the connection right after
the first partial (or, without streaming, instead of answering): the request is billed all the same.
"""

from __future__ import annotations

import base64
import io
import json
import math
import secrets
import time
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING, Any

from PIL import Image

from .avatar import render_avatar
from .ledger import Billed, openai_image_input_price, openai_price
from .wire import NOT_AN_IMAGE, Incoming, Reply, json_reply, key_fault

if TYPE_CHECKING:
    from .server import ProviderDouble

GPT_IMAGE_1_FAMILY = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5")
LISTED_MODELS = (
    *GPT_IMAGE_1_FAMILY,
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    "gpt-image-2.5-flare",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.6-flare",
    "gpt-image-2.6-sunburst",
    "chatgpt-image-latest",
)

# Output tokens per image, from docs/providers.md.
GPT_IMAGE_1_TOKENS = {
    (1024, 1024): {"low": 272, "medium": 1056, "high": 4160},
    (1024, 1536): {"low": 408, "medium": 1584, "high": 6240},
    (1536, 1024): {"low": 400, "medium": 1568, "high": 6208},
}
GPT_IMAGE_2_TOKENS_1024 = {"low": 196, "medium": 1756, "high": 7024}
EXTRA_QUALITY_FACTOR = {"xhigh": 1.5, "max": 2.0}

CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
# Extra output tokens billed per streamed partial image ("about 100", docs/providers.md).
PARTIAL_IMAGE_TOKENS = 100


def is_gpt_image_2(model: str) -> bool:
    """Return whether the model belongs to the gpt-image-2 family (free sizes, its own token table)."""
    return model.startswith("gpt-image-2") or model == "chatgpt-image-latest"


def is_known(model: str) -> bool:
    """Return whether the double serves this model."""
    return model in GPT_IMAGE_1_FAMILY or is_gpt_image_2(model)


def output_tokens(model: str, width: int, height: int, quality: str) -> int:
    """Return the output tokens billed per image, following docs/providers.md's table."""
    quality = "medium" if quality == "auto" else quality
    if model in GPT_IMAGE_1_FAMILY:
        return GPT_IMAGE_1_TOKENS[(width, height)][quality]
    factor = EXTRA_QUALITY_FACTOR.get(quality, 1.0)
    base = GPT_IMAGE_2_TOKENS_1024["high" if quality in EXTRA_QUALITY_FACTOR else quality]
    return math.ceil(base * factor * width * height / (1024 * 1024))


def mask_key(api_key: str) -> str:
    """Return the key masked the way OpenAI echoes it in a 401 message."""
    prefix = "sk-proj-" if api_key.startswith("sk-proj-") else api_key[:3]
    return prefix + "*" * max(4, len(api_key) - len(prefix) - 4) + api_key[-4:]


def error(
    status: int, message: str, type_: str, code: str | None = None, param: str | None = None, **headers: str
) -> Reply:
    """Return an error in OpenAI's shape."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return json_reply(status, body, **headers)


def fault_reply(fault: str | None, api_key: str, model: str) -> Reply | None:
    """Return the error reply for faults that replace the answer, or None."""
    match fault:
        case "invalid_key":
            return error(
                401,
                f"Incorrect API key provided: {mask_key(api_key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        case "forbidden":
            return error(
                403,
                f"Your organization must be verified to use the model `{model}`. Please go to: "
                "https://platform.openai.com/settings/organization/general and click on Verify Organization.",
                "invalid_request_error",
            )
        case "insufficient_quota":
            return error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            )
        case "moderation":
            return error(
                400,
                "Your request was rejected as a result of our safety system. Your request may contain "
                "content that is not allowed by our safety system.",
                "image_generation_user_error",
                "moderation_blocked",
            )
        case "rate_limit":
            return error(
                429,
                f"Rate limit reached for {model} on images per minute (IPM): Limit 5, Used 5, Requested 1. "
                "Please try again in 1s.",
                "requests",
                "rate_limit_exceeded",
                **{"Retry-After": "1"},
            )
        case "server_error" | "completed_error":
            return error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
            )
        case "gateway_timeout":
            return error(504, "Gateway timeout.", "server_error")
        case "unknown_model":
            return error(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            )
        case "reset" | "stream_break":
            return Reply(reset=True)
        case "malformed":
            return Reply(status=200, body=b'{"created": 1700000000, "data": [{"b64_json": "iVBOR')
    return None


def authenticate(req: Incoming) -> str | Reply:
    """Return the Bearer key, or the 401 the real API gives without one."""
    api_key = req.credential("Bearer")
    if api_key is None:
        return error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            "invalid_request_error",
        )
    return api_key


def list_models(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer GET /v1/models, honouring faults named by the key."""
    api_key = authenticate(req)
    if isinstance(api_key, Reply):
        return api_key
    fault = key_fault(api_key)
    if fault == "forbidden":
        return error(
            403,
            "You have insufficient permissions for this operation. Missing scopes: api.model.read.",
            "invalid_request_error",
        )
    # Quota, safety and image-content faults only show on image calls, as with the real API.
    if fault in {
        "invalid_key",
        "rate_limit",
        "server_error",
        "gateway_timeout",
        "completed_error",
        "reset",
        "malformed",
    }:
        reply = fault_reply(fault, api_key, "gpt-image-2")
        if reply is not None:
            return reply
    data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "system"} for m in LISTED_MODELS]
    reply = json_reply(200, {"object": "list", "data": data})
    reply.delay = double.hang_seconds if fault == "slow" else 0.0
    return reply


def _parse_size(size: str, model: str) -> tuple[int, int] | str:
    """Return (width, height) or the reason the size is refused."""
    if size == "auto":
        return 1024, 1024
    try:
        w_text, h_text = size.split("x")
        width, height = int(w_text), int(h_text)
    except ValueError:
        return f"Invalid size '{size}'."
    if model in GPT_IMAGE_1_FAMILY:
        if (width, height) not in GPT_IMAGE_1_TOKENS:
            return f"Invalid size '{size}'. Supported sizes are 1024x1024, 1024x1536, 1536x1024, and auto."
        return width, height
    if width % 16 or height % 16 or width <= 0 or height <= 0:
        return f"Invalid size '{size}'. Both sides must be multiples of 16."
    if max(width, height) > 3 * min(width, height):
        return f"Invalid size '{size}'. The aspect ratio must be between 1:3 and 3:1."
    if max(width, height) > 3840 or width * height > 3840 * 2160:
        return f"Invalid size '{size}'. The largest supported size is 3840x2160."
    return width, height


def _validate(body: Any) -> dict[str, Any] | Reply:
    """Return the normalised generation parameters or a 400/404 reply."""
    if not isinstance(body, dict):
        return error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return error(
            400,
            "Missing required parameter: 'prompt'.",
            "invalid_request_error",
            "missing_required_parameter",
            "prompt",
        )
    if len(prompt) > 32000:
        return error(400, "Prompt is too long.", "invalid_request_error", "string_above_max_length", "prompt")
    model = body.get("model") or "gpt-image-2"
    if not isinstance(model, str) or not is_known(model):
        return error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )
    size = _parse_size(str(body.get("size") or "auto"), model)
    if isinstance(size, str):
        return error(400, size, "invalid_request_error", "invalid_value", "size")
    options = _options(body, model)
    if not isinstance(options, dict):
        return options
    return {"model": model, "prompt": prompt, "width": size[0], "height": size[1], **options}


def _invalid(param: str, message: str) -> Reply:
    return error(400, message, "invalid_request_error", "invalid_value", param)


def _options(body: dict[str, Any], model: str) -> dict[str, Any] | Reply:
    """Return quality, output format, background and n, or a 400 reply for the first invalid one."""
    quality = body.get("quality") or "auto"
    qualities = {"low", "medium", "high", "auto"}
    if model.startswith("gpt-image-2.5-"):
        qualities |= set(EXTRA_QUALITY_FACTOR)
    if quality not in qualities:
        return _invalid("quality", f"Invalid value: '{quality}'.")
    output_format = body.get("output_format") or "png"
    if output_format not in CONTENT_TYPES:
        return _invalid("output_format", f"Invalid value: '{output_format}'.")
    background = body.get("background") or "auto"
    if background not in {"transparent", "opaque", "auto"}:
        return _invalid("background", f"Invalid value: '{background}'.")
    if background == "transparent" and output_format == "jpeg":
        return _invalid("background", "Transparent background requires png or webp.")
    n = body.get("n") if body.get("n") is not None else 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 10:
        return _invalid("n", f"Invalid value: {n!r}. n must be between 1 and 10.")
    stream = body.get("stream") is True
    partial_images = body.get("partial_images") if body.get("partial_images") is not None else 0
    if (
        not isinstance(partial_images, int)
        or isinstance(partial_images, bool)
        or not 0 <= partial_images <= 3
    ):
        return _invalid("partial_images", f"Invalid value: {partial_images!r}. It must be between 0 and 3.")
    return {
        "quality": quality,
        "output_format": output_format,
        "background": background,
        "n": n,
        "stream": stream,
        "partial_images": partial_images if stream else 0,
    }


def _image_bytes(fault: str | None, params: dict[str, Any], index: int) -> bytes:
    """Return the bytes for one image, spoiled as the fault asks."""
    if fault == "non_image":
        return NOT_AN_IMAGE
    width, height = params["width"], params["height"]
    if fault == "wrong_size":
        width, height = max(16, width // 2), max(16, height // 2)
    data = render_avatar(
        params["prompt"],
        width,
        height,
        params["output_format"],
        variant=index,
        transparent=params["background"] == "transparent",
    )
    return data[: len(data) // 2] if fault == "truncated" else data


def generate(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer POST /v1/images/generations."""
    api_key = authenticate(req)
    if isinstance(api_key, Reply):
        return api_key
    fault = double.take_fault("openai", api_key)
    try:
        body = req.json()
    except ValueError:
        body = None
    model = body.get("model", "gpt-image-2") if isinstance(body, dict) else "gpt-image-2"
    delay = double.latency + (double.hang_seconds if fault == "slow" else 0.0)
    request_id = f"req_{secrets.token_hex(16)}"
    reply = fault_reply(fault, api_key, str(model))
    params = _validate(body)
    streamed = isinstance(params, dict) and params["stream"]
    if streamed and (reply is None or fault == "stream_break") and isinstance(params, dict):
        reply = stream_reply(double, fault, params, delay)
    elif reply is None:
        reply = params if isinstance(params, Reply) else json_reply(200, _success_body(fault, params))
    if isinstance(params, dict) and (reply.status == 200 or reply.reset):
        # Billed: every answer that made images, readable or not, and a request whose answer was lost
        # on the way back (the image was made and billed anyway).
        _bill(double, api_key, params, request_id)
    reply.delay = 0.0 if reply.reset or reply.events is not None else delay
    reply.headers["x-request-id"] = request_id
    return reply


def _tokens(params: dict[str, Any]) -> tuple[int, int]:
    """Return the (input, output) tokens a request is billed for, its partial images included."""
    per_image = output_tokens(params["model"], params["width"], params["height"], params["quality"])
    partials = params.get("partial_images", 0) * PARTIAL_IMAGE_TOKENS
    return max(1, math.ceil(len(params["prompt"]) / 4)), per_image * params["n"] + partials


def _bill(double: ProviderDouble, api_key: str, params: dict[str, Any], request_id: str) -> None:
    text_tokens, out_tokens = _tokens(params)
    text_price, output_price = openai_price(params["model"])
    image_tokens = params.get("image_tokens", 0)
    input_nanousd = text_tokens * text_price + image_tokens * openai_image_input_price(params["model"])
    double.bill(
        Billed(
            "openai", api_key, double.account_of(api_key), params["model"], params["width"], params["height"],
            params["n"], double.now(), request_id,
            input_nanousd=input_nanousd, output_nanousd=out_tokens * output_price,
            project=double.project_of(api_key),
        )
    )  # fmt: skip


def _success_body(fault: str | None, params: dict[str, Any]) -> dict[str, Any]:
    """Return the JSON body of a successful generation."""
    text_tokens, out_tokens = _tokens(params)
    image_tokens = params.get("image_tokens", 0)
    images = [_image_bytes(fault, params, i) for i in range(params["n"])]
    return {
        "created": int(time.time()),
        "data": [
            {"b64_json": "@@ not base64 @@" if fault == "bad_base64" else base64.b64encode(data).decode()}
            for data in images
        ],
        "background": "transparent" if params["background"] == "transparent" else "opaque",
        "output_format": params["output_format"],
        "quality": "medium" if params["quality"] == "auto" else params["quality"],
        "size": f"{params['width']}x{params['height']}",
        "usage": {
            "input_tokens": text_tokens + image_tokens,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
            "output_tokens": out_tokens,
            "total_tokens": text_tokens + image_tokens + out_tokens,
        },
    }


# Streaming (`stream: true`): partial images while drawing, then the completed image(s) with the usage.


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def stream_reply(double: ProviderDouble, fault: str | None, params: dict[str, Any], latency: float) -> Reply:
    """Return the event stream of a streamed generation, broken after the first partial on `stream_break`."""
    common = {
        "background": "transparent" if params["background"] == "transparent" else "opaque",
        "output_format": params["output_format"],
        "quality": "medium" if params["quality"] == "auto" else params["quality"],
        "size": f"{params['width']}x{params['height']}",
        "created_at": int(time.time()),
    }
    events: list[tuple[float, Callable[[], bytes]]] = []
    moments = double.partial_at[: params["partial_images"]]
    for index, fraction in enumerate(moments):

        def partial(index: int = index) -> bytes:
            data = render_partial(params, index, len(moments))
            event = {"type": "image_generation.partial_image", "partial_image_index": index, **common}
            return _sse({**event, "b64_json": base64.b64encode(data).decode()})

        events.append((fraction * latency, partial))
        if fault == "stream_break":
            return Reply(events=events, break_stream=True)
    if fault == "stream_break":  # no partial asked: it breaks before the first event
        return Reply(events=events, break_stream=True)

    def completed() -> bytes:
        body = _success_body(fault, params)
        return b"".join(
            _sse({"type": "image_generation.completed", **common, "usage": body["usage"], **item})
            for item in body["data"]
        )

    events.append((latency, completed))
    return Reply(events=events)


def render_partial(params: dict[str, Any], index: int, count: int) -> bytes:
    """Return partial image `index` of `count`: the final avatar at a coarser resolution, full size."""
    final = render_avatar(params["prompt"], params["width"], params["height"], "png", variant=0)
    steps = 2 ** (count - index + 2)  # 1 of 2 partials: 1/16 of the resolution; the last: 1/8 …
    with Image.open(io.BytesIO(final)) as image:
        small = image.resize((max(1, image.width // steps), max(1, image.height // steps)))
        coarse = small.resize(image.size, Image.Resampling.NEAREST)
        out = io.BytesIO()
        fmt = {"jpeg": "JPEG", "webp": "WEBP"}.get(params["output_format"], "PNG")
        coarse.convert("RGB" if fmt == "JPEG" else coarse.mode).save(out, fmt)
    return out.getvalue()


# Edits (`POST /v1/images/edits`, multipart): the same faults, checks and answer as a generation, plus the
# reference images, billed as image-input tokens.

MAX_EDIT_IMAGES = 16


def image_input_tokens(width: int, height: int, fidelity: str | None) -> int:
    """Return the image-input tokens the double bills for one reference.

    OpenAI publishes no formula; the double uses the vision formula (fit in 2048², shortest side to 768,
    85 + 170 per 512-px tile), four times that for `input_fidelity=high`. The app's quote assumes at most
    `providers.adapters.openai.MAX_IMAGE_TOKENS_PER_REFERENCE` per reference, which this never passes.
    """
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    tiles = math.ceil(w * scale / 512) * math.ceil(h * scale / 512)
    return (85 + 170 * tiles) * (4 if fidelity == "high" else 1)


def _multipart(req: Incoming) -> tuple[dict[str, str], list[bytes]] | None:
    """Return the text fields and the `image`/`image[]` files of a multipart body, or None."""
    content_type = req.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + req.body)
    if not message.is_multipart():
        return None
    fields: dict[str, str] = {}
    files: list[bytes] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        if name in ("image", "image[]"):
            files.append(payload)
        elif part.get_filename() is None:
            fields[name] = payload.decode("utf-8")
    return fields, files


def _edit_params(req: Incoming) -> dict[str, Any] | Reply:
    """Return the edit's parameters (a generation's, plus the references' image tokens) or a 400."""
    parsed = _multipart(req)
    if parsed is None:
        return error(400, "The edits endpoint takes multipart/form-data.", "invalid_request_error")
    fields, files = parsed
    if not files:
        return error(
            400,
            "Missing required parameter: 'image'.",
            "invalid_request_error",
            "missing_required_parameter",
            "image",
        )
    if len(files) > MAX_EDIT_IMAGES:
        return _invalid("image", f"At most {MAX_EDIT_IMAGES} images may be given.")
    body: dict[str, Any] = dict(fields)
    if "n" in body:
        body["n"] = int(body["n"]) if body["n"].isdigit() else body["n"]
    params = _validate(body)
    if isinstance(params, Reply):
        return params
    fidelity = fields.get("input_fidelity")
    if fidelity is not None and (fidelity not in {"high", "low"} or is_gpt_image_2(params["model"])):
        return _invalid("input_fidelity", f"input_fidelity is not supported for {params['model']}.")
    tokens = 0
    for data in files:
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in {"PNG", "JPEG", "WEBP"}:
                    raise ValueError(image.format)
                tokens += image_input_tokens(image.width, image.height, fidelity)
        except (OSError, ValueError):
            return _invalid("image", "Invalid image file: supported formats are png, jpeg and webp.")
    params["image_tokens"] = tokens
    params["references"] = len(files)
    return params


def edit(double: ProviderDouble, req: Incoming) -> Reply:
    """Answer POST /v1/images/edits: a generation from reference images, with the same faults."""
    api_key = authenticate(req)
    if isinstance(api_key, Reply):
        return api_key
    fault = double.take_fault("openai", api_key)
    params = _edit_params(req)
    model = params.get("model", "gpt-image-2") if isinstance(params, dict) else "gpt-image-2"
    delay = double.latency + (double.hang_seconds if fault == "slow" else 0.0)
    request_id = f"req_{secrets.token_hex(16)}"
    reply = fault_reply(fault, api_key, str(model))
    if reply is None:
        reply = params if isinstance(params, Reply) else json_reply(200, _success_body(fault, params))
    if isinstance(params, dict) and (reply.status == 200 or reply.reset):
        _bill(double, api_key, params, request_id)
    reply.delay = 0.0 if reply.reset else delay
    reply.headers["x-request-id"] = request_id
    return reply
