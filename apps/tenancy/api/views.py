"""Institutions and memberships over the API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.tenancy import selectors, services
from apps.tenancy.models import Role
from portal.api import ANY_MEMBER, InstitutionScopedAPIView, Pagination, created


class InstitutionOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    did = serializers.CharField()


class InstitutionDetailOutput(InstitutionOutput):
    my_roles = serializers.ListField(child=serializers.CharField())


class MembershipOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    display_name = serializers.CharField(source="user.__str__")
    role = serializers.CharField()
    granted_at = serializers.DateTimeField()


class MembershipGrantInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class InstitutionListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=InstitutionOutput(many=True), operation_id="institutions_list")
    def get(self, request):
        """The institutions you are a member of."""
        institutions = selectors.institutions_for_user(user=request.user)
        return Response(InstitutionOutput(institutions, many=True).data)


class InstitutionDetailApi(InstitutionScopedAPIView):
    required_roles = ANY_MEMBER

    @extend_schema(responses=InstitutionDetailOutput, operation_id="institutions_retrieve")
    def get(self, request, institution_slug):
        data = InstitutionOutput(request.institution).data
        data["my_roles"] = sorted(request.institution_roles)
        return Response(data)


# Who belongs to an institution is personal data: only its administrators and auditors see it.
MEMBER_READERS = frozenset({Role.INSTITUTION_ADMIN, Role.AUDITOR})


class MembershipListApi(InstitutionScopedAPIView):
    """Members of the institution; administrators grant roles."""

    required_roles = MEMBER_READERS

    @extend_schema(responses=MembershipOutput(many=True), operation_id="members_list")
    def get(self, request, institution_slug):
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.memberships_of_institution(institution=request.institution), request, view=self
        )
        return paginator.get_paginated_response(MembershipOutput(page, many=True).data)

    @extend_schema(request=MembershipGrantInput, responses={201: MembershipOutput}, operation_id="members_grant")
    def post(self, request, institution_slug):
        data = MembershipGrantInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_by_username(username=data.validated_data["username"])
        membership = services.membership_grant(
            institution=request.institution, user=user, role=data.validated_data["role"], actor=request.user
        )
        return created(MembershipOutput(membership).data)


class MembershipDetailApi(InstitutionScopedAPIView):
    required_roles = MEMBER_READERS

    @extend_schema(responses=MembershipOutput, operation_id="members_retrieve")
    def get(self, request, institution_slug, membership_id):
        membership = selectors.membership_get(institution=request.institution, membership_id=membership_id)
        return Response(MembershipOutput(membership).data)

    @extend_schema(responses={204: None}, operation_id="members_revoke")
    def delete(self, request, institution_slug, membership_id):
        membership = selectors.membership_get(institution=request.institution, membership_id=membership_id)
        services.membership_revoke(membership=membership, actor=request.user)
        return Response(status=204)
