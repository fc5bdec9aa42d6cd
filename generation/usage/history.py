"""The history page's rows: keyset pages of cost records, newest first; and the dashboard's newest avatars.

A page is a slice on (created_at, id) from a cursor, never an OFFSET: the rows read for a page do not
grow with the workspace's history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from django.db.models import Q

from accounts.models import Workspace
from generation.models import CostRecord, GeneratedImage
from generation.usage.filters import Filters, records

PAGE_SIZE = 50

# Newest first; the id breaks ties between records created in the same microsecond.
NEWEST_FIRST = ("-created_at", "-pk")
OLDEST_FIRST = ("created_at", "pk")


@dataclass(frozen=True)
class Row:
    """One cost record as the history shows it."""

    record: CostRecord
    input_tokens: int | None
    output_tokens: int | None
    megapixels: int | None


def tokens(usage: object) -> tuple[int | None, int | None]:
    """Return (input, output) tokens from an OpenAI usage (stored JSON, any shape), or Nones."""
    if not isinstance(usage, Mapping):
        return None, None
    return usage.get("input_tokens"), usage.get("output_tokens")


def megapixels(usage: object) -> int | None:
    """Return the billed megapixels from a fal usage (stored JSON, any shape), or None."""
    images = usage.get("images") if isinstance(usage, Mapping) else None
    if not isinstance(images, list):
        return None
    return sum(int(image.get("megapixels") or 0) for image in images)


def image_input_tokens(usage: object) -> int | None:
    """Return the reference images' input tokens from an OpenAI usage, or None."""
    details = usage.get("input_tokens_details") if isinstance(usage, Mapping) else None
    return details.get("image_tokens") if isinstance(details, Mapping) else None


def input_megapixels(usage: object) -> int | None:
    """Return the reference images' megapixels from a fal usage (an edit), or None."""
    images = usage.get("images") if isinstance(usage, Mapping) else None
    if not isinstance(images, list):
        return None
    return sum(int(image.get("input_megapixels") or 0) for image in images)


def _row(record: CostRecord) -> Row:
    input_tokens, output_tokens = tokens(record.usage)
    return Row(record, input_tokens, output_tokens, megapixels(record.usage))


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    newer: UUID | None  # cursor for the "Newer" link: show records newer than this one
    older: UUID | None  # cursor for the "Older" link: show records older than this one


def _older_than(created_at: dt.datetime, pk: int) -> Q:
    # The redundant bound on created_at alone lets the (workspace, created_at) index start at the cursor.
    return Q(created_at__lte=created_at) & (
        Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk)
    )


def _newer_than(created_at: dt.datetime, pk: int) -> Q:
    return Q(created_at__gte=created_at) & (
        Q(created_at__gt=created_at) | Q(created_at=created_at, pk__gt=pk)
    )


def page(
    workspace: Workspace,
    filters: Filters,
    *,
    before: UUID | None = None,
    after: UUID | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """Return one page of records, newest first, older than `before` or newer than `after` (keyset)."""
    qs = records(workspace, filters).select_related("generation", "created_by")
    cursor = None
    anchor = before or after
    if anchor is not None:
        # A cursor from another workspace matches nothing here, so it falls back to the first page.
        cursor = (
            CostRecord.objects.for_workspace(workspace)
            .filter(code=anchor)
            .values_list("created_at", "pk")
            .first()
        )
    if cursor is None:
        found = list(qs.order_by(*NEWEST_FIRST)[: size + 1])
        has_newer, has_older = False, len(found) > size
        found = found[:size]
    elif before:
        found = list(qs.filter(_older_than(*cursor)).order_by(*NEWEST_FIRST)[: size + 1])
        has_older = len(found) > size
        found = found[:size]
        has_newer = qs.filter(~_older_than(*cursor)).exists()
    else:
        found = list(qs.filter(_newer_than(*cursor)).order_by(*OLDEST_FIRST)[: size + 1])
        has_newer = len(found) > size
        found = found[:size][::-1]
        has_older = qs.filter(~_newer_than(*cursor)).exists()
    return Page(
        rows=[_row(record) for record in found],
        newer=found[0].code if found and has_newer else None,
        older=found[-1].code if found and has_older else None,
    )


def recent_images(workspace: Workspace, limit: int = 12) -> list[GeneratedImage]:
    """Return the workspace's newest avatars with their generations (one query)."""
    return list(
        GeneratedImage.objects.for_workspace(workspace)
        .select_related("generation")
        .order_by("-created_at", "-pk")[:limit]
    )
