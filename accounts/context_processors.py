from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.models import Membership


def workspace(request: HttpRequest) -> dict[str, object]:
    """Expose the current workspace (the header shows it) and the user's others (the menu switches)."""
    user = getattr(request, "user", None)

    def others() -> list[Membership]:
        if user is None or not user.is_authenticated:
            return []
        current = getattr(request, "workspace", None)
        found = Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")
        return [m for m in found if not current or m.workspace_id != current.pk]

    return {
        "workspace": getattr(request, "workspace", None),
        "other_memberships": SimpleLazyObject(others),
    }
