from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    """The landing page for visitors; the dashboard for signed-in users."""
    if not request.user.is_authenticated:
        return render(request, "landing.html")
    return render(request, "dashboard.html")
