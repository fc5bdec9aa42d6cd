"""The gallery: every avatar the workspace made, newest first, filtered by persona and model."""

from __future__ import annotations

from uuid import UUID

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts.http import WorkspaceRequest, workspace_required
from generation.models import GeneratedImage, Generation, Persona

PER_PAGE = 50


def _filtered(request: WorkspaceRequest, persona: str, model: str) -> QuerySet[GeneratedImage]:
    """Return the workspace's images matching the filters, with their generations joined in."""
    images = GeneratedImage.objects.for_workspace(request.workspace).select_related("generation")
    if persona:
        try:
            images = images.filter(generation__persona__code=UUID(persona))
        except ValueError:
            return images.none()
    if "\x00" in model:
        return images.none()  # no model id holds NUL, and PostgreSQL refuses one in a query
    if model:
        images = images.filter(generation__model=model)
    return images.order_by("-created_at", "-pk")


@require_safe
@workspace_required
def gallery(request: WorkspaceRequest) -> HttpResponse:
    personas = Persona.objects.for_workspace(request.workspace).values_list("code", "name")
    persona, model = request.GET.get("persona", ""), request.GET.get("model", "")
    # Images are scoped first, so another workspace's persona code simply matches nothing.
    images = _filtered(request, persona, model)
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
        "persona": persona,
        "model": model,
    }
    return render(request, "generation/gallery.html", context)
