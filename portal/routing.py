"""Every websocket route of the portal, gathered from the apps."""

from apps.agents.routing import websocket_urlpatterns as agent_routes
from apps.feedback.routing import websocket_urlpatterns as council_routes
from apps.notifications.routing import websocket_urlpatterns as notification_routes

websocket_urlpatterns = [*notification_routes, *agent_routes, *council_routes]
