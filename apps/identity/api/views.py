"""Who am I, and API tokens (short-lived, hashed at rest by knox)."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.contrib.auth import authenticate
from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from apps.audit.services import audit_append
from apps.identity.selectors import mfa_enrolled, mfa_required
from apps.tenancy.models import Membership
from portal.api import created
from portal.errors import ApplicationError


class AuthenticationFailed(ApplicationError):
    code = "authentication_failed"
    status = 401


class MembershipBrief(serializers.Serializer):
    institution = serializers.CharField(source="institution.slug")
    role = serializers.CharField()


class MeOutput(serializers.Serializer):
    username = serializers.CharField()
    display_name = serializers.CharField(source="__str__")
    email = serializers.EmailField()
    did = serializers.CharField()
    mfa_enrolled = serializers.BooleanField()
    memberships = MembershipBrief(many=True)


class TokenCreateInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=200, trim_whitespace=False)
    otp = serializers.CharField(max_length=12, required=False, allow_blank=True)


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()
    expires = serializers.DateTimeField()


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=MeOutput)
    def get(self, request):
        user = request.user
        memberships = Membership.objects.filter(user=user).select_related("institution").order_by("institution__slug")
        return Response(
            MeOutput(
                {
                    "username": user.username,
                    "__str__": str(user),
                    "email": user.email,
                    "did": user.did,
                    "mfa_enrolled": mfa_enrolled(user=user),
                    "memberships": memberships,
                }
            ).data
        )


class TokenCreateApi(APIView):
    """Exchange a user name, password and (for privileged roles) a TOTP code for a token."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    @extend_schema(request=TokenCreateInput, responses={201: TokenOutput})
    def post(self, request):
        data = TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, username=data.validated_data["username"], password=data.validated_data["password"])
        if user is None or not user.is_active:
            raise AuthenticationFailed(_("The user name or password is not correct."))
        if mfa_required(user=user):
            authenticator = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
            code = data.validated_data.get("otp") or ""
            if authenticator is None:
                raise AuthenticationFailed(_("Your role requires two-factor authentication; set it up first."))
            if not code or not TOTP(authenticator).validate_code(code):
                raise AuthenticationFailed(
                    _("A valid code from your authenticator app is required."), code="otp_required"
                )
        with transaction.atomic():
            instance, token = AuthToken.objects.create(user=user)
            audit_append(
                institution=None,
                actor=user,
                action="identity.api_token.create",
                target=user,
                changes={"token_prefix": instance.token_key, "expires": instance.expiry},
            )
        return created(TokenOutput({"token": token, "expires": instance.expiry}).data)


class TokenRevokeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        """Revoke the token this request was made with."""
        if request.auth is not None and hasattr(request.auth, "token_key"):
            with transaction.atomic():
                audit_append(
                    institution=None,
                    actor=request.user,
                    action="identity.api_token.revoke",
                    target=request.user,
                    changes={"token_prefix": request.auth.token_key},
                )
                request.auth.delete()
        return Response(status=204)
