"""Every URL of the portal: web UI, API, operations."""

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.agents.urls import public_urlpatterns as agents_public_urlpatterns
from apps.feedback.council_urls import public_urlpatterns as council_public_urlpatterns
from apps.identity import views as identity_views
from apps.identity.oauth.urls import integrator_urlpatterns
from apps.identity.oauth.urls import provider_urlpatterns as oauth_provider_urlpatterns
from apps.identity.residence.urls import queue_urlpatterns as residence_queue_urlpatterns
from apps.tenancy import views as tenancy_views
from portal import health, views

# The admin logs in through allauth, so a second factor and throttling apply there too.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Civitas node administration"

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("", include("django_prometheus.urls")),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("i/", tenancy_views.institution_switch, name="institution_switch"),
    path("i/<slug:institution_slug>/", include("apps.tenancy.urls")),
    path("i/<slug:institution_slug>/audit/", include("apps.audit.urls")),
    path("i/<slug:institution_slug>/notifications/", include("apps.notifications.urls")),
    path("i/<slug:institution_slug>/federation/", include("apps.federation.urls")),
    path("i/<slug:institution_slug>/trust/", include("apps.trust.urls")),
    path("i/<slug:institution_slug>/credentials/", include("apps.identity.institution_urls")),
    path("i/<slug:institution_slug>/residence/", include(residence_queue_urlpatterns)),
    path("residence/", include("apps.identity.residence.urls")),
    path("wallet/", include("apps.identity.wallet.urls")),
    path("i/<slug:institution_slug>/keys/", include("apps.identity.institution_keys.urls")),
    path(".well-known/did.json", identity_views.node_did_document, name="node-did"),
    path("institutions/<slug:slug>/did.json", identity_views.institution_did_document, name="institution-did"),
    path("credentials/", include("apps.identity.urls")),
    path("i/<slug:institution_slug>/integrators/", include(integrator_urlpatterns)),
    path("i/<slug:institution_slug>/agents/", include("apps.agents.urls")),
    path("agents/", include((agents_public_urlpatterns, "agents_public"))),
    path("i/<slug:institution_slug>/councils/", include("apps.feedback.urls")),
    path("councils/", include((council_public_urlpatterns, "feedback_public"))),
    path("i/<slug:institution_slug>/permits/", include("apps.permits.urls")),
    path("i/<slug:institution_slug>/bpm/", include("apps.bpm.urls")),
    path("", include(oauth_provider_urlpatterns)),  # /o/… and /.well-known/ of the OAuth2/OIDC provider
    path("api/v1/", include("portal.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # anyone re-runs a council's draw by lot: the record shows pseudonyms, never names
    path("councils/draws/", include("apps.feedback.membership.public_urls")),
]
