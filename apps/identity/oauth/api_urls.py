from django.urls import path

from apps.identity.oauth import api

urlpatterns = [
    path(
        "institutions/<slug:institution_slug>/integrators/",
        api.IntegratorClientListApi.as_view(),
        name="api-integrators",
    ),
    path(
        "institutions/<slug:institution_slug>/integrators/<int:integrator_id>/",
        api.IntegratorClientDetailApi.as_view(),
        name="api-integrator",
    ),
    path(
        "institutions/<slug:institution_slug>/integrators/<int:integrator_id>/rotate-secret/",
        api.IntegratorClientRotateSecretApi.as_view(),
        name="api-integrator-rotate-secret",
    ),
]
