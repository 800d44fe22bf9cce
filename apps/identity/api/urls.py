from django.urls import path

from apps.identity.api import credentials, keys, views

urlpatterns = [
    path("me/", views.MeApi.as_view(), name="api-me"),
    path("auth/token/", views.TokenCreateApi.as_view(), name="api-token-create"),
    path("auth/token/revoke/", views.TokenRevokeApi.as_view(), name="api-token-revoke"),
    path("credentials/verify", credentials.CredentialVerifyApi.as_view(), name="api-credential-verify"),
    path(
        "institutions/<slug:institution_slug>/credentials/",
        credentials.CredentialListApi.as_view(),
        name="api-credentials",
    ),
    path(
        "institutions/<slug:institution_slug>/credentials/<uuid:credential_id>/",
        credentials.CredentialDetailApi.as_view(),
        name="api-credential",
    ),
    path(
        "institutions/<slug:institution_slug>/credentials/<uuid:credential_id>/revoke/",
        credentials.CredentialRevokeApi.as_view(),
        name="api-credential-revoke",
    ),
    path(
        "institutions/<slug:institution_slug>/credentials/<uuid:credential_id>/suspend/",
        credentials.CredentialSuspendApi.as_view(),
        name="api-credential-suspend",
    ),
    path(
        "institutions/<slug:institution_slug>/credentials/<uuid:credential_id>/reinstate/",
        credentials.CredentialReinstateApi.as_view(),
        name="api-credential-reinstate",
    ),
    path("institutions/<slug:institution_slug>/keys/", keys.KeyListApi.as_view(), name="api-keys"),
    path("institutions/<slug:institution_slug>/keys/rotate/", keys.KeyRotateApi.as_view(), name="api-keys-rotate"),
]
