from django.urls import path

from apps.notifications.api import views

urlpatterns = [
    path(
        "institutions/<slug:institution_slug>/notifications/",
        views.NotificationListApi.as_view(),
        name="api-notifications",
    ),
    path(
        "institutions/<slug:institution_slug>/notifications/<int:notification_id>/read/",
        views.NotificationReadApi.as_view(),
        name="api-notification-read",
    ),
]
