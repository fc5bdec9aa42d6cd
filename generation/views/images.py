"""Image files, served only to members of the image's workspace.

Media is never public: originals and thumbnails sit under unguessable names, outside any static URL,
and every request goes through the workspace check first. With S3 the check is the same and the
answer is a redirect to a signed URL that expires within minutes.
"""

from __future__ import annotations

from typing import Protocol, cast
from uuid import UUID

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponseBase, HttpResponseRedirect
from django.utils.cache import patch_cache_control
from django.utils.text import slugify
from django.views.decorators.http import require_safe

from accounts.http import WorkspaceRequest, workspace_required
from generation.models import GeneratedImage
from generation.scoping import get_image, get_reference

# Files never change under a code, so browsers may keep them; "private" keeps shared caches out.
MAX_AGE = 24 * 3600
# Shorter than the signed URL's lifetime (AWS_QUERYSTRING_EXPIRE, 300 s by default).
REDIRECT_MAX_AGE = 60
# Only raster types we produced; anything else is sent as an opaque download, never rendered.
SAFE_TYPES = {"image/png", "image/jpeg", "image/webp"}


def download_name(image: GeneratedImage, extension: str) -> str:
    """Return a file name such as `budget-ben-20260115-2.png`."""
    generation = image.generation
    stem = slugify(generation.persona_name) or "avatar"
    return f"{stem}-{generation.created_at:%Y%m%d}-{image.index + 1}.{extension}"


class SigningStorage(Protocol):
    """django-storages' S3Storage (untyped): its url() also signs the headers the bucket answers with."""

    def url(self, name: str | None, parameters: dict[str, str] | None = None) -> str: ...


def _serve(field: FieldFile, content_type: str, filename: str, *, download: bool) -> HttpResponseBase:
    """Stream a stored file, or redirect to a signed URL when the storage makes them."""
    # S3 with querystring_auth: let the bucket send the bytes, through a URL that soon expires.
    if getattr(field.storage, "querystring_auth", False):
        disposition = f'{"attachment" if download else "inline"}; filename="{filename}"'
        storage = cast(SigningStorage, field.storage)
        url = storage.url(field.name, parameters={"ResponseContentDisposition": disposition})
        redirect = HttpResponseRedirect(url)
        patch_cache_control(redirect, private=True, max_age=REDIRECT_MAX_AGE)
        return redirect
    if content_type not in SAFE_TYPES:
        content_type, download = "application/octet-stream", True
    response = FileResponse(
        field.open("rb"), content_type=content_type, as_attachment=download, filename=filename
    )
    patch_cache_control(response, private=True, max_age=MAX_AGE)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_safe
@workspace_required
def image_file(request: WorkspaceRequest, code: UUID) -> HttpResponseBase:
    image = get_image(request, code)
    name = download_name(image, image.extension)
    return _serve(image.file, image.content_type, name, download=request.GET.get("download") == "1")


@require_safe
@workspace_required
def image_thumbnail(request: WorkspaceRequest, code: UUID) -> HttpResponseBase:
    image = get_image(request, code)
    return _serve(image.thumbnail, "image/webp", download_name(image, "thumb.webp"), download=False)


@require_safe
@workspace_required
def reference_file(request: WorkspaceRequest, code: UUID) -> HttpResponseBase:
    """A persona's reference photo (cleaned on upload), to members of its workspace only."""
    reference = get_reference(request, code)
    extension = "png" if reference.content_type == "image/png" else "jpg"
    name = f"{slugify(reference.persona.name) or 'persona'}-reference.{extension}"
    return _serve(reference.file, reference.content_type, name, download=False)
