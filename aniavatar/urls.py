from allauth import urls as allauth_urls
from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from accounts.http import require_form_methods
from aniavatar import health, views


def _form_methods_only(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    """Let allauth's pages answer GET, HEAD and POST only, as ours do (accounts.http).

    Its views are Django form views, which treat PUT as POST, and answer OPTIONS before looking up
    their object: methods nobody chose for them.
    """
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            _form_methods_only(pattern.url_patterns)
        else:
            pattern.callback = require_form_methods(pattern.callback)
    return patterns


# The admin's login is allauth's, with its limits and two-factor (Django's own would bypass both).
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Sign-up, login, email verification, password reset and change, two-factor: django-allauth.
    path("accounts/", include(_form_methods_only(list(allauth_urls.urlpatterns)))),
    path("accounts/", include("accounts.urls")),
    path("", include("accounts.team_urls")),
    path("keys/", include("keys.urls")),
    path("", include("generation.urls")),
    path("admin/", admin.site.urls),
]
