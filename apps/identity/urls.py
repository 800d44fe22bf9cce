"""Public identity pages under /credentials/ (the DID documents are routed in portal/urls.py)."""

from django.urls import path

from apps.identity import views

urlpatterns = [
    path("verify/", views.verify, name="credential-verify"),
    path("status/<slug:slug>/<str:list_id>", views.status_list, name="credential-status-list"),
]
