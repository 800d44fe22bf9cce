from django.urls import path

from apps.notifications.consumers import NotificationConsumer
from apps.tenancy.websocket import InstitutionScopeWebsocketMiddleware

websocket_urlpatterns = [
    path(
        "ws/i/<slug:institution_slug>/notifications/",
        InstitutionScopeWebsocketMiddleware(NotificationConsumer.as_asgi()),
    ),
]
