"""Live previews: the partial images a provider streams while it draws (docs/decisions.md D36).

A preview is the provider's unfinished picture, so it is kept as briefly and as privately as can be:
only the latest one, under an unguessable name outside any static URL, on the generation's own row
(never a GeneratedImage, so never in the gallery, never in an archive), served only to the generation's
workspace, and deleted when the generation ends, whichever way it ends (`pipeline.finish`). A preview
that cannot be stored or checked is skipped: it must never fail or slow down the generation itself.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import F

from generation import storage
from generation.images import ImageRejected, check_image
from generation.models import Generation
from providers.adapter import Adapter, Capability
from providers.base import ProviderImage

logger = logging.getLogger(__name__)

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
CONTENT_TYPES = {ext: content_type for content_type, ext in EXTENSIONS.items()}


def partial_images(adapter: Adapter, *, wanted: bool, n: int) -> int:
    """Return how many partial images to ask for: none unless wanted, streamed by the adapter, one image."""
    if not wanted or Capability.STREAM not in adapter.capabilities or n != 1:
        return 0
    return int(settings.PREVIEW_PARTIAL_IMAGES)


def offered(adapter: Adapter) -> bool:
    """Whether the generate form offers previews for this adapter's models."""
    return Capability.STREAM in adapter.capabilities


def content_type(generation: Generation) -> str:
    """Return the stored preview's content type (from its extension, which `store` chose)."""
    return CONTENT_TYPES.get((generation.preview.name or "").rsplit(".", 1)[-1], "application/octet-stream")


def sink(generation: Generation, attempt: uuid.UUID) -> Callable[[ProviderImage], None]:
    """Return the worker's `Call.on_partial` for one attempt of a generation."""

    def on_partial(image: ProviderImage) -> None:
        try:
            store(generation, attempt, image)
        except Exception:
            # A preview is a courtesy: the call goes on whatever happens to it.
            logger.exception("generation %s: could not store a preview", generation.code)

    return on_partial


def store(generation: Generation, attempt: uuid.UUID, image: ProviderImage) -> bool:
    """Keep `image` as the generation's preview in place of the previous one; return whether it was kept.

    Only while `attempt` runs the generation: once it has ended (finished, cancelled from its page,
    taken over), the new file is deleted at once, so nothing outlives the generation.
    """
    try:
        checked = check_image(image.data, width=generation.width, height=generation.height)
    except ImageRejected as exc:
        logger.info("generation %s: preview skipped: %s", generation.code, exc)
        return False
    owned = Generation.objects.filter(pk=generation.pk, attempt=attempt, status=Generation.Status.RUNNING)
    previous = owned.values_list("preview", flat=True).first()
    if previous is None:
        return False  # ended or taken over: nothing to show
    ext = EXTENSIONS[checked.content_type]
    name = default_storage.save(
        f"previews/{generation.workspace.code}/{secrets.token_urlsafe(24)}.{ext}", ContentFile(checked.data)
    )
    kept = owned.update(preview=name, previews_received=F("previews_received") + 1)
    if not connection.in_atomic_block:
        connection.close()  # as pipeline.release_connection (which imports this module): none held while drawing
    discard(previous if kept else name)
    return bool(kept)


def discard(name: str) -> None:
    """Delete a preview file; a failure is logged, never raised (the generation goes on or has ended)."""
    if name:
        storage.delete_all([(default_storage, name)])
