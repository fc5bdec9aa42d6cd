"""Image files, served only to members of the image's workspace.

Media is never public: originals and thumbnails sit under unguessable names, outside any static URL,
and every request goes through the workspace check first. With S3 the check is the same and the
answer is a redirect to a signed URL that expires within a minute (generation.storage).
"""

from __future__ import annotations

from uuid import UUID

from django.http import HttpResponseBase
from django.utils.text import slugify
from django.views.decorators.http import require_safe

from accounts.http import WorkspaceRequest, workspace_required
from generation.models import GeneratedImage
from generation.scoping import get_image
from generation.storage import serve


def download_name(image: GeneratedImage, extension: str) -> str:
    """Return a file name such as `budget-ben-20260115-2.png`."""
    generation = image.generation
    stem = slugify(generation.persona_name) or "avatar"
    return f"{stem}-{generation.created_at:%Y%m%d}-{image.index + 1}.{extension}"


@require_safe
@workspace_required
def image_file(request: WorkspaceRequest, code: UUID) -> HttpResponseBase:
    image = get_image(request, code)
    name = download_name(image, image.extension)
    return serve(image.file, image.content_type, name, download=request.GET.get("download") == "1")


@require_safe
@workspace_required
def image_thumbnail(request: WorkspaceRequest, code: UUID) -> HttpResponseBase:
    image = get_image(request, code)
    return serve(image.thumbnail, "image/webp", download_name(image, "thumb.webp"), download=False)
