"""The gallery: every avatar the workspace made, newest first, filtered, searched, starred and downloaded.

A thumbnail opens the image's own page (`/gallery/<code>/`, with previous and next in the same filters);
with JavaScript, static/js/app.js shows it in a dialog over the gallery instead.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from accounts.http import WorkspaceRequest, require_form_methods, workspace_required
from generation.archive import Entry, stream_zip, unique_names
from generation.gallery import Filters, delete_image, filtered, neighbours
from generation.models import GeneratedImage, Generation, Persona
from generation.scoping import get_image
from generation.views.images import download_name

PER_PAGE = 50
# Images per ZIP: two pages of the gallery, tens of MB, a download that ends in a minute. Well under
# DATA_UPLOAD_MAX_NUMBER_FIELDS (200), so a selection past the limit still reaches the view and its
# error message instead of Django's bare 400.
MAX_ZIP = 100


def _gallery_url(filters: Filters, page: int = 1) -> str:
    query = filters.query_string()
    if page > 1:
        query = f"{query}&page={page}" if query else f"page={page}"
    return reverse("generation:gallery") + (f"?{query}" if query else "")


def _viewer_url(image: GeneratedImage, filters: Filters) -> str:
    query = filters.query_string()
    return reverse("generation:gallery-image", args=[image.code]) + (f"?{query}" if query else "")


def _next_url(request: WorkspaceRequest, fallback: str) -> str:
    """Return the form's `next` (a page of this site to go back to), or `fallback`."""
    target = request.POST.get("next", "")
    local = target.startswith("/") and target.isprintable()  # no NUL, CR or LF in a Location header
    return target if local and url_has_allowed_host_and_scheme(target, allowed_hosts=None) else fallback


@require_safe
@workspace_required
def gallery(request: WorkspaceRequest) -> HttpResponse:
    personas = Persona.objects.for_workspace(request.workspace).values_list("code", "name")
    filters = Filters.from_query(request.GET)
    # Images are scoped first, so another workspace's persona code simply matches nothing.
    images = filtered(request.workspace, filters)
    models = (
        Generation.objects.for_workspace(request.workspace)
        .filter(images__isnull=False)
        .order_by("model")
        .values_list("model", flat=True)
        .distinct()
    )
    context = {
        "page_obj": Paginator(images, PER_PAGE).get_page(request.GET.get("page")),
        "personas": [(str(code), name) for code, name in personas],
        "models": list(models),
        "filters": filters,
        "filter_query": filters.query_string(),
        "max_zip": MAX_ZIP,
    }
    return render(request, "generation/gallery.html", context)


@require_safe
@workspace_required
def image_viewer(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    """One image large, with the images before and after it in the gallery as filtered."""
    image = get_image(request, code)
    filters = Filters.from_query(request.GET)
    around = neighbours(filtered(request.workspace, filters), image)
    context = {
        "image": image,
        "filters": filters,
        "filter_query": filters.query_string(),
        "newer_url": around.newer and _viewer_url(around.newer, filters),
        "older_url": around.older and _viewer_url(around.older, filters),
        "back_url": _gallery_url(filters, around.position // PER_PAGE + 1),
    }
    return render(request, "generation/gallery_image.html", context)


@require_POST
@workspace_required
def favourite(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    """Star or unstar an image: `favourite=1` stars it, anything else unstars it (idempotent)."""
    image = get_image(request, code)
    image.favourite = request.POST.get("favourite") == "1"
    image.save(update_fields=["favourite"])
    back = _next_url(request, reverse("generation:gallery-image", args=[code]))
    if request.htmx:  # the star alone, swapped in place of the one that was pressed
        return render(request, "generation/_star.html", {"image": image, "next": back})
    return HttpResponseRedirect(back)


@require_form_methods
@workspace_required
def delete(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    image = get_image(request, code)
    filters = Filters.from_query(request.GET if request.method != "POST" else request.POST)
    if request.method != "POST":
        context = {"image": image, "filters": filters, "viewer_url": _viewer_url(image, filters)}
        return render(request, "generation/gallery_confirm_delete.html", context)
    delete_image(image)
    messages.success(request, _("Avatar deleted. What it cost stays in your usage history."))
    return redirect(_gallery_url(filters))


@require_POST
@workspace_required
def download(request: WorkspaceRequest) -> HttpResponse | StreamingHttpResponse:
    """The selected images as one ZIP, streamed. Another workspace's (or an unknown) code is a 404."""
    codes = request.POST.getlist("image")
    back = _next_url(request, reverse("generation:gallery"))
    if not codes:
        messages.error(request, _("Select the avatars to download first."))
        return HttpResponseRedirect(back)
    if len(codes) > MAX_ZIP:
        messages.error(
            request,
            ngettext(
                "A ZIP holds at most %(max)d avatar; you selected %(count)d.",
                "A ZIP holds at most %(max)d avatars; you selected %(count)d.",
                MAX_ZIP,
            )
            % {"max": MAX_ZIP, "count": len(codes)},
        )
        return HttpResponseRedirect(back)
    try:
        wanted = {UUID(code) for code in codes}
    except ValueError:
        raise Http404("No such image.") from None
    images = list(
        GeneratedImage.objects.for_workspace(request.workspace)
        .filter(code__in=wanted)
        .select_related("generation")
        .order_by("-created_at", "-pk")
    )
    if len(images) != len(wanted):
        raise Http404("No such image.")  # 404, not 403: another tenant's codes must not be confirmed
    names = unique_names(download_name(image, image.extension) for image in images)
    entries = [Entry(name, image.file, image.created_at) for name, image in zip(names, images, strict=True)]
    response = StreamingHttpResponse(stream_zip(entries), content_type="application/zip")
    count = len(images)
    response["Content-Disposition"] = f'attachment; filename="aniavatar-{count}-avatars.zip"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
