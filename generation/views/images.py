"""Image files, served only to members of the image's workspace.

Media is never public: originals and thumbnails sit under unguessable names, outside any static URL,
and every request goes through the workspace check first. With S3 the check is the same and the
answer is a redirect to a signed URL that expires within a minute (generation.storage).
"""

from __future__ import annotations

from uuid import UUID

from django.http import Http404, HttpResponseBase
from django.utils.cache import patch_cache_control
from django.utils.text import slugify
from django.views.decorators.http import require_safe

from accounts.http import WorkspaceRequest, workspace_required
from generation import previews
from generation.models import GeneratedImage
from generation.scoping import get_generation, get_image, get_reference
from generation.storage import serve

# A live preview is replaced within seconds and deleted when its generation ends (D36).
PREVIEW_MAX_AGE = 60


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


@require_safe
@workspace_required
def generation_preview(request: WorkspaceRequest, code: UUID) -> HttpResponseBase:
    """The latest partial image of a running generation (D36); 404 once it has ended or before any came."""
    generation = get_generation(request, code)
    if not generation.preview.name or generation.is_final:
        raise Http404("No preview")
    try:
        response = serve(generation.preview, previews.content_type(generation), "preview", download=False)
    except FileNotFoundError:
        raise Http404("No preview") from None  # replaced or deleted between the read and the open
    if response.status_code == 200:  # a redirect to S3 keeps its own, shorter lifetime
        patch_cache_control(response, private=True, max_age=PREVIEW_MAX_AGE)
    return response


@require_safe
@workspace_required
def reference_file(request: WorkspaceRequest, code: UUID) -> HttpResponseBase:
    """A persona's reference photo (cleaned on upload), to members of its workspace only."""
    reference = get_reference(request, code)
    extension = "png" if reference.content_type == "image/png" else "jpg"
    name = f"{slugify(reference.persona.name) or 'persona'}-reference.{extension}"
    return serve(reference.file, reference.content_type, name, download=False)
