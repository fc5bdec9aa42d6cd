"""Provider clients: the only code that knows provider URLs, payloads and error shapes.

`openai_images.generate` / `check_key` and `fal_queue.submit` / `wait_for_result` / `cancel` all take the
user's key explicitly and raise `ProviderError`, whose `kind` says what happened and whether a retry
makes sense.
"""

from __future__ import annotations

from .base import (
    RETRYABLE,
    ErrorKind,
    ImageRequest,
    KeyCheck,
    ProviderError,
    ProviderImage,
    ProviderResult,
    sanitize,
)

__all__ = [
    "RETRYABLE",
    "ErrorKind",
    "ImageRequest",
    "KeyCheck",
    "ProviderError",
    "ProviderImage",
    "ProviderResult",
    "sanitize",
]
