"""Read-only admin pages for generations and their costs (support looks; the pipeline writes)."""

from __future__ import annotations

from django.contrib import admin

from generation.models import CostRecord, Generation
from keys.admin import ReadOnlyAdmin


@admin.register(Generation)
class GenerationAdmin(ReadOnlyAdmin):
    list_display = (
        "code",
        "provider",
        "model",
        "status",
        "error_kind",
        "attempts",
        "workspace",
        "created_at",
    )
    list_filter = ("status", "provider", "error_kind")
    search_fields = ("code", "persona_name", "workspace__name")


@admin.register(CostRecord)
class CostRecordAdmin(ReadOnlyAdmin):
    list_display = ("generation", "provider", "model", "amount_nanousd", "price_version", "created_at")
    list_filter = ("provider", "model")
