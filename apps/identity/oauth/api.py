"""Integrator clients over the API: /api/v1/institutions/{slug}/integrators/."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.identity.oauth import selectors, services
from apps.identity.oauth.scopes import scope_catalogue
from apps.tenancy.models import Role
from portal.api import InstitutionScopedAPIView, created

INTEGRATOR_ADMINS = frozenset({Role.INSTITUTION_ADMIN})


class IntegratorClientOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="application.name")
    client_id = serializers.CharField(source="application.client_id")
    client_type = serializers.CharField(source="application.client_type")
    grant_type = serializers.CharField(source="application.authorization_grant_type")
    redirect_uris = serializers.SerializerMethodField()
    scopes = serializers.ListField(child=serializers.CharField())
    service_user = serializers.CharField(source="service_user.username", default="")
    created_at = serializers.DateTimeField()
    secret_rotated_at = serializers.DateTimeField(allow_null=True)

    def get_redirect_uris(self, client) -> list[str]:
        return client.application.redirect_uris.split()


class IntegratorClientSecretOutput(IntegratorClientOutput):
    client_secret = serializers.CharField(help_text="Shown once; store it now. Empty for public clients.")


class IntegratorClientCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    client_type = serializers.ChoiceField(choices=services.CLIENT_TYPES)
    grant_type = serializers.ChoiceField(choices=services.GRANT_TYPES)
    redirect_uris = serializers.ListField(child=serializers.CharField(max_length=500), required=False, default=list)
    scopes = serializers.ListField(child=serializers.CharField(max_length=100), allow_empty=False)

    def validate_scopes(self, value):
        unknown = sorted(set(value) - set(scope_catalogue()))
        if unknown:
            raise serializers.ValidationError(f"Unknown scopes: {', '.join(unknown)}.")
        return value


def _with_secret(issued) -> dict:
    data = IntegratorClientOutput(issued.client).data
    data["client_secret"] = issued.client_secret
    return data


class IntegratorClientListApi(InstitutionScopedAPIView):
    """OAuth2 clients of the institution; administrators register them."""

    required_roles = INTEGRATOR_ADMINS

    @extend_schema(responses=IntegratorClientOutput(many=True), operation_id="integrators_list")
    def get(self, request, institution_slug):
        clients = selectors.integrator_clients_of(institution=request.institution)
        return Response(IntegratorClientOutput(clients, many=True).data)

    @extend_schema(
        request=IntegratorClientCreateInput,
        responses={201: IntegratorClientSecretOutput},
        operation_id="integrators_create",
    )
    def post(self, request, institution_slug):
        data = IntegratorClientCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.integrator_client_create(
            institution=request.institution, actor=request.user, **data.validated_data
        )
        response = created(_with_secret(issued))
        response["Cache-Control"] = "no-store"
        return response


class IntegratorClientDetailApi(InstitutionScopedAPIView):
    required_roles = INTEGRATOR_ADMINS

    @extend_schema(responses=IntegratorClientOutput, operation_id="integrators_retrieve")
    def get(self, request, institution_slug, integrator_id):
        client = selectors.integrator_client_get(institution=request.institution, integrator_id=integrator_id)
        return Response(IntegratorClientOutput(client).data)

    @extend_schema(responses={204: None}, operation_id="integrators_delete")
    def delete(self, request, institution_slug, integrator_id):
        client = selectors.integrator_client_get(institution=request.institution, integrator_id=integrator_id)
        services.integrator_client_delete(client=client, actor=request.user)
        return Response(status=204)


class IntegratorClientRotateSecretApi(InstitutionScopedAPIView):
    required_roles = INTEGRATOR_ADMINS

    @extend_schema(
        request=None, responses={200: IntegratorClientSecretOutput}, operation_id="integrators_rotate_secret"
    )
    def post(self, request, institution_slug, integrator_id):
        """A new secret, shown once; the old secret and every token issued stop working."""
        client = selectors.integrator_client_get(institution=request.institution, integrator_id=integrator_id)
        issued = services.integrator_client_rotate_secret(client=client, actor=request.user)
        response = Response(_with_secret(issued))
        response["Cache-Control"] = "no-store"
        return response
