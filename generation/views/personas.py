"""Personas: the list with each one's latest avatar, the form with its live prompt preview, copies."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from accounts.http import WorkspaceRequest, require_form_methods, workspace_required
from accounts.models import User
from generation import services
from generation.forms import PersonaForm, ReferenceUploadForm
from generation.models import GeneratedImage, Persona
from generation.references import MAX_REFERENCES
from generation.scoping import get_persona, get_reference
from generation.storage import StorageFailed

RECENT_AVATARS = 8


def _images(request: WorkspaceRequest) -> QuerySet[GeneratedImage]:
    return GeneratedImage.objects.for_workspace(request.workspace).order_by("-created_at", "-pk")


def _prompt(persona: Persona) -> str:
    # An unnamed draft would read "a persona named ." — show the hint instead.
    return services.build_prompt(persona) if persona.name else ""


def _name_taken(request: WorkspaceRequest, form: PersonaForm, persona: Persona | None) -> str:
    """Return the form's name when another persona of the workspace has it (any case), else "".

    A warning beside the field, never a refusal: two people may well share a first name.
    """
    name = str(form.data.get("name", "") if form.is_bound else (persona.name if persona else "")).strip()
    if not name or "\x00" in name or len(name) > (Persona._meta.get_field("name").max_length or 0):
        return ""  # no stored name holds NUL (PostgreSQL refuses one in a query) or is that long
    others = Persona.objects.for_workspace(request.workspace).filter(name__iexact=name)
    if persona is not None:
        others = others.exclude(pk=persona.pk)
    return name if others.exists() else ""


def _render_form(
    request: WorkspaceRequest,
    form: PersonaForm,
    persona: Persona | None,
    upload: ReferenceUploadForm | None = None,
) -> HttpResponse:
    """Render the persona page, or only its prompt preview (and the name's hint) when htmx asks for it."""
    if form.is_bound:
        form.is_valid()  # fills form.instance with the fields that are valid; saves nothing
    name_taken = _name_taken(request, form, persona)
    if request.GET.get("preview"):
        preview = render_to_string(
            "generation/persona_form.html#preview", {"prompt": _prompt(form.instance)}, request
        )
        hint = render_to_string(
            "generation/persona_form.html#name_hint", {"name_taken": name_taken, "oob": True}, request
        )
        return HttpResponse(preview + hint)
    recent = []
    context: dict[str, Any] = {}
    if persona is not None:
        images = _images(request).filter(generation__persona=persona).select_related("generation")
        recent = list(images[:RECENT_AVATARS])
        context = _reference_context(request, persona, upload)
    context |= {
        "form": form,
        "persona": persona,
        "prompt": _prompt(form.instance),
        "recent": recent,
        "name_taken": name_taken,
    }
    return render(request, "generation/persona_form.html", context)


def _reference_context(
    request: WorkspaceRequest, persona: Persona, upload: ReferenceUploadForm | None
) -> dict[str, Any]:
    """Return the persona's reference photos, the upload form, and its consistent set (issue 19)."""
    references = list(persona.references.all())
    room = MAX_REFERENCES - len(references)
    # The set: avatars of this persona made from references (its photos, or another avatar of it).
    consistent = (
        _images(request)
        .filter(generation__persona=persona)
        .exclude(generation__references=[])
        .select_related("generation")
    )
    return {
        "references": references,
        "reference_room": room,
        "upload": upload or ReferenceUploadForm(room=room),
        "consistent_set": list(consistent[:24]),
    }


@require_safe
@workspace_required
def persona_list(request: WorkspaceRequest) -> HttpResponse:
    # The newest image of each persona in the same query, not one query per card.
    latest = _images(request).filter(generation__persona=OuterRef("pk")).values("code")[:1]
    personas = Persona.objects.for_workspace(request.workspace).annotate(latest_image=Subquery(latest))
    return render(request, "generation/personas.html", {"personas": personas})


@require_form_methods
@workspace_required
def add_persona(request: WorkspaceRequest) -> HttpResponse:
    if request.method == "POST":
        form = PersonaForm(
            request.POST, instance=Persona(workspace=request.workspace, created_by=request.user)
        )
        if form.is_valid():
            persona = form.save()
            messages.success(request, _("Persona “%(name)s” created.") % {"name": persona.name})
            return redirect("generation:persona", code=persona.code)
    else:
        form = PersonaForm(request.GET if request.GET.get("preview") else None)
    return _render_form(request, form, None)


@require_form_methods
@workspace_required
def persona_detail(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    persona = get_persona(request, code)
    if request.method == "POST":
        form = PersonaForm(request.POST, instance=persona)
        if form.is_valid():
            form.save()
            messages.success(request, _("Saved."))
            return redirect("generation:persona", code=persona.code)
    elif request.GET.get("preview"):
        form = PersonaForm(request.GET, instance=persona)
    else:
        form = PersonaForm(instance=persona)
    return _render_form(request, form, persona)


def _copy(persona: Persona, *, by: User) -> Persona:
    """Save and return a copy of `persona` named “<name> (copy)”."""
    suffix = _(" (copy)")
    name_length = Persona._meta.get_field("name").max_length
    assert name_length is not None  # a CharField's
    max_name = name_length - len(suffix)
    persona.pk = None
    persona._state.adding = True
    persona.code = uuid.uuid4()
    persona.created_by = by
    persona.created_at = timezone.now()
    persona.name = persona.name[:max_name] + suffix
    persona.save()
    return persona


@workspace_required
def duplicate_persona(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    # Look up first: another tenant gets the same 404 whatever the method.
    persona = get_persona(request, code)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    copy = _copy(persona, by=request.user)
    messages.success(request, _("Created “%(name)s”. Change what differs and save.") % {"name": copy.name})
    return redirect("generation:persona", code=copy.code)


@require_form_methods
@workspace_required
def delete_persona(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    persona = get_persona(request, code)
    if request.method != "POST":
        return render(request, "generation/persona_confirm_delete.html", {"persona": persona})
    name = persona.name
    # Generations keep the persona's name and their images; the description and its photos go.
    services.delete_persona(persona)
    messages.success(
        request, _("Persona “%(name)s” deleted. Its avatars stay in the gallery.") % {"name": name}
    )
    return redirect("generation:personas")


# Reference photos (issue 19)


@workspace_required
def upload_references(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    """Add reference photos to a persona; a refused file stores nothing and says why beside the field."""
    persona = get_persona(request, code)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    room = MAX_REFERENCES - persona.references.count()
    upload = ReferenceUploadForm(request.POST, request.FILES, room=room)
    if upload.is_valid():
        try:
            added = services.add_references(persona=persona, photos=upload.cleaned_photos, by=request.user)
        except services.GenerationRefused as exc:
            upload.add_error("photos", str(exc))
        except StorageFailed:
            upload.add_error(
                "photos", _("The photos could not be stored just now; nothing was kept. Try again.")
            )
        else:
            messages.success(request, _("%(n)d reference photo(s) added.") % {"n": len(added)})
            return redirect("generation:persona", code=persona.code)
    return _render_form(request, PersonaForm(instance=persona), persona, upload)


@workspace_required
def delete_reference(request: WorkspaceRequest, code: UUID) -> HttpResponse:
    reference = get_reference(request, code)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    persona = reference.persona
    services.delete_reference(reference)
    messages.success(request, _("Reference photo removed."))
    return redirect("generation:persona", code=persona.code)
