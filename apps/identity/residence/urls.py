"""Residence pages: the applicant's under /residence/, the municipality's queue under /i/<slug>/residence/."""

from django.urls import path

from apps.identity.residence import views

app_name = "residence"

urlpatterns = [
    path("", views.my_requests, name="mine"),
    path("apply/", views.apply, name="apply"),
    path("<int:request_id>/withdraw/", views.withdraw, name="withdraw"),
]

queue_urlpatterns = (
    [
        path("", views.queue, name="list"),
        path("<int:residence_request_id>/", views.detail, name="detail"),
        path("<int:residence_request_id>/approve/", views.approve, name="approve"),
        path("<int:residence_request_id>/reject/", views.reject, name="reject"),
        path("<int:residence_request_id>/document/", views.document, name="document"),
    ],
    "residence-queue",
)
