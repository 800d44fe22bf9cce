"""An institution's keys and DID, under /i/<institution_slug>/keys/."""

from django.urls import path

from apps.identity.institution_keys import views as key_views

app_name = "keys"

urlpatterns = [
    path("", key_views.key_list, name="list"),
    path("rotate/", key_views.key_rotate, name="rotate"),
    path("<int:signing_key_id>/retire/", key_views.key_retire, name="retire"),
]
