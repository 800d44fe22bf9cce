"""DRF authentication with OAuth2 tokens, only where a token's binding can be checked."""

from __future__ import annotations

from oauth2_provider.contrib.rest_framework import OAuth2Authentication


class InstitutionBoundOAuth2Authentication(OAuth2Authentication):
    """An OAuth2 token authenticates only on institution-scoped routes.

    Elsewhere (`/api/v1/me/`, the list of one's institutions) it would tell a client of
    one institution about the person's other institutions, so there the token is not
    heard: the caller is anonymous and gets 401, audited like every failure. People's own
    identity is what the OIDC userinfo endpoint is for.
    """

    def authenticate(self, request):
        from portal.api import InstitutionScopedAPIView

        view = (getattr(request, "parser_context", None) or {}).get("view")
        if not isinstance(view, InstitutionScopedAPIView):
            return None
        return super().authenticate(request)


from apps.identity.oauth import schema  # noqa: E402, F401  (registers the OpenAPI extension)
