from django.urls import path

from apps.federation.api import views

urlpatterns = [
    path("federation/inbox", views.FederationInboxApi.as_view(), name="api-federation-inbox"),
    path(
        "institutions/<slug:institution_slug>/federation/outbox/",
        views.OutboxListApi.as_view(),
        name="api-federation-outbox",
    ),
    path(
        "institutions/<slug:institution_slug>/federation/outbox/<uuid:outbox_envelope_id>/",
        views.OutboxDetailApi.as_view(),
        name="api-federation-outbox-envelope",
    ),
    path(
        "institutions/<slug:institution_slug>/federation/inbox/",
        views.InboxListApi.as_view(),
        name="api-federation-institution-inbox",
    ),
    path(
        "institutions/<slug:institution_slug>/federation/inbox/<uuid:inbox_envelope_id>/",
        views.InboxDetailApi.as_view(),
        name="api-federation-inbox-envelope",
    ),
]
