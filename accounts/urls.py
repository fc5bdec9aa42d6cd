"""Old account paths, kept as redirects: the pages themselves are django-allauth's (aniavatar/urls.py)."""

from django.urls import path
from django.views.generic import RedirectView

app_name = "accounts"

urlpatterns = [
    path(
        "password_change/",
        RedirectView.as_view(
            http_method_names=["get", "head", "options"], pattern_name="account_change_password"
        ),
        name="password_change",
    ),
    path(
        "password_reset/",
        RedirectView.as_view(
            http_method_names=["get", "head", "options"], pattern_name="account_reset_password"
        ),
        name="password_reset",
    ),
    # A reset link mailed before the move: its token no longer opens anything; ask for a new one.
    path(
        "reset/<str:uidb64>/<str:token>/",
        RedirectView.as_view(
            http_method_names=["get", "head", "options"], pattern_name="account_reset_password"
        ),
        name="password_reset_confirm",
    ),
]
