"""Private files on the default storage (a local folder, or an S3-compatible bucket): write, serve, delete.

Not specific to avatars: any model's FileField kept privately (generated images and their thumbnails,
uploaded reference photos) goes through these. Files sit under unguessable names; a view checks that
the requester may see the file (the workspace check) and only then calls `serve`: the bytes from the
folder, or a redirect to a signed URL that expires within AWS_QUERYSTRING_EXPIRE seconds (60).

A storage that fails (S3 down, refusing, a full disk) raises StorageFailed from `save_all`, which has
deleted whatever part of the batch it had written: nothing is left half-written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol, cast

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponseBase, HttpResponseRedirect
from django.utils.cache import patch_cache_control

logger = logging.getLogger(__name__)

# Stored files never change under a name, so browsers may keep them; "private" keeps shared caches out.
MAX_AGE = 24 * 3600
# Only raster types we produced or checked; anything else is sent as an opaque download, never rendered.
SAFE_TYPES = {"image/png", "image/jpeg", "image/webp"}


class StorageFailed(Exception):
    """The storage did not take a file (S3 down or refusing, disk full); nothing of the batch is kept."""


class SigningStorage(Protocol):
    """django-storages' S3Storage (untyped): its url() also signs the headers the bucket answers with."""

    querystring_expire: int

    def url(self, name: str | None, parameters: dict[str, str] | None = None) -> str: ...


def signs_urls(storage: Storage) -> bool:
    """Whether the storage hands out signed, expiring URLs (S3) instead of being read by the app."""
    return bool(getattr(storage, "querystring_auth", False))


def save_all(files: Sequence[tuple[FieldFile, str, bytes]]) -> None:
    """Write each (field, name, data) to its field's storage (the model is not saved), or none of them.

    On any failure the files already written are deleted again and StorageFailed is raised.
    """
    written: list[FieldFile] = []
    try:
        for field, name, data in files:
            field.save(name, ContentFile(data), save=False)
            written.append(field)
    except Exception as exc:
        left = delete_all((field.storage, field.name) for field in written if field.name)
        if left:
            logger.error("storage failed, and %d written file(s) could not be removed: %s", len(left), left)
        raise StorageFailed(f"{type(exc).__name__} while writing {name!r}") from exc


def delete_all(files: Iterable[tuple[Storage, str]]) -> list[str]:
    """Delete each (storage, name); return the names that could not be deleted (logged, not raised).

    A file whose row is gone is never shown again: a failed delete costs only space.
    """
    left = []
    for storage, name in files:
        try:
            storage.delete(name)
        except Exception:  # OSError from a folder; botocore's errors from S3
            logger.warning("could not delete stored file %s", name, exc_info=True)
            left.append(name)
    return left


def redirect_max_age() -> int:
    """Seconds a browser may reuse a redirect to a signed URL: well within the URL's own lifetime."""
    return max(0, settings.AWS_QUERYSTRING_EXPIRE // 2)


def serve(field: FieldFile, content_type: str, filename: str, *, download: bool) -> HttpResponseBase:
    """Answer with a stored file the caller has checked the requester may see.

    From a folder: the bytes, with safe headers. From S3: a redirect to a signed URL that expires within
    AWS_QUERYSTRING_EXPIRE seconds, carrying the content disposition the bucket must answer with.
    """
    if content_type not in SAFE_TYPES:
        content_type, download = "application/octet-stream", True
    if signs_urls(field.storage):
        disposition = f'{"attachment" if download else "inline"}; filename="{filename}"'
        storage = cast(SigningStorage, field.storage)
        url = storage.url(
            field.name,
            parameters={"ResponseContentDisposition": disposition, "ResponseContentType": content_type},
        )
        redirect = HttpResponseRedirect(url)
        patch_cache_control(redirect, private=True, max_age=redirect_max_age())
        return redirect
    response = FileResponse(
        field.open("rb"), content_type=content_type, as_attachment=download, filename=filename
    )
    patch_cache_control(response, private=True, max_age=MAX_AGE)
    response["X-Content-Type-Options"] = "nosniff"
    return response
