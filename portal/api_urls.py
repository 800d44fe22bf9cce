"""/api/v1/: each app contributes its routes here."""

from django.urls import include, path

urlpatterns = [
    path("", include("apps.identity.api.urls")),
    path("", include("apps.identity.api.wallet_urls")),
    path("", include("apps.identity.oauth.api_urls")),
    path("", include("apps.tenancy.api.urls")),
    path("", include("apps.audit.api.urls")),
    path("", include("apps.notifications.api.urls")),
    path("", include("apps.federation.api.urls")),
    path("", include("apps.trust.api.urls")),
    path("", include("apps.agents.api.urls")),
    path("", include("apps.feedback.api.urls")),
    path("", include("apps.permits.api.urls")),
    path("", include("apps.bpm.api.urls")),
]
