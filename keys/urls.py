from django.urls import path

from keys import views

app_name = "keys"

urlpatterns = [
    path("", views.key_list, name="list"),
    path("add/", views.add_key, name="add"),
    path("usage/add/", views.add_usage_key, name="add-usage"),
    path("<uuid:code>/retest/", views.retest_key, name="retest"),
    path("<uuid:code>/replace/", views.replace_key, name="replace"),
    path("<uuid:code>/delete/", views.delete_key, name="delete"),
]
