"""The OAuth2 / OpenID Connect endpoints (mounted at the root, namespace `oauth2_provider`)
and the integrator pages of an institution (`integrators`).

Only what Civitas uses of DOT is routed: no application management pages (clients are
managed per institution), no device flow, no dynamic registration.
"""

from django.urls import path
from oauth2_provider import views as dot_views

from apps.identity.oauth import views as oauth_views

provider_urlpatterns = (
    [
        path("o/authorize/", oauth_views.AuthorizationView.as_view(), name="authorize"),
        path("o/token/", oauth_views.TokenView.as_view(), name="token"),
        path("o/revoke_token/", dot_views.RevokeTokenView.as_view(), name="revoke-token"),
        path("o/introspect/", oauth_views.IntrospectTokenView.as_view(), name="introspect"),
        path("o/userinfo/", dot_views.UserInfoView.as_view(), name="user-info"),
        path(
            ".well-known/openid-configuration",
            dot_views.ConnectDiscoveryInfoView.as_view(),
            name="oidc-connect-discovery-info",
        ),
        path(".well-known/jwks.json", dot_views.JwksInfoView.as_view(), name="jwks-info"),
        path(
            ".well-known/oauth-authorization-server",
            dot_views.OAuthServerMetadataView.as_view(),
            name="oauth-server-metadata",
        ),
    ],
    "oauth2_provider",
)

integrator_urlpatterns = (
    [
        path("", oauth_views.integrators, name="list"),
        path("<int:integrator_id>/", oauth_views.integrator_detail, name="detail"),
        path("<int:integrator_id>/rotate/", oauth_views.integrator_rotate, name="rotate"),
        path("<int:integrator_id>/delete/", oauth_views.integrator_delete, name="delete"),
    ],
    "integrators",
)
