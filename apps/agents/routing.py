from django.urls import path

from apps.agents.consumers import ClusterRunConsumer
from apps.tenancy.websocket import InstitutionScopeWebsocketMiddleware

websocket_urlpatterns = [
    # run_id is parsed by the consumer: a malformed id is refused like an unknown run,
    # rather than failing the routing
    path(
        "ws/i/<slug:institution_slug>/agents/runs/<str:run_id>/",
        InstitutionScopeWebsocketMiddleware(ClusterRunConsumer.as_asgi()),
    ),
]
