"""The signed-in person's wallet, under /wallet/."""

from django.urls import path

from apps.identity.wallet import views as wallet_views

app_name = "wallet"

urlpatterns = [
    path("", wallet_views.home, name="home"),
    path("credentials/<uuid:credential_id>/", wallet_views.credential, name="credential"),
    path("presentations/<uuid:presentation_id>/", wallet_views.presentation, name="presentation"),
    path("presentations/<uuid:presentation_id>.json", wallet_views.presentation_download, name="presentation-json"),
]
