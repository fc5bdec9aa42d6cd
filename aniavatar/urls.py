from django.contrib import admin
from django.urls import include, path

from aniavatar import health, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/", include("accounts.urls")),
    path("keys/", include("keys.urls")),
    path("", include("generation.urls")),
    path("admin/", admin.site.urls),
]
