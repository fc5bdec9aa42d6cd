"""The language switch (header and user menu) and the language and time zone page (accounts/preferences.py)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import preferences
from accounts.forms import PreferencesForm
from accounts.http import require_form_methods
from accounts.models import User


def _next_url(request: HttpRequest) -> str:
    """Return the page to go back to: the form's `next` if it is one of ours, else the home page."""
    wanted = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return "/"


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the language (signed in or not) and go back to the same page, at the same URL."""
    response = redirect(_next_url(request))
    language = preferences.valid_language(request.POST.get("language"))
    if language is not None:
        preferences.choose_language(request, response, language)
    return response


@login_required
@require_form_methods
def preferences_page(request: HttpRequest) -> HttpResponse:
    """Choose the language and the time zone; both are saved on the account."""
    user = request.user
    assert isinstance(user, User)  # login_required
    initial = {
        "language": preferences.valid_language(user.language) or translation.get_language(),
        "time_zone": preferences.valid_time_zone(user.time_zone) or preferences.request_time_zone(request),
    }
    form = PreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        user.time_zone = form.cleaned_data["time_zone"]
        user.save(update_fields=["time_zone"])
        response = redirect("accounts:preferences")
        preferences.choose_language(request, response, form.cleaned_data["language"])
        with translation.override(form.cleaned_data["language"]):
            messages.success(request, _("Your language and time zone are saved."))
        return response
    return render(request, "account/preferences.html", {"form": form})
