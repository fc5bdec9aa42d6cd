"""Workspace-scoped lookups shared by the generation views: another tenant's object is a 404."""

from __future__ import annotations

from uuid import UUID

from django.shortcuts import get_object_or_404

from accounts.http import WorkspaceRequest
from generation.models import GeneratedImage, Generation, Persona, PersonaReference


def get_persona(request: WorkspaceRequest, code: UUID) -> Persona:
    # 404, not 403: another tenant must not learn that this id exists.
    return get_object_or_404(Persona.objects.for_workspace(request.workspace), code=code)


def get_generation(request: WorkspaceRequest, code: UUID) -> Generation:
    return get_object_or_404(Generation.objects.for_workspace(request.workspace), code=code)


def get_image(request: WorkspaceRequest, code: UUID) -> GeneratedImage:
    return get_object_or_404(
        GeneratedImage.objects.for_workspace(request.workspace).select_related("generation"), code=code
    )


def get_reference(request: WorkspaceRequest, code: UUID) -> PersonaReference:
    return get_object_or_404(
        PersonaReference.objects.for_workspace(request.workspace).select_related("persona"), code=code
    )
