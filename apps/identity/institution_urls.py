"""An institution's issued credentials, under /i/<institution_slug>/credentials/."""

from django.urls import path

from apps.identity import views

app_name = "credentials"

urlpatterns = [
    path("", views.credential_list, name="list"),
    path("<uuid:credential_id>/", views.credential_detail, name="detail"),
    path("<uuid:credential_id>/status/", views.credential_status_change, name="status"),
]
