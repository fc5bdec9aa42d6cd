"""Our account pages beside django-allauth's (aniavatar/urls.py): language and time zone, and old paths
kept as redirects."""

from collections.abc import Callable

from django.http import HttpResponseBase
from django.urls import path, reverse_lazy
from django.views.generic import RedirectView

from accounts import preference_views

app_name = "accounts"


def _moved(name: str) -> Callable[..., HttpResponseBase]:
    """A GET (or HEAD) of the old path goes to the new page, dropping whatever the old path held."""
    return RedirectView.as_view(http_method_names=["get", "head", "options"], url=reverse_lazy(name))


urlpatterns = [
    path("language/", preference_views.set_language, name="set-language"),
    path("preferences/", preference_views.preferences_page, name="preferences"),
    path("password_change/", _moved("account_change_password"), name="password_change"),
    path("password_reset/", _moved("account_reset_password"), name="password_reset"),
    # A reset link mailed before the move: its token no longer opens anything; ask for a new one.
    path("reset/<str:uidb64>/<str:token>/", _moved("account_reset_password"), name="password_reset_confirm"),
]
