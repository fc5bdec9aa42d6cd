from __future__ import annotations

from django.http import HttpRequest


def workspace(request: HttpRequest) -> dict[str, object]:
    """Expose the current workspace to templates (the header shows it)."""
    return {"workspace": getattr(request, "workspace", None)}
