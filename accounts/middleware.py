"""Attach the current workspace to each request of a signed-in user; apply their language and time zone."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.db.models import Case, IntegerField, Value, When
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.functional import SimpleLazyObject

from accounts import preferences
from accounts.models import Membership

SESSION_KEY = "workspace_code"


def _current_membership(request: HttpRequest) -> Membership | None:
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related("workspace")
    chosen = request.session.get(SESSION_KEY)
    if chosen:
        membership = memberships.filter(workspace__code=chosen).first()
        if membership:
            return membership
    # Default (nothing chosen, or a workspace they no longer belong to): the oldest one they own (the
    # personal one made at sign-up), else the oldest they joined. A removed member's next request lands here.
    owned_first = Case(
        When(role=Membership.Role.OWNER, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return memberships.order_by(owned_first, "created_at").first()


class WorkspaceMiddleware:
    """Set `request.membership` and `request.workspace` (lazily: no query unless a view asks)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = SimpleLazyObject(lambda: _current_membership(request))
        request.membership = membership  # type: ignore[attr-defined]
        request.workspace = SimpleLazyObject(  # type: ignore[attr-defined]
            lambda: membership.workspace if membership else None
        )
        return self.get_response(request)


class LanguageAndTimeZoneMiddleware:
    """Apply a signed-in user's saved language, and everyone's time zone (accounts/preferences.py).

    After LocaleMiddleware (which chose from the cookie or Accept-Language) and AuthenticationMiddleware:
    a saved language wins over both, and the cookie is rewritten to it, so the pages before the next
    sign-in stay in it. Times on pages are shown in the zone activated here; stored times stay UTC.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        saved = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            saved = preferences.valid_language(getattr(user, "language", ""))
        if saved and saved != translation.get_language():
            translation.activate(saved)
            request.LANGUAGE_CODE = saved
        timezone.activate(zoneinfo.ZoneInfo(preferences.request_time_zone(request)))
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        # A sign-in on this request: the user is known only now (LocaleMiddleware chose before).
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            saved = preferences.valid_language(getattr(user, "language", ""))
            cookie = settings.LANGUAGE_COOKIE_NAME
            if saved and request.COOKIES.get(cookie) != saved and cookie not in response.cookies:
                preferences.set_language_cookie(response, saved)
        return response
