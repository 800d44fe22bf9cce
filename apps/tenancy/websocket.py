"""Websocket counterpart of the tenancy middleware."""

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.http import Http404

from apps.tenancy.scope import institution_scope
from apps.tenancy.selectors import institution_for_member


class InstitutionScopeWebsocketMiddleware:
    """Wraps a consumer routed with `institution_slug`: only members connect, and the
    consumer runs with the institution in scope (`scope["institution"]`)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        slug = scope.get("url_route", {}).get("kwargs", {}).get("institution_slug")
        user = scope.get("user")
        try:
            if slug is None or user is None or not user.is_authenticated:
                raise Http404
            institution, roles = await database_sync_to_async(institution_for_member)(user=user, slug=slug)
        except Http404:
            return await WebsocketDenier.as_asgi()(scope, receive, send)
        scope = dict(scope, institution=institution, institution_roles=roles)
        with institution_scope(institution):
            return await self.inner(scope, receive, send)
