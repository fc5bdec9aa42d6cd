from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from aniavatar import health, views

# The admin's login is allauth's, with its limits and two-factor (Django's own would bypass both).
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Sign-up, login, email verification, password reset and change, two-factor: django-allauth.
    path("accounts/", include("allauth.urls")),
    path("accounts/", include("accounts.urls")),
    path("keys/", include("keys.urls")),
    path("", include("generation.urls")),
    path("admin/", admin.site.urls),
]
