from django.urls import path

from apps.feedback.consumers import CouncilConsumer
from apps.tenancy.websocket import InstitutionScopeWebsocketMiddleware

websocket_urlpatterns = [
    # council_id is parsed by the consumer: a malformed id is refused like an unknown council
    path(
        "ws/i/<slug:institution_slug>/councils/<str:council_id>/",
        InstitutionScopeWebsocketMiddleware(CouncilConsumer.as_asgi()),
    ),
]
