"""The caller's own wallet over the API: credentials held, presentations made."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from knox.auth import TokenAuthentication
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from apps.identity.wallet import selectors, services
from portal.api import Pagination, created


class WalletCredentialOutput(serializers.Serializer):
    id = serializers.UUIDField(source="credential.uuid")
    types = serializers.ListField(child=serializers.CharField(), source="credential.types")
    issuer = serializers.CharField(source="credential.issuer_did")
    issuer_name = serializers.CharField(source="credential.institution.name")
    state = serializers.CharField(help_text="What verification says now: valid, suspended, revoked, expired, ...")
    errors = serializers.ListField(child=serializers.DictField())
    valid_from = serializers.DateTimeField(source="credential.valid_from")
    valid_until = serializers.DateTimeField(source="credential.valid_until", allow_null=True)
    document = serializers.JSONField(source="credential.document")


class PresentationCreateInput(serializers.Serializer):
    credential_id = serializers.UUIDField()
    challenge = serializers.CharField(max_length=services.CHALLENGE_MAX_CHARS)
    domain = serializers.CharField(max_length=services.DOMAIN_MAX_CHARS, required=False, allow_blank=True, default="")


class PresentationOutput(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    credential_id = serializers.UUIDField(source="credential.uuid")
    challenge = serializers.CharField()
    domain = serializers.CharField()
    created_at = serializers.DateTimeField()
    presentation = serializers.JSONField(source="document")


class _WalletApi(APIView):
    # A wallet is the person's own: integrators' OAuth tokens (bound to an institution) do not reach it.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]


class WalletCredentialListApi(_WalletApi):
    @extend_schema(responses=WalletCredentialOutput(many=True))
    def get(self, request):
        """The credentials issued to the caller's DIDs, newest first, each verified now."""
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.credentials_held(user=request.user), request, view=self)
        held = [selectors.credential_state(credential) for credential in page]
        return paginator.get_paginated_response(WalletCredentialOutput(held, many=True).data)


class WalletPresentationListApi(_WalletApi):
    @extend_schema(responses=PresentationOutput(many=True))
    def get(self, request):
        """The presentations the caller made, newest first."""
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.presentations_of(user=request.user), request, view=self)
        return paginator.get_paginated_response(PresentationOutput(page, many=True).data)

    @extend_schema(request=PresentationCreateInput, responses={201: PresentationOutput})
    def post(self, request):
        """Present one held credential to a verifier: signed by the caller's did:key for the challenge and domain."""
        data = PresentationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        credential = selectors.credential_held_get(
            user=request.user, credential_id=data.validated_data["credential_id"]
        )
        presentation = services.wallet_presentation_create(
            holder=request.user,
            credential=credential,
            challenge=data.validated_data["challenge"],
            domain=data.validated_data["domain"],
        )
        return created(PresentationOutput(presentation).data)
