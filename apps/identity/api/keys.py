"""An institution's signing keys over the API: public parts only; administrators rotate."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.identity import did as dids
from apps.identity import selectors, services
from apps.identity.institution_keys.views import key_row
from apps.tenancy.models import Role
from portal.api import InstitutionScopedAPIView, created


class SigningKeyOutput(serializers.Serializer):
    key_id = serializers.CharField()
    verification_method = serializers.CharField(
        help_text="The key's DID URL, as its DID document and envelopes name it."
    )
    public_key_multibase = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    retired_at = serializers.DateTimeField(allow_null=True)


class InstitutionKeysOutput(serializers.Serializer):
    did = serializers.CharField()
    did_document = serializers.CharField()
    keys = SigningKeyOutput(many=True)


class KeyListApi(InstitutionScopedAPIView):
    required_roles = frozenset({Role.INSTITUTION_ADMIN, Role.AUDITOR})

    @extend_schema(responses=InstitutionKeysOutput)
    def get(self, request, institution_slug):
        """The institution's DID, where its document is published, and its keys, newest first."""
        did = dids.institution_did_for(request.institution)
        keys = selectors.institution_signing_keys(institution=request.institution)
        data = {
            "did": did,
            "did_document": request.build_absolute_uri(
                reverse("institution-did", kwargs={"slug": request.institution.slug})
            ),
            "keys": [key_row(key, did=did) for key in keys],
        }
        return Response(InstitutionKeysOutput(data).data)


class KeyRotateApi(InstitutionScopedAPIView):
    required_roles = frozenset({Role.INSTITUTION_ADMIN})

    @extend_schema(request=None, responses={201: SigningKeyOutput})
    def post(self, request, institution_slug):
        """Create a new active key; the previous one is retired and keeps verifying what it signed."""
        key = services.institution_key_rotate(institution=request.institution, actor=request.user)
        return created(SigningKeyOutput(key_row(key, did=dids.institution_did_for(request.institution))).data)
