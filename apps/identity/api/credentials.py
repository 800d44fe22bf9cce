"""Verifiable credentials over the API: a public verifier, and an institution's credentials."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from apps.identity.credentials import selectors, services
from apps.identity.credentials.verify import verify_document
from apps.identity.models import CredentialStatus
from apps.tenancy.models import Role
from portal.api import InstitutionScopedAPIView, Pagination
from portal.errors import ValidationFailed

CREDENTIAL_ROLES = frozenset({Role.INSTITUTION_ADMIN, Role.CIVIL_SERVANT})


class VerifyOutput(serializers.Serializer):
    verified = serializers.BooleanField()
    kind = serializers.CharField()
    errors = serializers.ListField(child=serializers.DictField())
    checks = serializers.ListField(child=serializers.DictField())


class CredentialVerifyApi(APIView):
    """Verify a credential or a presentation: anyone may ask, within the anonymous rate."""

    permission_classes = [AllowAny]
    authentication_classes: list = []  # public: no session, so no CSRF, and the same answer for everyone
    throttle_classes = [AnonRateThrottle, UserRateThrottle]

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: VerifyOutput},
        description=(
            "The body is a verifiable credential or presentation, or the VC API form "
            '`{"verifiableCredential": ...}` / `{"presentation": ..., "options": {"challenge": ..., "domain": ...}}`. '
            "A presentation must be verified against the challenge the verifier gave the holder."
        ),
    )
    def post(self, request):
        data = request.data
        if not isinstance(data, dict):
            raise ValidationFailed(_("Send a JSON object."))
        options = {}
        if "type" not in data:
            options = data.get("options") or {}
            if not isinstance(options, dict):
                raise ValidationFailed(errors={"options": [_("options must be a JSON object.")]})
            data = data.get("verifiableCredential") or data.get("verifiablePresentation") or data.get("presentation")
        challenge, domain = options.get("challenge", ""), options.get("domain", "")
        if not isinstance(challenge, str) or not isinstance(domain, str):
            raise ValidationFailed(errors={"options": [_("challenge and domain must be strings.")]})
        return Response(verify_document(data, challenge=challenge, domain=domain))


class CredentialOutput(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    types = serializers.ListField(child=serializers.CharField())
    subject_id = serializers.CharField()
    issuer = serializers.CharField(source="issuer_did")
    status = serializers.CharField()
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    status_changed_at = serializers.DateTimeField(allow_null=True)


class CredentialDetailOutput(CredentialOutput):
    document = serializers.JSONField()


class CredentialFilterInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=CredentialStatus.choices, required=False)


class CredentialStatusChangeInput(serializers.Serializer):
    reason = serializers.CharField(max_length=services.REASON_MAX_CHARS, required=False, allow_blank=True, default="")


class CredentialListApi(InstitutionScopedAPIView):
    required_roles = CREDENTIAL_ROLES

    @extend_schema(parameters=[CredentialFilterInput], responses=CredentialOutput(many=True))
    def get(self, request, institution_slug):
        """The credentials this institution issued, newest first."""
        params = CredentialFilterInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        qs = selectors.credentials_of_institution(
            institution=request.institution, status=params.validated_data.get("status", "")
        )
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(CredentialOutput(page, many=True).data)


class CredentialDetailApi(InstitutionScopedAPIView):
    required_roles = CREDENTIAL_ROLES

    @extend_schema(responses=CredentialDetailOutput)
    def get(self, request, institution_slug, credential_id):
        """One credential, with its signed document."""
        credential = selectors.credential_get(institution=request.institution, credential_id=credential_id)
        return Response(CredentialDetailOutput(credential).data)


class _CredentialStatusChangeApi(InstitutionScopedAPIView):
    required_roles = CREDENTIAL_ROLES
    service = staticmethod(services.credential_revoke)

    @extend_schema(request=CredentialStatusChangeInput, responses=CredentialOutput)
    def post(self, request, institution_slug, credential_id):
        data = CredentialStatusChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        credential = selectors.credential_get(institution=request.institution, credential_id=credential_id)
        credential = self.service(credential=credential, actor=request.user, reason=data.validated_data["reason"])
        return Response(CredentialOutput(credential).data)


class CredentialRevokeApi(_CredentialStatusChangeApi):
    """Revoke a credential for good."""

    required_roles = CREDENTIAL_ROLES
    service = staticmethod(services.credential_revoke)


class CredentialSuspendApi(_CredentialStatusChangeApi):
    """Suspend a credential until it is reinstated."""

    required_roles = CREDENTIAL_ROLES
    service = staticmethod(services.credential_suspend)


class CredentialReinstateApi(_CredentialStatusChangeApi):
    """Lift a credential's suspension."""

    required_roles = CREDENTIAL_ROLES
    service = staticmethod(services.credential_reinstate)
