"""Language and time zone (issue 18): chosen from the browser, switched from the header and the menu,
remembered per user (and in a cookie before sign-in); times shown in the viewer's zone.

Our Arabic catalogue is written beside this work: these tests read what does not depend on it (the
`lang` and `dir` of the page, the Content-Language header, cookies, Django's own Arabic month names).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from tests.support.accounts import PASSWORD

pytestmark = pytest.mark.django_db

COOKIE = settings.LANGUAGE_COOKIE_NAME


def _lang(page) -> str:
    found = re.search(rb'<html lang="([^"]+)" dir="(ltr|rtl)"', page.content)
    assert found, page.content[:300]
    return f"{found.group(1).decode()} {found.group(2).decode()}"


def test_the_browser_language_comes_first(client):
    assert _lang(client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ar,en;q=0.8")) == "ar rtl"
    assert _lang(client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr,en;q=0.5")) == "en ltr"
    # A language the site does not have: English.
    assert _lang(client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr")) == "en ltr"


def test_the_switch_before_sign_in_sets_a_cookie_and_goes_back_to_the_same_page(client):
    page = client.get("/accounts/login/")
    assert b'action="/accounts/language/"' in page.content
    assert 'lang="ar"' in page.content.decode() and "العربية" in page.content.decode()
    response = client.post("/accounts/language/", {"language": "ar", "next": "/accounts/login/?next=/keys/"})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/keys/"
    assert response.cookies[COOKIE].value == "ar"
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en")
    assert _lang(page) == "ar rtl" and page["Content-Language"] == "ar"


def test_the_switch_goes_back_to_our_pages_only_and_ignores_unknown_languages(client):
    response = client.post("/accounts/language/", {"language": "ar", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    response = client.post("/accounts/language/", {"language": "xx", "next": "/keys/"})
    assert response["Location"] == "/keys/" and COOKIE not in response.cookies
    assert client.get("/accounts/language/").status_code == 405


def test_the_switch_needs_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/accounts/language/", {"language": "ar"}).status_code == 403


def test_signed_in_the_switch_saves_the_choice_on_the_account(alice, alice_client):
    page = alice_client.get("/")
    assert b'href="/accounts/preferences/"' in page.content  # the user menu's page
    response = alice_client.post("/accounts/language/", {"language": "ar", "next": "/"})
    assert response.cookies[COOKIE].value == "ar"
    alice.refresh_from_db()
    assert alice.language == "ar"


def test_logging_in_applies_the_saved_language(alice):
    User.objects.filter(pk=alice.pk).update(language="ar")
    client = Client()
    client.cookies[COOKIE] = "en"  # this browser chose English before signing in
    response = client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.cookies[COOKIE].value == "ar"
    assert _lang(client.get("/")) == "ar rtl"
    # Signed out again, the browser keeps the language (its cookie).
    client.post("/accounts/logout/")
    assert _lang(client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en")) == "ar rtl"


def test_the_preferences_page_saves_language_and_zone(alice, alice_client):
    page = alice_client.get("/accounts/preferences/")
    assert b'<label for="id_time_zone"' in page.content and b'value="Asia/Riyadh"' in page.content
    response = alice_client.post("/accounts/preferences/", {"language": "ar", "time_zone": "Asia/Riyadh"})
    assert response.status_code == 302 and response.cookies[COOKIE].value == "ar"
    alice.refresh_from_db()
    assert (alice.language, alice.time_zone) == ("ar", "Asia/Riyadh")


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "localtime", "../../etc/passwd"])
def test_the_preferences_page_refuses_what_is_not_a_zone_beside_the_field(alice, alice_client, zone):
    User.objects.filter(pk=alice.pk).update(time_zone="Europe/Paris")
    page = alice_client.post("/accounts/preferences/", {"language": "en", "time_zone": zone})
    assert page.status_code == 200
    assert b'id="id_time_zone_error"' in page.content
    alice.refresh_from_db()
    assert alice.time_zone == "Europe/Paris"


def test_the_preferences_page_needs_sign_in(client):
    response = client.get("/accounts/preferences/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# Time zones


def test_the_browser_zone_is_used_and_saved_on_an_account_without_one(alice, alice_client):
    alice_client.cookies["tz"] = "Asia%2FTokyo"  # as static/js/head.js writes it
    alice_client.get("/")
    alice.refresh_from_db()
    assert alice.time_zone == "Asia/Tokyo"
    # A zone already saved is not replaced by another browser's.
    alice_client.cookies["tz"] = "Europe/Paris"
    alice_client.get("/")
    alice.refresh_from_db()
    assert alice.time_zone == "Asia/Tokyo"


def test_a_zone_that_is_not_one_is_ignored(alice, alice_client):
    alice_client.cookies["tz"] = "Not/A_Zone"
    alice_client.get("/")
    alice.refresh_from_db()
    assert alice.time_zone == ""


def test_times_are_shown_in_the_viewers_zone_and_language(alice, alice_client):
    from keys.models import ProviderKey
    from tests.support.keys import make_key

    key = make_key(alice, "openai")
    ProviderKey.objects.filter(pk=key.pk).update(created_at=dt.datetime(2026, 12, 3, 5, 39, tzinfo=dt.UTC))
    assert "3 Dec 2026, 05:39 UTC" in alice_client.get("/keys/").content.decode()
    User.objects.filter(pk=alice.pk).update(time_zone="America/New_York")
    assert "3 Dec 2026, 00:39 EST" in alice_client.get("/keys/").content.decode()
    # Arabic: Django's Arabic formats (its month names, Latin digits), the same instant and zone.
    User.objects.filter(pk=alice.pk).update(language="ar")
    assert "3 ديسمبر، 2026، 00:39 EST" in alice_client.get("/keys/").content.decode()


@pytest.mark.parametrize(
    ("cookie", "zone"), [("Asia%2FTokyo", "Asia/Tokyo"), ("Nowhere", "UTC"), (None, "UTC")]
)
def test_before_sign_in_the_browser_zone_applies(rf, cookie, zone):
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpResponse
    from django.utils import timezone

    from accounts.middleware import LanguageAndTimeZoneMiddleware

    seen = []
    middleware = LanguageAndTimeZoneMiddleware(
        lambda request: seen.append(timezone.get_current_timezone_name()) or HttpResponse()
    )
    request = rf.get("/")
    request.user = AnonymousUser()
    if cookie:
        request.COOKIES["tz"] = cookie
    middleware(request)
    assert seen == [zone]
    assert timezone.get_current_timezone_name() == "UTC"  # deactivated after the response


def test_the_dashboards_month_is_the_utc_month_in_any_zone(alice, alice_client, monkeypatch):
    from django.utils import timezone

    # 1 December, 02:00 UTC: still 30 November in New York.
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC))
    User.objects.filter(pk=alice.pk).update(time_zone="America/New_York")
    page = alice_client.get("/").content.decode()
    assert "This month: December 2026 (UTC)" in page
