"""OpenAPI description of the OAuth2 security scheme (drf-spectacular extension)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class InstitutionBoundOAuth2Scheme(OpenApiAuthenticationExtension):
    target_class = "apps.identity.oauth.authentication.InstitutionBoundOAuth2Authentication"
    name = "oauth2"

    def get_security_requirement(self, auto_schema):
        from apps.identity.oauth.binding import required_scope
        from portal.api import InstitutionScopedAPIView

        view = auto_schema.view
        if not isinstance(view, InstitutionScopedAPIView):
            return []  # OAuth2 tokens are not heard outside institution routes

        class _Method:  # required_scope only looks at the method
            method = auto_schema.method

        return {self.name: [required_scope(view, _Method)]}

    def get_security_definition(self, auto_schema):
        from apps.identity.oauth.scopes import scope_catalogue

        scopes = scope_catalogue()
        return {
            "type": "oauth2",
            "description": "Tokens of an integrator client work only on its institution's routes (404 elsewhere).",
            "flows": {
                "authorizationCode": {"authorizationUrl": "/o/authorize/", "tokenUrl": "/o/token/", "scopes": scopes},
                "clientCredentials": {"tokenUrl": "/o/token/", "scopes": scopes},
            },
        }
