"""Every websocket route of the portal, gathered from the apps."""

from apps.notifications.routing import websocket_urlpatterns as notification_routes

websocket_urlpatterns = [*notification_routes]
