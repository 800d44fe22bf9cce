"""Federation pages of one institution, under /i/<institution_slug>/federation/."""

from django.urls import path

from apps.federation import views

app_name = "federation"

urlpatterns = [
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<uuid:outbox_envelope_id>/", views.outbox_detail, name="outbox-detail"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<uuid:inbox_envelope_id>/", views.inbox_detail, name="inbox-detail"),
]
