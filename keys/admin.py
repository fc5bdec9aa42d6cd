"""Read-only admin pages for keys and their audit: operators see what users see, never a ciphertext."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest

from keys.models import KeyUse, ProviderKey

if TYPE_CHECKING:
    # Generic in django-stubs only: Django's ModelAdmin cannot be subscripted at run time. Any model:
    # the generation app's admin pages use this base too.
    ModelAdminBase = admin.ModelAdmin[Any]
else:
    ModelAdminBase = admin.ModelAdmin


class ReadOnlyAdmin(ModelAdminBase):
    """Support staff may look; changes go through the services (and their audit), not the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ProviderKey)
class ProviderKeyAdmin(ReadOnlyAdmin):
    list_display = (
        "label",
        "provider",
        "hint",
        "status",
        "workspace",
        "key_version",
        "use_count",
        "created_at",
    )
    list_filter = ("provider", "status", "key_version")
    search_fields = ("label", "workspace__name")
    # Neither the ciphertext nor the fingerprint: neither helps support, and both are key material.
    fields = (
        "code",
        "workspace",
        "created_by",
        "provider",
        "label",
        "hint",
        "key_version",
        "status",
        "status_message",
        "created_at",
        "last_verified_at",
        "last_used_at",
        "use_count",
    )


@admin.register(KeyUse)
class KeyUseAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "provider", "key_label", "key_hint", "purpose", "outcome", "workspace")
    list_filter = ("purpose", "outcome", "provider")
