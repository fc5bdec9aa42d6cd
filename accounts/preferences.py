"""Language and time zone: how each request gets them, and how a choice is kept.

Language: the browser's Accept-Language until someone chooses (Django's LocaleMiddleware); a choice
made with the switch is a cookie (before sign-in too) and, for a signed-in user, saved on the account,
which then wins on every device: the middleware applies it after login and rewrites the cookie.

Time zone: the browser reports its zone (static/js/head.js writes it to the `tz` cookie); a signed-in
user's saved zone wins, and the reported one is saved when they have none yet. Anything that is not an
IANA zone name is ignored: UTC. Stored times stay UTC; only what pages show follows the zone. Money is
counted in UTC days and months whatever the zone (generation/dates.py), and the pages say so.
"""

from __future__ import annotations

import functools
import zoneinfo
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils import translation

from accounts.models import User

TIME_ZONE_COOKIE = "tz"


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    """Return the IANA zone names this machine knows, sorted (the settings page's choices)."""
    # "localtime" and "Factory" are not places anyone lives in.
    return tuple(sorted(name for name in zoneinfo.available_timezones() if "/" in name or name == "UTC"))


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(time_zone_names())


def valid_time_zone(name: str | None) -> str | None:
    """Return `name` if it is a known IANA zone name, else None."""
    if name and len(name) <= 64 and name in _known_zones():
        return name
    return None


def valid_language(code: str | None) -> str | None:
    """Return `code` if it is one of the site's languages, else None."""
    return code if code in dict(settings.LANGUAGES) else None


def set_language_cookie(response: HttpResponseBase, language: str) -> None:
    """Remember `language` in this browser (LocaleMiddleware reads the cookie on the next request)."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,  # type: ignore[arg-type]  # a str in settings
    )


def choose_language(request: HttpRequest, response: HttpResponseBase, language: str) -> None:
    """Apply a language chosen with the switch: this browser's cookie, and the account's when signed in."""
    set_language_cookie(response, language)
    user = request.user
    if isinstance(user, User) and user.language != language:
        user.language = language
        user.save(update_fields=["language"])


def user_language(user: object) -> str:
    """Return the language to write to `user` in (emails): their saved one, else the current language."""
    saved = valid_language(getattr(user, "language", None))
    return saved or translation.get_language() or settings.LANGUAGE_CODE


def request_time_zone(request: HttpRequest) -> str:
    """Return the zone this request's pages show times in, saving a reported zone on an account without one."""
    reported = valid_time_zone(unquote(request.COOKIES.get(TIME_ZONE_COOKIE, "")))
    user = getattr(request, "user", None)
    if isinstance(user, User):
        saved = valid_time_zone(user.time_zone)
        if saved:
            return saved
        if reported and request.method in ("GET", "HEAD"):
            # The first page a browser shows after sign-in: its zone becomes the account's (changeable in
            # the settings). Written only on page reads, so a form's POST never races it.
            User.objects.filter(pk=user.pk, time_zone="").update(time_zone=reported)
            user.time_zone = reported
    return reported or "UTC"
