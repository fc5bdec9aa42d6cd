"""The gallery's reads and its one write: filters, an image's neighbours, deleting an image.

Every query starts from the workspace's images (`for_workspace`), so another workspace's persona code or
image code simply matches nothing. Deleting an image removes its row and its two files; the generation,
its cost record and the month's roll-up stay, so usage and totals do not change.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import urlencode
from uuid import UUID

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext as _

from accounts.models import Workspace
from generation import storage
from generation.models import GeneratedImage

# Longer than any persona name (100) and than a search anyone types; a prompt is matched by a fragment.
MAX_SEARCH = 200


@dataclass(frozen=True)
class Filters:
    """What the gallery's filter form asked for: persona code, model, search text, favourites only."""

    persona: str = ""
    model: str = ""
    q: str = ""
    favourites: bool = False

    @classmethod
    def from_query(cls, query: QueryDict) -> Filters:
        return cls(
            persona=query.get("persona", ""),
            model=query.get("model", ""),
            q=query.get("q", "").strip(),
            favourites=query.get("favourites") == "1",
        )

    @property
    def active(self) -> bool:
        return bool(self.persona or self.model or self.q or self.favourites)

    @property
    def q_error(self) -> str:
        """Return why the search text cannot be used (shown beside the field), or ""."""
        if len(self.q) > MAX_SEARCH:
            return _("Search for at most %(max)d characters.") % {"max": MAX_SEARCH}
        return ""

    def query_string(self) -> str:
        """Return the filters as a query string ("" without any), for links that keep them."""
        pairs = [("persona", self.persona), ("model", self.model), ("q", self.q)]
        params = [(name, value) for name, value in pairs if value]
        if self.favourites:
            params.append(("favourites", "1"))
        return urlencode(params)


def filtered(workspace: Workspace, filters: Filters) -> QuerySet[GeneratedImage]:
    """Return the workspace's images matching the filters, newest first, with their generations."""
    images = GeneratedImage.objects.for_workspace(workspace).select_related("generation")
    # PostgreSQL refuses NUL in a query parameter (a 500), and no model id, name or prompt holds one.
    if any("\x00" in value for value in (filters.persona, filters.model, filters.q)) or filters.q_error:
        return images.none()
    if filters.persona:
        try:
            images = images.filter(generation__persona__code=UUID(filters.persona))
        except ValueError:
            return images.none()
    if filters.model:
        images = images.filter(generation__model=filters.model)
    if filters.q:
        # icontains: UPPER(…) LIKE on PostgreSQL, LIKE (case-insensitive for ASCII) on SQLite; % and _
        # in the text are escaped by Django, so they match themselves.
        images = images.filter(
            Q(generation__persona_name__icontains=filters.q) | Q(generation__prompt__icontains=filters.q)
        )
    if filters.favourites:
        images = images.filter(favourite=True)
    return images.order_by("-created_at", "-pk")


@dataclass(frozen=True)
class Neighbours:
    """The images either side of one in the filtered gallery, and where it sits in it."""

    newer: GeneratedImage | None
    older: GeneratedImage | None
    position: int  # 0 for the newest


def neighbours(images: QuerySet[GeneratedImage], image: GeneratedImage) -> Neighbours:
    """Return the images before and after `image` in `images` (ordered newest first, then by pk)."""
    newer = Q(created_at__gt=image.created_at) | Q(created_at=image.created_at, pk__gt=image.pk)
    older = Q(created_at__lt=image.created_at) | Q(created_at=image.created_at, pk__lt=image.pk)
    return Neighbours(
        newer=images.filter(newer).order_by("created_at", "pk").first(),
        older=images.filter(older).order_by("-created_at", "-pk").first(),
        position=images.filter(newer).count(),
    )


def delete_image(image: GeneratedImage) -> None:
    """Delete the image's row, then (once that is committed) its full-size file and thumbnail.

    The generation and its CostRecord stay: the money was spent whether or not the picture is kept.
    """
    files = [(field.storage, field.name) for field in (image.file, image.thumbnail) if field.name]
    image.delete()

    # Once the row is gone; a file that cannot be deleted (logged) is only space, never shown.
    transaction.on_commit(functools.partial(storage.delete_all, files))
